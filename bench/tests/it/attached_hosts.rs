//! `run --target` across a network: nats-server, the store (FerretDB on SQLite), the ingress,
//! the subscriber and the runner each on a simulated host of its own (`scripts/hosts`), reaching
//! each other by name over the set's bridge, with the control endpoints behind a token as every
//! server listening beyond loopback has them. Every case is found by id, e2e is recorded with
//! each clock checked over the network, and the report says the run was attached. Locust
//! workers on two further hosts can send the load.

use std::path::{Path, PathBuf};
use std::process::Child;

use brokerbench::results::files;
use brokerbench::results::role::Role;
use brokerbench::results::summary::Summary;
use brokerbench_common::latency::LatencyMetric;

use crate::support::{self, hosts::HostSet};

const TOKEN: &str = "attached-over-a-network-0123456789";
const TOKEN_ENV: [(&str, &str); 1] = [("BB_CONTROL_TOKEN", TOKEN)];

/// The test's folder (logs, the store's files, the results); removed on drop, after the hosts.
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

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// nats-server on h1, FerretDB on h2, the subscriber on h4, the ingress on h3.
fn start_pipeline(set: &HostSet, dir: &Path) -> Vec<Child> {
    let at = |name: &str| dir.join(name).display().to_string();
    let nats = args(&["-a", "198.18.0.1", "-p", "4222", "-js", "-sd", &at("nats")]);
    let mut children = vec![set.spawn(
        1,
        &program("nats-server"),
        &nats,
        &[],
        &dir.join("nats.log"),
    )];
    std::fs::create_dir_all(dir.join("store")).expect("store folder");
    let ferretdb = args(&[
        "--handler=sqlite",
        &format!("--sqlite-url=file:{}/", at("store")),
        "--listen-addr=198.18.0.2:27017",
        "--debug-addr=-",
        "--telemetry=disable",
        &format!("--state-dir={}", at("store")),
    ]);
    children.push(set.spawn(
        2,
        &program("ferretdb"),
        &ferretdb,
        &[],
        &dir.join("ferretdb.log"),
    ));
    set.wait_listening(5, "h1", 4222);
    set.wait_listening(5, "h2", 27017);
    let subscriber = args(&[
        "subscriber",
        "--middleware=nats",
        "--listen=198.18.0.4:9000",
        "--nats-url=nats://h1:4222",
        "--mongodb-uri=mongodb://h2:27017/",
        "--mongodb-db=brokerbench",
    ]);
    let log = dir.join("subscriber.log");
    children.push(set.spawn(4, &brokerbench(), &subscriber, &TOKEN_ENV, &log));
    set.wait_healthy(5, "http://h4:9000");
    let ingress = args(&[
        "ingress",
        "--middlewares=nats",
        "--routing=single",
        "--listen=198.18.0.3:8080",
        "--nats-url=nats://h1:4222",
    ]);
    let log = dir.join("ingress.log");
    children.push(set.spawn(3, &brokerbench(), &ingress, &TOKEN_ENV, &log));
    set.wait_healthy(5, "http://h3:8080");
    children
}

/// The pipeline on h1–h4 (see [`start_pipeline`]), measured by `run --target` on h5 (`run`);
/// `hosts` hosts are created (at least 5).
struct AttachedOnHosts {
    set: HostSet,
    scratch: Scratch,
    _pipeline: Vec<Child>,
}

