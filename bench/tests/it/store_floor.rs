//! The store's floor: a run on the stack's FerretDB-on-PostgreSQL times PostgreSQL's own
//! single-row commits before the load and reports them beside the store latencies; a run
//! whose store is not on PostgreSQL reports none.

use std::path::PathBuf;

use brokerbench::results::files;
use brokerbench::{Command, Opts};
use brokerbench_common::latency::LatencyMetric;
use clap::Parser;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_postgresql_commit_latency_as_the_store_floor() {
    let db = support::OwnDb::new();
    let dir: PathBuf = std::env::temp_dir().join(format!("bb-floor-{}", support::new_ns()));
    let args = [
        "brokerbench".to_string(),
        "run".into(),
        format!("--binary={}", env!("CARGO_BIN_EXE_brokerbench")),
        format!("--results-dir={}", dir.display()),
        "--middlewares=redis".into(),
        "--rate=200".into(),
        "--duration=2".into(),
        "--warmup=1".into(),
        db.arg(),
    ];
    let Command::Run(opts) = Opts::parse_from(args).command else {
        panic!("parsed a run")
    };
    let run_dir = brokerbench::run::run(*opts)
        .await
        .expect("the run completes");
    let summary = files::read_summary(&run_dir).expect("summary");
    let report = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    let _ = std::fs::remove_dir_all(&dir);
    if std::env::var_os("BB_STORE_PG_URL").is_none() {
        assert_eq!(summary.store_floor, None, "the store is not on PostgreSQL");
        return;
    }
    let floor = summary.store_floor.expect("a store floor on PostgreSQL");
    assert_eq!(floor.commits, 20);
    assert!(
        floor.durable(),
        "the stack's PostgreSQL commits with fsync: {floor:?}"
    );
    assert!(
        0.0 < floor.min_ms && floor.min_ms <= floor.p50_ms && floor.p50_ms <= floor.max_ms,
        "{floor:?}"
    );
    // The least a commit took cannot exceed what a stored case typically waited, which is at
    // least one commit (a floor read in seconds or microseconds would be 1000× off).
    let store_p50_ms = summary.paths[0].latencies[&LatencyMetric::Store].p50 as f64 / 1e3;
    assert!(
        floor.min_ms <= store_p50_ms,
        "floor {floor:?} above the store p50 {store_p50_ms} ms"
    );
    assert!(report.contains("id=\"store-floor\""), "the report shows it");
}
