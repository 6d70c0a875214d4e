//! `scripts/hosts`: a set of simulated hosts is created idempotently, its hosts reach each other
//! by name on their own addresses, and `down` leaves nothing behind (namespaces, `/etc/netns`
//! entries, processes), also when processes still run in them, as after a crash.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A set of hosts of this test's own, removed on drop.
struct HostSet {
    prefix: String,
}

impl HostSet {
    fn new() -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        Self {
            prefix: format!("t{}", &id[id.len() - 5..]),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/hosts");
        Command::new(script)
            .args(args)
            .env("HOSTS_PREFIX", &self.prefix)
            .output()
            .expect("scripts/hosts runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "scripts/hosts {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What of the set exists on the machine: its namespaces and `/etc/netns` entries.
    fn leftovers(&self) -> Vec<String> {
        let namespaces = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        let mine = |name: &str| name.starts_with(&format!("{}-", self.prefix));
        let mut left: Vec<String> = String::from_utf8_lossy(&namespaces.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| mine(n))
            .map(|n| format!("namespace {n}"))
            .collect();
        if let Ok(entries) = std::fs::read_dir("/etc/netns") {
            let names = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned());
            left.extend(names.filter(|n| mine(n)).map(|n| format!("/etc/netns/{n}")));
        }
        left
    }
}

impl Drop for HostSet {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

#[test]
fn hosts_reach_each_other_by_name_and_leave_nothing_behind() {
    assert!(
        is_root(),
        "simulated hosts need root: run the tests as root, as CI does"
    );
    let set = HostSet::new();
    let first = set.ok(&["up", "3"]);
    assert_eq!(set.ok(&["up", "3"]), first, "up again changes nothing");
    let listed: Vec<&str> = first.lines().collect();
    assert_eq!(listed.len(), 3, "{first}");
    for (k, line) in (1..=3).zip(&listed) {
        assert_eq!(*line, format!("{}-h{k} 198.18.0.{k}/24", set.prefix));
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/hosts");
    let mut server = Command::new(script)
        .args([
            "exec",
            "2",
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            "198.18.0.2",
        ])
        .env("HOSTS_PREFIX", &set.prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a server on h2");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = set.run(&[
            "exec",
            "1",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://h2:8000/",
        ]);
        if String::from_utf8_lossy(&got.stdout) == "200" {
            break;
        }
        assert!(Instant::now() < deadline, "h1 never reached h2 by name");
        std::thread::sleep(Duration::from_millis(100));
    }
    let own = set.run(&["exec", "3", "curl", "-s", "-m", "2", "http://h1:8000/"]);
    assert!(
        !own.status.success(),
        "nothing listens on h1: its own address, not h2's"
    );

    // As after a crash: the server still runs inside the set when it is taken down.
    set.ok(&["down"]);
    assert_eq!(set.leftovers(), Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the server on h2 outlived its host"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !set.run(&["status"]).status.success(),
        "no host is left to list"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
