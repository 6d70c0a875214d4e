//! The host reader on fixtures and on this machine's /proc.
//!
//! The fixtures in tests/fixtures/host come from one run of
//! kernel/vm-test.sh (Debian 6.1 kernel): bb_ram.json and proc/meminfo
//! were read back to back, bb_procs.json and proc/<pid>/{stat,status}
//! likewise, so the two sources must agree on them.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use brokerbench_common::host::{
    self, HostError, HostPaths, HostSource, ProcessInfo, ProcessSnapshot, RamInfo, Sampled,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/host")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture is readable")
}

fn fixture_paths() -> HostPaths {
    HostPaths {
        module_ram: fixture("bb_ram.json"),
        module_procs: fixture("bb_procs.json"),
        proc_root: fixture("proc"),
    }
}

/// Paths where no module file exists, so the /proc fallback is used.
fn fallback_paths() -> HostPaths {
    HostPaths {
        module_ram: fixture("not-loaded/bb_ram"),
        module_procs: fixture("not-loaded/bb_procs"),
        proc_root: fixture("proc"),
    }
}

fn by_pid(snapshot: &ProcessSnapshot, pid: i32) -> &ProcessInfo {
    snapshot
        .processes
        .iter()
        .find(|process| process.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} is listed"))
}

#[test]
fn module_ram_fixture_parses() {
    let ram = host::parse_ram_json(&read_fixture("bb_ram.json")).expect("valid bb_ram");
    assert_eq!(
        ram,
        RamInfo {
            total_kib: 468_416,
            free_kib: 438_276,
            available_kib: 438_092,
            buffers_kib: 0,
            cached_kib: 3_004,
            used_kib: 30_324,
            used_percent: 6.47,
        }
    );
}

#[test]
fn both_ram_sources_agree_on_the_same_kernel() {
    let module = fixture_paths().read_ram().expect("module reading");
    let proc = fallback_paths().read_ram().expect("/proc reading");
    assert_eq!(module.source, HostSource::KernelModule);
    assert_eq!(proc.source, HostSource::Proc);
    assert_eq!(module.data, proc.data);
    let parsed = host::parse_meminfo(&read_fixture("proc/meminfo")).expect("meminfo");
    assert_eq!(parsed, proc.data);
}

#[test]
fn used_is_total_minus_available() {
    let ram = RamInfo::from_meminfo_kib(1000, 100, 333, 10, 20);
    assert_eq!(ram.used_kib, 667);
    assert_eq!(ram.used_percent, 66.7);
    let empty = RamInfo::from_meminfo_kib(0, 0, 0, 0, 0);
    assert_eq!((empty.used_kib, empty.used_percent), (0, 0.0));
}

