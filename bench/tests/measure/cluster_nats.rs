//! A three-node NATS cluster on simulated hosts, as `scripts/cluster up` starts it: nats-server
//! on h1–h3 with routes between them, JetStream streams with 3 replicas fsynced on every write,
//! the store (FerretDB on SQLite) on h4, and `run --topology cluster` on h5, whose ingress and
//! subscriber reach every node. Killing the stream's leader mid-run at 500 cases/s, or one
//! follower, or cutting a follower off the network, must lose no accepted case (counted by id),
//! and the path must recover by itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use brokerbench::results::files;
use brokerbench::results::summary::{PathResult, Summary};

use crate::support::{self, hosts::HostSet};

/// The test's folder (`CLUSTER_DIR`: configurations, data, logs, results), removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/cluster");

fn brokerbench() -> String {
    std::env::var("BROKERBENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into())
}

/// The cluster and the store on their hosts, as `scripts/cluster up` starts them (host K has
/// address 198.18.0.K; the runner's is h5).
struct NatsCluster {
    /// Dropped first: the set's teardown stops every process on its hosts, restarted nodes too.
    set: HostSet,
    scratch: Scratch,
}

impl NatsCluster {
    fn start() -> Self {
        let set = HostSet::new();
        let dir = std::env::temp_dir().join(format!("bb-cluster-{}", support::new_ns()));
        let scratch = Scratch(dir);
        let out = Command::new(SCRIPT)
            .arg("up")
            .env("HOSTS_PREFIX", &set.prefix)
            .env("CLUSTER_DIR", &scratch.0)
            .output()
            .expect("scripts/cluster runs");
        assert!(
            out.status.success(),
            "scripts/cluster up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { set, scratch }
    }

    /// A run on h5 at 500 cases/s for `seconds` against the three nodes with `fault`; its one
    /// path's result.
    fn run_with(&self, fault: &str, seconds: u32) -> PathResult {
        let dir = &self.scratch.0;
        let results = dir.join("results");
        let cluster_dir = format!("--cluster-dir={}", dir.join("r3").display());
        let results_dir = format!("--results-dir={}", results.display());
        let fault = format!("--fault={fault}");
        let duration = format!("--duration={seconds}");
        let binary = brokerbench();
        let runner = [
            "exec",
            "5",
            &binary,
            "run",
            "--topology=cluster",
            &cluster_dir,
            "--middlewares=nats",
            "--mongodb-uri=mongodb://h4:27017/",
            "--rate=500",
            &duration,
            "--warmup=3",
            &fault,
            &results_dir,
        ];
        let out = self.set.run(&runner);
        assert!(
            out.status.success(),
            "the clustered run on h5: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Summary = files::read_summary(&only_run(&results)).expect("summary");
        let _ = std::fs::remove_dir_all(&results);
        summary.paths.into_iter().next().expect("one path")
    }
}

/// The one run folder under `results` (the one holding `summary.json`).
fn only_run(results: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results)
        .expect("results folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("summary.json").is_file())
        .collect();
    assert_eq!(runs.len(), 1, "one run under {}", results.display());
    runs.into_iter().next().expect("one run")
}

/// The node fault was applied and undone, the ingress accepted again by itself, and every
/// accepted case is in the store; the recovery figures are printed.
fn recovered_without_loss(p: &PathResult, what: &str) {
    let loss = p.loss.as_ref().expect("loss counted by id");
    let a = &p.accounting;
    println!(
        "{what}: accepted {} of {} sent ({} answers 5xx, {} re-sent in the run), {loss:?}",
        a.accepted, a.sent, a.http_5xx, a.retries
    );
    assert_eq!(p.resilience.len(), 1, "{what}: the fault was assessed");
    let r = &p.resilience[0];
    println!(
        "{what} on {}: {:.1} → {:.1} s; no 2xx for {:?} s at most, {} accepted during it, \
         failed 5xx {} transport {} until the first 2xx after it; first 2xx {:?} s and stored \
         back within 10 % {:?} s after its end",
        r.fault.target,
        r.fault.start_s,
        r.fault.end_s,
        r.unavailable_s,
        r.accepted_during,
        r.failed_5xx,
        r.failed_transport,
        r.first_accept_after_s,
        r.stored_recovered_after_s
    );
    assert_eq!(r.fault.error, None, "{what}: applied and undone");
    assert!(r.first_accept_after_s.is_some(), "{what}: accepted again");
    assert!(loss.accepted * 2 > a.sent, "{what}: most cases accepted");
    assert_eq!(
        loss.lost, 0,
        "{what}: lost after a 2xx: {:?}",
        loss.lost_ids
    );
}

/// The leader stays down 15 s, longer than JetStream's election takes, so the two survivors
/// must elect a new one and accept again before it returns. A follower killed or cut off the
/// network must cost no case either; the path goes on through it (every case is accepted in the
/// end, re-sent if a request failed: a client whose connection went to the follower cut off
/// learns of it only when its request times out).
#[test]
fn killing_the_stream_leader_or_a_follower_of_nats_r3_or_cutting_one_off_loses_nothing() {
    // Six hosts' processes at 500 cases/s load both cores: beside the other integration tests
    // they slowed one that compares e2e between two runs (clock_check) sixfold.
    let _exclusive = crate::EXCLUSIVE.blocking_lock();
    let cluster = NatsCluster::start();
    let leader = cluster.run_with("node-kill@5+15:leader", 25);
    recovered_without_loss(&leader, "leader killed");
    let r = &leader.resilience[0];
    assert!(r.fault.target.contains("(leader)"), "{}", r.fault.target);
    assert!(
        r.accepted_during > 0,
        "a new leader accepted while the old one was down"
    );
    for fault in ["node-kill@5+5:follower", "partition@5+5:follower"] {
        let follower = cluster.run_with(fault, 15);
        recovered_without_loss(&follower, fault);
        let r = &follower.resilience[0];
        assert!(r.fault.target.contains("(follower)"), "{}", r.fault.target);
        let a = &follower.accounting;
        assert_eq!(
            a.accepted, a.sent,
            "{fault}: every case accepted in the end"
        );
    }
}
