//! `run --target`: a pipeline started without `run` (here by the test, in its own namespace and
//! database) is measured by attaching to it. Every accepted case is found by id, e2e is
//! recorded, the report says the run was attached and what it could not observe, and a second
//! run against the same, still running pipeline counts only its own cases. Pipelines a run
//! cannot count are refused before any load.

use std::path::{Path, PathBuf};

use brokerbench::results::files;
use brokerbench::results::resources::UsageSource;
use brokerbench::results::role::Role;
use brokerbench::results::summary::Summary;
use brokerbench::{Command, Opts};
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use clap::Parser;

use crate::support::{self, Pipeline};

/// A results folder and a target file of the test's own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("bb-attached-{}", support::new_ns()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Self(dir)
    }

    /// A target file naming `ingresses` and `subscribers`, the store being database `db`.
    fn target(&self, ingresses: &[&str], subscribers: &[(Middleware, &str)], db: &str) -> PathBuf {
        let quoted: Vec<String> = ingresses.iter().map(|u| format!("\"{u}\"")).collect();
        let mut text = format!("ingress = [{}]\n[subscribers]\n", quoted.join(", "));
        for (m, url) in subscribers {
            text.push_str(&format!("{m} = \"{url}\"\n"));
        }
        text.push_str(&format!("[mongodb]\ndb = \"{db}\"\n"));
        let path = self.0.join(format!("target-{}.toml", support::new_ns()));
        std::fs::write(&path, text).expect("target file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `run --target` at 200 cases/s for 3 s; its results folder, or why it was refused.
async fn attached_run(target: &Path, results: &Path) -> anyhow::Result<PathBuf> {
    let args = [
        "brokerbench".to_string(),
        "run".into(),
        format!("--target={}", target.display()),
        format!("--results-dir={}", results.display()),
        "--rate=200".into(),
        "--duration=3".into(),
        "--warmup=1".into(),
    ];
    let Command::Run(opts) = Opts::parse_from(args).command else {
        panic!("parsed a run")
    };
    brokerbench::run::run(*opts).await
}

fn check_counted(summary: &Summary, run: &str) {
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert!(a.consistent, "{run}: {:?}", a.problems);
    let loss = path.loss.as_ref().expect("loss counted by id");
    assert_eq!(loss.lost, 0, "{run}: {loss:?}");
    assert_eq!(
        (a.accepted, a.stored),
        (a.sent, a.sent),
        "{run}: this run's cases only, stored once"
    );
    assert!(path.latencies[&LatencyMetric::E2e].count >= 500, "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_started_without_run_is_measured_by_attaching() {
    let m = Middleware::Nats;
    let pipeline = Pipeline::start(&[m], "single", &[]).await;
    let scratch = Scratch::new();
    let target = scratch.target(
        &[&pipeline.ingress],
        &[(m, pipeline.subscriber(m))],
        &pipeline.db,
    );
    let mut summaries = Vec::new();
    for run in ["first", "second"] {
        let dir = attached_run(&target, &scratch.0)
            .await
            .expect("an attached run");
        let summary = files::read_summary(&dir).expect("summary");
        check_counted(&summary, run);
        let report = std::fs::read_to_string(dir.join("report.html")).expect("report");
        assert!(
            report.contains("id=\"attached\""),
            "{run}: the report says so"
        );
        summaries.push(summary);
    }
    let attached = summaries[0].attached.as_ref().expect("marked attached");
    assert_eq!(attached.subscribers[&m], pipeline.subscriber(m));
    assert!(
        attached.not_observed.iter().any(|l| l.contains("brokers")),
        "{attached:?}"
    );
    let resources = &summaries[1].paths[0].resources;
    for role in [Role::Ingress, Role::Subscriber(m)] {
        let own = resources.iter().find(|r| r.role == role);
        let own = own.unwrap_or_else(|| panic!("{role} charged: {resources:?}"));
        assert_eq!(own.accounted_by, UsageSource::OwnStats);
        assert!(own.cpu_seconds > 0.0 && own.peak_rss_kib > 0, "{own:?}");
    }
    assert!(
        !resources
            .iter()
            .any(|r| r.accounted_by != UsageSource::OwnStats),
        "nothing found by process name on this host: {resources:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_a_run_cannot_count_are_refused_before_any_load() {
    let (nats, redis) = (Middleware::Nats, Middleware::Redis);
    let split = Pipeline::start(&[nats, redis], "split", &[]).await;
    let scratch = Scratch::new();
    let subscribers = [
        (nats, split.subscriber(nats)),
        (redis, split.subscriber(redis)),
    ];
    let refusals = [
        (
            scratch.target(&[&split.ingress], &subscribers, &split.db),
            "splits its cases",
        ),
        (
            scratch.target(&[&split.ingress], &subscribers[..1], &split.db),
            "no redis subscriber",
        ),
        (
            scratch.target(
                &[&split.ingress],
                &[(nats, &split.ingress), subscribers[1]],
                &split.db,
            ),
            "is named the nats subscriber",
        ),
        (
            scratch.target(
                &[&split.ingress, split.subscriber(nats)],
                &subscribers,
                &split.db,
            ),
            "does not say it is a brokerbench ingress",
        ),
    ];
    for (target, expected) in refusals {
        let refused = attached_run(&target, &scratch.0).await;
        let error = format!("{:#}", refused.expect_err("refused"));
        assert!(error.contains(expected), "{expected:?} not in: {error}");
    }
    let stats = support::stats(&split.ingress).await;
    assert_eq!(
        stats.counter(CounterMetric::Requests, None),
        Some(0),
        "no load was sent"
    );
}

/// Two ingress replicas named in the target: the generator sends to each in turn, and the run
/// counts both (their figures summed), every case stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ingress_replicas_share_the_load_and_are_counted_together() {
    let m = Middleware::Nats;
    let pipeline = Pipeline::start(&[m], "single", &[]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let mut args = vec![
        "brokerbench".to_string(),
        "ingress".into(),
        "--routing=single".into(),
        format!("--middlewares={m}"),
    ];
    args.extend(pipeline.broker_args.iter().cloned());
    let second = support::spawn(args, shutdown.clone()).await;
    let scratch = Scratch::new();
    let ingresses = [pipeline.ingress.as_str(), second.as_str()];
    let target = scratch.target(&ingresses, &[(m, pipeline.subscriber(m))], &pipeline.db);
    let dir = attached_run(&target, &scratch.0)
        .await
        .expect("an attached run");
    let summary = files::read_summary(&dir).expect("summary");
    check_counted(&summary, "two ingresses");
    let sent = summary.paths[0].accounting.sent;
    let mut accepted = Vec::new();
    for url in ingresses {
        let stats = support::stats(url).await;
        accepted.push(stats.counter(CounterMetric::Accepted, None).unwrap_or(0));
    }
    assert_eq!(accepted.iter().sum::<u64>(), sent, "{accepted:?}");
    assert!(
        accepted.iter().all(|&a| a * 3 >= sent),
        "each replica took its turn: {accepted:?} of {sent}"
    );
    let record = summary.attached.as_ref().expect("attached");
    assert_eq!(record.ingresses.len(), 2);
    let resources = &summary.paths[0].resources;
    assert!(
        resources
            .iter()
            .any(|r| r.role == Role::Ingress && r.name.contains("×2")),
        "both ingresses charged: {resources:?}"
    );
}
