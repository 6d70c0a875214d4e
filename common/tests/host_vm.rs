//! Checks what kernel/vm-test.sh collected from a real kernel running the
//! bb_ram and bb_procs modules, using the harness's own reader.
//!
//! The directory named by BB_KERNEL_VM_OUT holds one file per console
//! section of kernel/guest-init.sh (ram-1, procs-2, meminfo, pids,
//! status, dmesg, ...) and `proc/`, a copy of the guest's
//! /proc/<pid>/{stat,status} taken right after the procs-2 read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use brokerbench_common::host::{
    self, HostPaths, HostSource, ProcessInfo, ProcessSnapshot, RamInfo,
};

fn out_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("BB_KERNEL_VM_OUT") else {
        panic!("BB_KERNEL_VM_OUT is not set: run kernel/vm-test.sh, which sets it");
    };
    PathBuf::from(dir)
}

fn section(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("section {} missing: {error}", path.display()))
}

/// `key=value` lines of the status and pids sections.
fn key_values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn by_pid(snapshot: &ProcessSnapshot, pid: i32) -> &ProcessInfo {
    snapshot
        .processes
        .iter()
        .find(|process| process.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} missing from bb_procs"))
}

fn check_ram_matches_meminfo(ram: &RamInfo, meminfo: &RamInfo) {
    assert_eq!(ram.total_kib, meminfo.total_kib, "MemTotal");
    // Read back to back in an idle guest: allow a little drift only.
    let pairs = [
        ("free", ram.free_kib, meminfo.free_kib),
        ("available", ram.available_kib, meminfo.available_kib),
        ("buffers", ram.buffers_kib, meminfo.buffers_kib),
        ("cached", ram.cached_kib, meminfo.cached_kib),
    ];
    for (field, module, proc) in pairs {
        assert!(
            module.abs_diff(proc) <= 1024,
            "{field}: {ram:?} vs {meminfo:?}"
        );
    }
}

#[test]
#[ignore = "needs a guest run: kernel/vm-test.sh runs this with BB_KERNEL_VM_OUT set"]
fn kernel_modules_in_a_real_kernel() {
    let dir = out_dir();

    let status = key_values(&section(&dir, "status"));
    for (key, expected) in [
        ("insmod_bb_ram", "0"),
        ("insmod_bb_procs", "0"),
        ("mode_bb_ram", "444"),
        ("mode_bb_procs", "444"),
        ("write_refused", "yes"),
        ("comm_quote", "ok"),
        ("comm_ctrl", "ok"),
        ("rmmod_bb_procs", "0"),
        ("rmmod_bb_ram", "0"),
        ("gone_after_rmmod", "yes"),
    ] {
        assert_eq!(
            status.get(key).map(String::as_str),
            Some(expected),
            "guest {key}"
        );
    }
    let dmesg = section(&dir, "dmesg");
    for bad in [
        "BUG:",
        "WARNING:",
        "Oops",
        "general protection",
        "stall",
        "Call Trace",
    ] {
        assert!(!dmesg.contains(bad), "guest dmesg has {bad:?}:\n{dmesg}");
    }

    let meminfo = host::parse_meminfo(&section(&dir, "meminfo")).expect("guest meminfo");
    for name in ["ram-1", "ram-2"] {
        let ram = host::parse_ram_json(&section(&dir, name)).expect("bb_ram JSON");
        check_ram_matches_meminfo(&ram, &meminfo);
    }

    let first = host::parse_procs_json(&section(&dir, "procs-1")).expect("bb_procs JSON");
    let text = section(&dir, "procs-2");
    let second = host::parse_procs_json(&text).expect("bb_procs JSON");
    for snapshot in [&first, &second] {
        let init = by_pid(snapshot, 1);
        // The guest's pid 1 is the /init script, so its comm is "init".
        assert_eq!((init.name.as_str(), init.ppid, init.uid), ("init", 0, 0));
        assert!(init.rss_kib > 0);
        assert_eq!(by_pid(snapshot, 2).name, "kthreadd");
        for kthread in snapshot.processes.iter().filter(|p| p.ppid == 2) {
            assert_eq!(kthread.rss_kib, 0, "kernel thread {kthread:?}");
        }
        assert_eq!(snapshot.counts.total, snapshot.processes.len() as u64);
    }

    let pids = key_values(&section(&dir, "pids"));
    let pid = |key: &str| -> i32 {
        pids.get(key)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("pids section lacks {key}"))
    };
    assert!(
        text.contains(r#""name":"a\"b\\c""#),
        "quote and backslash escaped"
    );
    assert!(
        text.contains(r#""name":"tab\u0009ü""#),
        "tab escaped as \\u0009"
    );
    assert_eq!(by_pid(&second, pid("quote")).name, "a\"b\\c");
    assert_eq!(by_pid(&second, pid("ctrl")).name, "tab\tü");
    assert_eq!(by_pid(&second, pid("cut")).name, "aaaaaaaaaaaaaa\u{fffd}");
    assert_eq!(by_pid(&second, pid("stopped")).state, 'T');
    let zombie = second
        .processes
        .iter()
        .find(|p| p.ppid == pid("zombie_parent"))
        .expect("the zombie child is listed");
    assert_eq!((zombie.state, zombie.rss_kib), ('Z', 0));
    assert!(second.counts.stopped >= 1 && second.counts.zombie >= 1);

    check_proc_fallback_agrees(&dir, &second, &meminfo);
}

/// Runs the /proc fallback on the guest's /proc copy and compares it with
/// bb_procs read just before, for every pid that was in both.
fn check_proc_fallback_agrees(dir: &Path, module: &ProcessSnapshot, meminfo: &RamInfo) {
    let paths = HostPaths {
        module_ram: dir.join("absent"),
        module_procs: dir.join("absent"),
        proc_root: dir.join("proc"),
    };
    let ram = paths.read_ram().expect("guest meminfo via fallback");
    assert_eq!(ram.source, HostSource::Proc);
    assert_eq!(&ram.data, meminfo);
    let proc = paths.read_processes().expect("guest /proc via fallback");
    assert_eq!(proc.source, HostSource::Proc);
    let mut compared = 0;
    for process in &proc.data.processes {
        let Some(from_module) = module.processes.iter().find(|p| p.pid == process.pid) else {
            continue;
        };
        // The shell doing the copying runs (and grows) between the reads.
        if process.pid == 1 || process.state == 'R' || from_module.state == 'R' {
            continue;
        }
        // For kernel threads /proc shows the full name, and a workqueue
        // suffix on kworkers, where the module shows the 15-byte comm (see
        // kernel/README.md): the comm must be a prefix.
        let mut process = process.clone();
        let kernel_thread = process.pid == 2 || process.ppid == 2;
        if kernel_thread && process.name.starts_with(from_module.name.as_str()) {
            process.name = from_module.name.clone();
        }
        assert_eq!(
            &process, from_module,
            "same task through /proc and bb_procs"
        );
        compared += 1;
    }
    assert!(
        compared >= module.processes.len() / 2,
        "only {compared} pids compared"
    );
}