impl AttachedOnHosts {
    fn start(hosts: u8) -> Self {
        let set = HostSet::new();
        let dir = std::env::temp_dir().join(format!("bb-hosts-{}", support::new_ns()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        let scratch = Scratch(dir);
        set.ok(&["up", &hosts.to_string()]);
        let pipeline = start_pipeline(&set, &scratch.0);
        Self {
            set,
            scratch,
            _pipeline: pipeline,
        }
    }

    /// A 3 s attached run at `rate` cases/s with `extra` options; its folder.
    fn run(&self, rate: u32, extra: &[&str]) -> PathBuf {
        let dir = &self.scratch.0;
        let target = dir.join("target.toml");
        let text = "ingress = \"http://h3:8080\"\n\
                    broker_options = [\"--nats-url=nats://h1:4222\"]\n\
                    [subscribers]\nnats = \"http://h4:9000\"\n\
                    [mongodb]\nuri = \"mongodb://h2:27017/\"\ndb = \"brokerbench\"\n";
        std::fs::write(&target, text).expect("target file");
        let results = dir.join("results");
        let mut runner = vec![
            "exec".to_string(),
            "5".into(),
            brokerbench(),
            "run".into(),
            format!("--target={}", target.display()),
            format!("--results-dir={}", results.display()),
        ];
        runner.push(format!("--rate={rate}"));
        runner.extend(args(&["--duration=3", "--warmup=1"]));
        runner.extend(args(extra));
        let runner: Vec<&str> = runner.iter().map(String::as_str).collect();
        let out = self.set.run_with_env(&runner, &TOKEN_ENV);
        assert!(
            out.status.success(),
            "the attached run on h5: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        only_run(&results)
    }
}

/// Every accepted case of the run stored once, the accounting consistent; e2e recorded.
fn check_counted(summary: &Summary) {
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert!(a.consistent, "{:?}", a.problems);
    assert_eq!(a.stored, a.accepted);
    assert!(
        path.latencies[&LatencyMetric::E2e].count > 0,
        "{:?}",
        path.latencies
    );
}

#[test]
fn a_pipeline_on_simulated_hosts_is_measured_by_attaching_from_another() {
    let hosts = AttachedOnHosts::start(5);
    let run_dir = hosts.run(200, &[]);
    let summary = files::read_summary(&run_dir).expect("summary");
    check_counted(&summary);
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert_eq!(a.accepted, a.sent, "the built-in generator sent them all");
    let lost = path.loss.as_ref().map(|l| l.lost);
    assert_eq!(lost, Some(0), "every id found: {:?}", path.loss);
    // The measure phase holds exactly rate × duration cases (200/s × 3 s), each with its e2e.
    let e2e = path.latencies[&LatencyMetric::E2e].count;
    assert!(e2e >= 600, "{e2e} e2e samples of the 600 measured cases");
    let roles: Vec<Role> = path.clocks.iter().map(|c| c.role).collect();
    assert!(
        roles.contains(&Role::Ingress) && roles.iter().any(|r| matches!(r, Role::Subscriber(_))),
        "every clock checked over the network: {roles:?}"
    );
    let attached = summary.attached.as_ref().expect("marked attached");
    assert_eq!(attached.ingresses, vec!["http://h3:8080".to_string()]);
    let report = std::fs::read_to_string(run_dir.join("report.html")).expect("report");
    assert!(report.contains("id=\"attached\""), "the report says so");
}

/// Load from several machines: the Locust master (started by the run on h5) waits for two
/// workers on h6 and h7, which send to the ingress on h3; the ingress accepted exactly the
/// successes the master summed over them, and e2e is recorded from their intended send times.
#[test]
fn locust_workers_on_two_other_hosts_send_the_load_of_an_attached_run() {
    let hosts = AttachedOnHosts::start(7);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let locust = format!("{root}/.stack/venv/bin/locust");
    let worker = args(&[
        "-f",
        &format!("{root}/locust/locustfile.py"),
        "--worker",
        "--master-host=h5",
        "--master-port=5557",
    ]);
    let _workers: Vec<Child> = [6, 7]
        .map(|k| {
            let log = hosts.scratch.0.join(format!("locust-worker-h{k}.log"));
            hosts.set.spawn(k, &locust, &worker, &[], &log)
        })
        .into();
    // 100/s: at 200/s, beside the rest of the it suite, two Python workers sent 474 of the 600
    // cases of the measure phase.
    let run_dir = hosts.run(
        100,
        &[
            "--generator=locust",
            &format!("--locustfile={root}/locust/locustfile.py"),
            &format!("--locust-bin={locust}"),
            "--locust-expect-workers=2",
            "--locust-master-bind=198.18.0.5:5557",
            "--connections=4",
        ],
    );
    let summary = files::read_summary(&run_dir).expect("summary");
    check_counted(&summary);
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert_eq!(
        a.accepted, a.http_2xx,
        "the ingress accepted exactly the successes the master summed over its two workers"
    );
    let share = path.rates.achieved / path.rates.offered;
    assert!(
        (0.75..=1.1).contains(&share),
        "the workers on h6 and h7 sent {:.0}/s of {:.0}/s",
        path.rates.achieved,
        path.rates.offered
    );
}

/// The one run folder under `results` (the one holding `summary.json`).
fn only_run(results: &Path) -> PathBuf {
    let mut found = Vec::new();
    let mut unread = vec![results.to_path_buf()];
    while let Some(dir) = unread.pop() {
        for entry in std::fs::read_dir(&dir).expect("results folder").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                unread.push(path);
            } else if path.file_name().is_some_and(|n| n == "summary.json") {
                found.push(dir.clone());
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "one run under {}: {found:?}",
        results.display()
    );
    found.remove(0)
}
