//! A three-node NATS cluster on simulated hosts (`scripts/hosts`): nats-server on h1–h3 with
//! routes between them, JetStream streams with 3 replicas fsynced on every write, the store
//! (FerretDB on SQLite) on h4, and `run --topology cluster` on h5, whose ingress and subscriber
//! reach every node. Killing the stream's leader mid-run at 500 cases/s, or one follower, must
//! lose no accepted case (counted by id), and the path must recover by itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use brokerbench::results::files;
use brokerbench::results::summary::{PathResult, Summary};

use crate::support::{self, hosts::HostSet};

const NODES: u8 = 3;

/// The test's folder (configurations, data, logs, results), removed on drop after the hosts.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn program(name: &str) -> String {
    let stack = std::env::var("BB_STACK_DIR").expect("BB_STACK_DIR from .stack/env");
    format!("{stack}/bin/{name}")
}

fn brokerbench() -> String {
    std::env::var("BROKERBENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into())
}

/// The cluster and the store on their hosts (host K has address 198.18.0.K).
struct NatsCluster {
    /// Dropped first: the set's teardown stops every process on its hosts, restarted nodes too.
    set: HostSet,
    _children: Vec<Child>,
    scratch: Scratch,
}

impl NatsCluster {
    fn start() -> Self {
        let set = HostSet::new();
        let dir = std::env::temp_dir().join(format!("bb-cluster-{}", support::new_ns()));
        std::fs::create_dir_all(dir.join("cluster")).expect("scratch folder");
        let scratch = Scratch(dir);
        set.ok(&["up", "5"]);
        let mut children = Vec::new();
        let mut nodes = String::new();
        for k in 1..=NODES {
            let (node, child) = start_node(&set, &scratch.0, k);
            nodes.push_str(&node);
            children.push(child);
        }
        children.push(start_store(&set, &scratch.0));
        for k in 1..=NODES {
            // A clustered server is healthy once it is current with JetStream's meta leader.
            set.wait_healthy(5, &format!("http://h{k}:8222"));
        }
        set.wait_listening(5, "h4", 27017);
        let urls: Vec<String> = (1..=NODES).map(|k| format!("nats://h{k}:4222")).collect();
        let file = format!(
            "middleware = \"nats\"\n\
             broker_options = [\"--nats-url={}\", \"--nats-replicas=3\"]\n{nodes}",
            urls.join(",")
        );
        std::fs::write(scratch.0.join("cluster/nats.toml"), file).expect("cluster file");
        Self {
            set,
            _children: children,
            scratch,
        }
    }

    /// A run on h5 at 500 cases/s for 25 s with `fault`; its one path's result.
    fn run_with(&self, fault: &str) -> PathResult {
        let dir = &self.scratch.0;
        let results = dir.join("results");
        let cluster_dir = format!("--cluster-dir={}", dir.join("cluster").display());
        let results_dir = format!("--results-dir={}", results.display());
        let fault = format!("--fault={fault}");
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
            "--duration=25",
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

/// nats-server `nK` on host K; its cluster file entry and process.
fn start_node(set: &HostSet, dir: &Path, k: u8) -> (String, Child) {
    let name = format!("n{k}");
    let conf = dir.join(format!("{name}.conf"));
    let store = dir.join(&name);
    let routes: Vec<String> = (1..=NODES).map(|j| format!("nats://h{j}:6222")).collect();
    let text = format!(
        "server_name: {name}\nlisten: 198.18.0.{k}:4222\nhttp: 198.18.0.{k}:8222\n\
         jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n\
         cluster {{\n  name: bb\n  listen: 198.18.0.{k}:6222\n  routes: [{}]\n}}\n",
        store.display(),
        routes.join(", ")
    );
    std::fs::write(&conf, text).expect("node configuration");
    let netns = format!("{}-h{k}", set.prefix);
    let command = [
        program("nats-server"),
        "-c".into(),
        conf.display().to_string(),
    ];
    let log = dir.join(format!("{name}.log"));
    let pid_file = dir.join(format!("{name}.pid"));
    let child = spawn_in(&netns, &command, &log);
    std::fs::write(&pid_file, child.id().to_string()).expect("pid file");
    let quoted: Vec<String> = command.iter().map(|a| format!("{a:?}")).collect();
    let entry = format!(
        "[[nodes]]\nname = \"{name}\"\nnetns = \"{netns}\"\naddr = \"h{k}:4222\"\n\
         pid_file = {:?}\ncommand = [{}]\nlog = {:?}\n",
        pid_file.display().to_string(),
        quoted.join(", "),
        log.display().to_string()
    );
    (entry, child)
}

/// FerretDB on SQLite on h4.
fn start_store(set: &HostSet, dir: &Path) -> Child {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).expect("store folder");
    let command = [
        program("ferretdb"),
        "--handler=sqlite".into(),
        format!("--sqlite-url=file:{}/", store.display()),
        "--listen-addr=198.18.0.4:27017".into(),
        "--debug-addr=-".into(),
        "--telemetry=disable".into(),
        format!("--state-dir={}", store.display()),
    ];
    spawn_in(
        &format!("{}-h4", set.prefix),
        &command,
        &dir.join("ferretdb.log"),
    )
}

/// `command` in network namespace `netns` (its own process: `ip netns exec` execs it).
fn spawn_in(netns: &str, command: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(command)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} in {netns}: {e}"))
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
        "{what}: accepted {} of {} sent, {loss:?}",
        a.accepted, a.sent
    );
    assert_eq!(p.resilience.len(), 1, "{what}: the fault was assessed");
    let r = &p.resilience[0];
    println!(
        "{what} on {}: {:.1} → {:.1} s; refused for {:?} s, accepted during {}, failed 5xx {} \
         transport {}, re-sent {}; first 2xx {:?} s and stored back within 10 % {:?} s after \
         the fault's end",
        r.fault.target,
        r.fault.start_s,
        r.fault.end_s,
        r.unavailable_s,
        r.accepted_during,
        r.failed_5xx,
        r.failed_transport,
        a.retries,
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
/// must elect a new one and accept again before it returns; a follower's loss must not stop
/// the path at all.
#[test]
fn killing_the_stream_leader_or_a_follower_of_nats_r3_loses_nothing() {
    let cluster = NatsCluster::start();
    let leader = cluster.run_with("node-kill@5+15:leader");
    recovered_without_loss(&leader, "leader killed");
    let r = &leader.resilience[0];
    assert!(r.fault.target.contains("(leader)"), "{}", r.fault.target);
    assert!(
        r.accepted_during > 0,
        "a new leader accepted while the old one was down"
    );
    let follower = cluster.run_with("node-kill@5+5:follower");
    recovered_without_loss(&follower, "follower killed");
    let r = &follower.resilience[0];
    assert_eq!(
        r.failed_5xx + r.failed_transport,
        0,
        "the leader kept accepting"
    );
}
