//! Cost from cgroups: a path is charged every process it uses, PostgreSQL's backends included,
//! read from the cgroups `scripts/stack` and the runner put each service and child in.

use brokerbench::results::resources::{ProcessCost, UsageSource};
use brokerbench::results::role::Role;
use brokerbench::results::summary::PathResult;
use brokerbench_common::settings::Middleware;

use crate::calibration::{path, run};

/// The store's processes (FerretDB's and PostgreSQL's cgroups) charged to `p`.
fn store(p: &PathResult) -> Vec<&ProcessCost> {
    p.resources
        .iter()
        .filter(|r| r.role == Role::Store)
        .collect()
}

fn cpu(costs: &[&ProcessCost]) -> f64 {
    costs.iter().map(|r| r.cpu_seconds).sum()
}

/// Each batch held 5 ms before its write: one writer takes what arrived meanwhile (about 15
/// cases at 3,000/s) into one insert and one commit; sixteen writers, each holding, take a case
/// or two each. So with sixteen the store makes several times the inserts and commits for the
/// same cases, and its share of the path's CPU rises: measured 0.36 → 0.46 (FerretDB and
/// PostgreSQL together), PostgreSQL's write operations 1,251 → 3,110 (WAL flushes; its group
/// commit merges some). Without the hold a writer rarely waits at 3,000/s and the share rose
/// only 3–9 % in three runs: too little for a test. Read from the services' cgroups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_cpu_share_rises_with_sink_writers() {
    let (one, one_ops) = store_share("--sink-writers=1").await;
    let (sixteen, sixteen_ops) = store_share("--sink-writers=16").await;
    println!(
        "store's CPU share: {one:.3} with 1 writer, {sixteen:.3} with 16; \
         PostgreSQL's write operations {one_ops}, {sixteen_ops}"
    );
    assert!(
        sixteen > one * 1.1,
        "store's CPU share {sixteen:.3} with 16 writers, {one:.3} with 1"
    );
    assert!(
        sixteen_ops as f64 > one_ops as f64 * 1.5,
        "PostgreSQL's write operations {sixteen_ops} with 16 writers, {one_ops} with 1"
    );
}

/// The store's share of the CPU charged to a Redis path at 3,000/s and PostgreSQL's disk write
/// operations, after checking that both were read from cgroups.
async fn store_share(writers: &str) -> (f64, u64) {
    let args = [
        "--middlewares=redis",
        "--rate=3000",
        "--duration=8",
        "--warmup=2",
        "--hold-batch-ms=5",
        writers,
    ];
    let summary = run(&args).await;
    let p = path(&summary, Middleware::Redis).clone();
    let store = store(&p);
    let names: Vec<&str> = store.iter().map(|r| r.name.as_str()).collect();
    println!(
        "{writers}: store {names:?} {:.2} CPU s of {:.2}; disk {:?} bytes per 10k cases",
        cpu(&store),
        p.resources.iter().map(|r| r.cpu_seconds).sum::<f64>(),
        p.disk_bytes_per_10k_cases
    );
    assert!(
        store.iter().all(|r| r.accounted_by == UsageSource::Cgroup),
        "the store is read from its cgroups (run as root with cgroups mounted): {store:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("cgroup postgres")),
        "PostgreSQL is charged: {names:?}"
    );
    let postgres = store
        .iter()
        .find(|r| r.name.contains("cgroup postgres"))
        .expect("postgres");
    assert!(postgres.cpu_seconds > 0.0, "{postgres:?}");
    assert!(
        postgres
            .disk_writes
            .is_some_and(|w| w.bytes > 0 && w.ops > 0),
        "PostgreSQL's WAL writes are counted: {postgres:?}"
    );
    assert!(p.disk_bytes_per_10k_cases.is_some_and(|b| b > 0.0), "{p:?}");
    let total: f64 = p.resources.iter().map(|r| r.cpu_seconds).sum();
    let ops = postgres.disk_writes.map_or(0, |w| w.ops);
    (cpu(&store) / total, ops)
}
