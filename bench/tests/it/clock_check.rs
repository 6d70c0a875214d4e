//! The clock check: a run estimates every component's clock against its own before the load.
//! With the subscriber's clock set 40 ms ahead (`--diag-subscriber-clock-offset-ms`), the
//! estimate finds 40 ms within its stated uncertainty, the ingress's (the true host clock) is
//! found within its uncertainty of zero, e2e visibly carries the offset, and the verdict does not
//! rank the path on e2e.

use brokerbench::results::files;
use brokerbench::results::role::Role;
use brokerbench::{Command, Opts};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use clap::Parser;

use crate::support;

const OFFSET_MS: f64 = 40.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_clock_set_off_is_found_and_its_e2e_is_not_ranked() {
    let db = support::OwnDb::new();
    let dir = std::env::temp_dir().join(format!("bb-clock-{}", support::new_ns()));
    let args = [
        "brokerbench".to_string(),
        "run".into(),
        format!("--binary={}", env!("CARGO_BIN_EXE_brokerbench")),
        format!("--results-dir={}", dir.display()),
        "--middlewares=grpc".into(),
        "--rate=100".into(),
        "--duration=2".into(),
        "--warmup=1".into(),
        format!("--diag-subscriber-clock-offset-ms={OFFSET_MS}"),
        db.arg(),
    ];
    let Command::Run(opts) = Opts::parse_from(args).command else {
        panic!("parsed a run")
    };
    let run_dir = brokerbench::run::run(*opts)
        .await
        .expect("the run completes");
    let summary = files::read_summary(&run_dir).expect("summary");
    let _ = std::fs::remove_dir_all(&dir);
    let path = &summary.paths[0];
    let clock = |role| {
        *path
            .clocks
            .iter()
            .find(|c| c.role == role)
            .unwrap_or_else(|| panic!("no clock for {role}: {:?}", path.clocks))
    };
    let subscriber = clock(Role::Subscriber(Middleware::Grpc));
    let ingress = clock(Role::Ingress);
    for (c, truth_us) in [(subscriber, OFFSET_MS * 1e3), (ingress, 0.0)] {
        assert!(
            (c.offset_us - truth_us).abs() <= c.uncertainty_us + 1.0,
            "{c:?}: {truth_us} µs is not within the estimate's uncertainty"
        );
        assert!(c.uncertainty_us < 5_000.0, "a loopback probe: {c:?}");
    }
    let e2e_p50_ms = path.latencies[&LatencyMetric::E2e].p50 as f64 / 1e3;
    assert!(
        e2e_p50_ms >= OFFSET_MS,
        "e2e carries the offset: {e2e_p50_ms} ms"
    );
    let latency = &summary.verdict[0];
    assert!(latency.ranking.is_empty(), "{latency:?}");
    assert!(
        latency.text.contains("grpc: its clocks may be up to"),
        "{}",
        latency.text
    );
    assert!(
        path.warnings
            .iter()
            .any(|w| w.contains("e2e is not ranked")),
        "{:?}",
        path.warnings
    );
}