#[test]
fn module_procs_fixture_parses_with_odd_names() {
    let text = read_fixture("bb_procs.json");
    // The escapes the module writes, before any parsing.
    assert!(text.contains(r#""name":"a\"b\\c""#));
    assert!(text.contains(r#""name":"tab\u0009ü""#));
    assert!(text.contains(r#""name":"aaaaaaaaaaaaaa\ufffd""#));
    let snapshot = host::parse_procs_json(&text).expect("valid bb_procs");
    assert_eq!(by_pid(&snapshot, 96).name, "a\"b\\c");
    assert_eq!(by_pid(&snapshot, 97).name, "tab\tü");
    assert_eq!(by_pid(&snapshot, 98).name, "aaaaaaaaaaaaaa\u{fffd}");
    let init = by_pid(&snapshot, 1);
    assert_eq!((init.name.as_str(), init.ppid, init.uid), ("init", 0, 0));
    let zombie = by_pid(&snapshot, 101);
    assert_eq!((zombie.state, zombie.state_word.as_str()), ('Z', "zombie"));
    assert_eq!(zombie.rss_kib, 0);
    assert_eq!(by_pid(&snapshot, 100).state, 'T');
    assert_eq!(by_pid(&snapshot, 2).rss_kib, 0, "kernel thread");
    let counts = &snapshot.counts;
    assert_eq!(counts.total, snapshot.processes.len() as u64);
    assert_eq!(
        (
            counts.running,
            counts.sleeping,
            counts.stopped,
            counts.zombie
        ),
        (1, 52, 1, 1)
    );
}

#[test]
fn both_process_sources_agree_on_the_same_kernel() {
    let module = fixture_paths().read_processes().expect("module reading");
    let proc = fallback_paths().read_processes().expect("/proc reading");
    assert_eq!(module.source, HostSource::KernelModule);
    assert_eq!(proc.source, HostSource::Proc);
    // The fixture keeps a few of the guest's pids; 4242 has no stat, like
    // a process that exited mid-read, and is skipped.
    let pids: Vec<i32> = proc.data.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [1, 2, 3, 96, 97, 98, 100, 101, 102]);
    for process in &proc.data.processes {
        assert_eq!(process, by_pid(&module.data, process.pid));
    }
    assert_eq!(proc.data.counts.total, 9);
    assert_eq!(proc.data.counts.zombie, 1);
    assert_eq!(
        fallback_paths()
            .read_proc_processes(4)
            .expect("explicit page size"),
        proc.data
    );
}

#[test]
fn inconsistent_module_output_is_rejected() {
    let text = read_fixture("bb_procs.json");
    let wrong_total = text.replace(r#""total":55"#, r#""total":54"#);
    assert!(matches!(
        host::parse_procs_json(&wrong_total),
        Err(HostError::Inconsistent(_))
    ));
    let wrong_word = text.replacen(
        r#""state":"Z","state_word":"zombie""#,
        r#""state":"Z","state_word":"sleeping""#,
        1,
    );
    assert!(matches!(
        host::parse_procs_json(&wrong_word),
        Err(HostError::Inconsistent(_))
    ));
    let truncated = &text[..text.len() / 2];
    assert!(matches!(
        host::parse_procs_json(truncated),
        Err(HostError::Json {
            what: "bb_procs",
            ..
        })
    ));
    let ram = read_fixture("bb_ram.json").replace(r#""used_kib":30324"#, r#""used_kib":1"#);
    assert!(matches!(
        host::parse_ram_json(&ram),
        Err(HostError::Inconsistent(_))
    ));
    let meminfo = read_fixture("proc/meminfo")
        .lines()
        .filter(|line| !line.starts_with("MemAvailable:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(matches!(
        host::parse_meminfo(&meminfo),
        Err(HostError::Inconsistent(_))
    ));
    assert!(matches!(
        host::parse_meminfo("MemTotal: x kB"),
        Err(HostError::Proc { .. })
    ));
}

#[test]
fn readings_serialize_with_their_source() {
    let reading = fixture_paths().read_processes().expect("module reading");
    let json = serde_json::to_value(&reading).expect("serializable");
    assert_eq!(json["source"], "kernel-module");
    assert_eq!(json["data"]["processes"][0]["state"], "S");
    let back: Sampled<ProcessSnapshot> = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, reading);
    let ram = fallback_paths().read_ram().expect("/proc reading");
    assert_eq!(
        serde_json::to_value(&ram).expect("serializable")["source"],
        "proc"
    );
}

#[test]
fn reads_this_hosts_proc() {
    let paths = HostPaths::default();
    let ram = paths.read_ram().expect("host RAM");
    assert!(ram.data.total_kib > 0);
    assert!(ram.data.used_kib <= ram.data.total_kib);
    let snapshot = paths.read_processes().expect("host processes");
    let me = i32::try_from(std::process::id()).expect("pid fits i32");
    let myself = by_pid(&snapshot.data, me);
    // The test runs on a worker thread; the group leader waits for it.
    assert!(host::state_word(myself.state).is_some());
    assert!(myself.rss_kib > 0);
    assert!(myself.threads >= 1);
    assert_eq!(
        snapshot.data.counts.total,
        snapshot.data.processes.len() as u64
    );
}

#[test]
fn processes_exiting_during_the_walk_are_skipped() {
    let mut children = Vec::new();
    for _ in 0..20 {
        children.push(
            Command::new("sh")
                .args(["-c", "for i in 1 2 3 4 5 6 7 8; do true & done; wait"])
                .stdout(Stdio::null())
                .spawn()
                .expect("sh runs"),
        );
        HostPaths::default()
            .read_processes()
            .expect("no error from a vanished pid");
    }
    for mut child in children {
        child.wait().expect("child exits");
    }
}
