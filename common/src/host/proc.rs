//! The fallback when the kernel modules are not loaded: the same readings
//! built from `/proc/meminfo` and `/proc/<pid>/{stat,status}` with the
//! procfs crate, field for field what `bb_ram` and `bb_procs` compute.

use std::io::ErrorKind;
use std::path::Path;

use procfs::process::{Process, all_processes_with_root};
use procfs::{FromRead, Meminfo, ProcError};

use super::HostError;
use super::module::check_snapshot;
use super::types::{ProcessInfo, ProcessSnapshot, RamInfo, TaskCounts, state_word};

/// Parses the text of `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Result<RamInfo, HostError> {
    let meminfo = Meminfo::from_read(text.as_bytes()).map_err(|source| HostError::Proc {
        what: "meminfo".to_owned(),
        source,
    })?;
    ram_from_meminfo(&meminfo)
}

/// Reads `<proc_root>/meminfo`.
pub(crate) fn read_meminfo(proc_root: &Path) -> Result<RamInfo, HostError> {
    let path = proc_root.join("meminfo");
    let meminfo = Meminfo::from_file(&path).map_err(|source| HostError::Proc {
        what: path.display().to_string(),
        source,
    })?;
    ram_from_meminfo(&meminfo)
}

fn ram_from_meminfo(meminfo: &Meminfo) -> Result<RamInfo, HostError> {
    // MemAvailable exists since Linux 3.14; without it "used" could not be
    // defined the way the module defines it.
    let available = meminfo.mem_available.ok_or_else(|| {
        HostError::Inconsistent("meminfo has no MemAvailable (Linux < 3.14)".to_owned())
    })?;
    // procfs converts the "kB" figures to bytes.
    Ok(RamInfo::from_meminfo_kib(
        meminfo.mem_total / 1024,
        meminfo.mem_free / 1024,
        available / 1024,
        meminfo.buffers / 1024,
        meminfo.cached / 1024,
    ))
}

/// Lists every process under `proc_root` (a `/proc` mount or a copy of
/// one). `page_kib` is the page size in KiB, since stat reports RSS in
/// pages. Processes that exit while being read are left out: `/proc` can
/// only ever be read one file at a time, so the list is not atomic anyway.
pub(crate) fn read_proc_snapshot(
    proc_root: &Path,
    page_kib: u64,
) -> Result<ProcessSnapshot, HostError> {
    let entries = all_processes_with_root(proc_root).map_err(|source| HostError::Proc {
        what: proc_root.display().to_string(),
        source,
    })?;
    let mut processes = Vec::new();
    let fail = |source| HostError::Proc {
        what: proc_root.display().to_string(),
        source,
    };
    for entry in entries {
        let process = match entry {
            Ok(process) => process,
            Err(ProcError::NotFound(_)) => continue,
            Err(source) => return Err(fail(source)),
        };
        match read_process(proc_root, &process, page_kib) {
            Ok(info) => processes.push(info),
            Err(ProcError::NotFound(_)) => continue,
            // An exiting process can also leave a half-written file
            // behind; it is gone once its directory is.
            Err(_) if !proc_root.join(process.pid.to_string()).exists() => continue,
            Err(source) => return Err(fail(source)),
        }
    }
    processes.sort_by_key(|process| process.pid);
    let counts = TaskCounts::tally(&processes);
    let snapshot = ProcessSnapshot { processes, counts };
    check_snapshot(&snapshot, "/proc")?;
    Ok(snapshot)
}

/// Reads one process. A vanished process shows up as `ProcError::NotFound`
/// (procfs maps ESRCH to it as well), which the caller skips.
fn read_process(
    proc_root: &Path,
    process: &Process,
    page_kib: u64,
) -> Result<ProcessInfo, ProcError> {
    let stat = process.stat()?;
    let uid = read_real_uid(&proc_root.join(process.pid.to_string()).join("status"))?;
    let threads = u32::try_from(stat.num_threads).map_err(|_| {
        ProcError::Other(format!(
            "pid {}: thread count {} out of range",
            stat.pid, stat.num_threads
        ))
    })?;
    Ok(ProcessInfo {
        pid: stat.pid,
        ppid: stat.ppid,
        name: stat.comm,
        state: stat.state,
        state_word: state_word(stat.state).unwrap_or("unknown").to_owned(),
        uid,
        // The kernel reports no mm (RSS 0) for kernel threads and zombies.
        rss_kib: stat.rss.saturating_mul(page_kib),
        threads,
    })
}

/// The real uid, the first figure of status's "Uid:" line. procfs's
/// `Status` cannot be used: it wants the whole file to be UTF-8, but the
/// "Name:" line holds the raw comm, which may end in half a character.
fn read_real_uid(path: &Path) -> Result<u32, ProcError> {
    const ESRCH: i32 = 3;
    let bytes = std::fs::read(path).map_err(|error| {
        if error.kind() == ErrorKind::NotFound || error.raw_os_error() == Some(ESRCH) {
            ProcError::NotFound(Some(path.to_owned()))
        } else {
            ProcError::Io(error, Some(path.to_owned()))
        }
    })?;
    bytes
        .split(|&byte| byte == b'\n')
        .find_map(|line| line.strip_prefix(b"Uid:"))
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .ok_or_else(|| ProcError::Other(format!("{}: no readable Uid line", path.display())))
}
