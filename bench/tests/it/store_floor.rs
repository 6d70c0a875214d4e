//! The store's floor: a run on the stack's FerretDB-on-PostgreSQL times PostgreSQL's own
//! single-row commits before the load and reports them beside the store latencies; a run
//! whose store is not on PostgreSQL reports none.

use brokerbench_common::latency::LatencyMetric;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_postgresql_commit_latency_as_the_store_floor() {
    let db = support::OwnDb::new();
    let extra = [
        "--middlewares=redis",
        "--rate=200",
        "--duration=2",
        "--warmup=1",
    ];
    let (summary, report) = support::run_in_own_db(&db, &extra).await;
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
