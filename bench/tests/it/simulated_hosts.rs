//! `scripts/hosts`: a set of simulated hosts is created idempotently, its hosts reach each other
//! by name on their own addresses, and `down` leaves nothing behind (namespaces, `/etc/netns`
//! entries, processes), also when processes still run in them, as after a crash.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::hosts::HostSet;

#[test]
fn hosts_reach_each_other_by_name_and_leave_nothing_behind() {
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
