//! The clock check: a run estimates every component's clock against its own before the load.
//! With the subscriber's clock set 50 ms ahead (`--diag-subscriber-clock-offset-ms`), the
//! estimate finds 50 ms within its stated uncertainty, the ingress's (the true host clock) is
//! found within its uncertainty of zero, and e2e, corrected by the offset, is within 2 ms of the
//! same run's without the offset.

use brokerbench::results::role::Role;
use brokerbench::results::summary::PathResult;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use crate::support;

const OFFSET_MS: f64 = 50.0;

/// A short gRPC run with the subscriber's clock `offset_ms` ahead; its one path's result.
async fn run(offset_ms: f64) -> PathResult {
    let db = support::OwnDb::new();
    let offset = format!("--diag-subscriber-clock-offset-ms={offset_ms}");
    let extra = [
        "--middlewares=grpc",
        "--rate=200",
        "--duration=3",
        "--warmup=1",
        &offset,
    ];
    let (mut summary, _) = support::run_in_own_db(&db, &extra).await;
    summary.paths.remove(0)
}

fn e2e_p50_ms(path: &PathResult) -> f64 {
    path.latencies[&LatencyMetric::E2e].p50 as f64 / 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_clock_set_off_is_found_and_taken_off_e2e() {
    let honest = run(0.0).await;
    let path = run(OFFSET_MS).await;
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
        assert!(c.uncertainty_us < 2_000.0, "a loopback probe: {c:?}");
    }
    assert!(subscriber.corrected(), "{subscriber:?}");
    let (off, honest_ms) = (e2e_p50_ms(&path), e2e_p50_ms(&honest));
    assert!(
        (off - honest_ms).abs() <= 2.0,
        "corrected e2e p50 {off} ms, {honest_ms} ms without the offset"
    );
    let delivery_ms = path.latencies[&LatencyMetric::Delivery].p50 as f64 / 1e3;
    assert!(
        delivery_ms < OFFSET_MS / 2.0,
        "delivery corrected too: {delivery_ms} ms"
    );
    assert!(
        !path
            .warnings
            .iter()
            .any(|w| w.contains("e2e is not ranked")),
        "corrected, the clocks no longer stand in the way: {:?}",
        path.warnings
    );
}
