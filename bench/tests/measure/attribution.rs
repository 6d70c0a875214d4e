//! Bottleneck attribution, forced: a store made slow by the diagnostic hold must be named the
//! limit, and a rate beyond the ingress's ceiling with nothing stored must not be blamed on the
//! store. Also `--sink none` and `brokerbench ceilings` end to end.

use brokerbench::analysis::attribution::Stage;
use brokerbench::results::ceilings::{Ceilings, StageKind};
use brokerbench::{Command, Opts};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use clap::Parser;

use crate::calibration::{path, results_dir, run};
use crate::support;

/// One writer holding every batch 1 s stores at most 500 cases/s (a batch of at most 500 per
/// second): offered 1,200/s, the store is the limit whatever else is busy. The path that fell
/// behind is not ranked on latency, and the verdict says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_store_is_named_the_limit() {
    let summary = run(&[
        "--middlewares=nats",
        "--rate=1200",
        "--duration=8",
        "--warmup=1",
        "--sink-writers=1",
        "--hold-batch-ms=1000",
        "--drain-timeout=120",
    ])
    .await;
    let p = path(&summary, Middleware::Nats);
    let a = p.attribution.as_ref().expect("attributed");
    println!("{a:?}; stored {:.0}/s", p.rates.stored_per_s);
    assert_eq!(a.limited_by, Some(Stage::Store), "{}", a.evidence);
    assert!(a.store_busy.is_some_and(|b| b > 0.85), "{a:?}");
    let latency = &summary.verdict[0];
    assert!(latency.ranking.is_empty(), "{latency:?}");
    assert!(
        latency
            .text
            .contains("not ranked: nats: fell behind (store)"),
        "{}",
        latency.text
    );
}

/// A held store (2 s a batch) with a drain too short to catch up: the cases left unstored join
/// the e2e census at their wait (at least the 2 s drain), so its p99 is a lower bound far above
/// what the stored cases alone show, and the terminal's e2e p99 says "≥".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_left_unstored_make_the_e2e_census_a_lower_bound() {
    let summary = run(&[
        "--middlewares=nats",
        "--rate=600",
        "--duration=4",
        "--warmup=1",
        "--sink-writers=1",
        "--hold-batch-ms=2000",
        "--drain-timeout=2",
    ])
    .await;
    let p = path(&summary, Middleware::Nats);
    let census = p.e2e_census.as_ref().expect("a census");
    let lost = p.loss.as_ref().expect("loss by id").lost;
    println!("{census:?}; lost {lost}");
    assert!(
        census.unstored > 0 && census.unstored <= lost,
        "{census:?}, lost {lost}"
    );
    let stored_p99 = p.latencies[&LatencyMetric::E2e].p99;
    assert_eq!(census.stored, p.latencies[&LatencyMetric::E2e].count);
    assert!(
        census.unstored_min_wait_us.is_some_and(|w| w >= 2_000_000),
        "{census:?}"
    );
    assert!(
        census.p99.at_least && census.p99.us >= 2_000_000 && census.p99.us > stored_p99,
        "census p99 {:?}, stored p99 {stored_p99} µs",
        census.p99
    );
    let table = brokerbench::report::terminal::summary_table(&summary, false).to_string();
    assert!(
        table.contains(&format!("≥ {:.2}", census.p99.us as f64 / 1000.0)),
        "{table}"
    );
}

/// Far more requests than the ingress can answer, nothing stored: whatever limits, not the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_ingress_ceiling_with_sink_none_the_store_is_not_blamed() {
    let summary = run(&[
        "--middlewares=nats",
        "--rate=12000",
        "--duration=4",
        "--warmup=1",
        "--sink=none",
        "--answer-deadline=60",
    ])
    .await;
    let p = path(&summary, Middleware::Nats);
    let a = p.attribution.as_ref().expect("attributed");
    println!("{a:?}; achieved {:.0}/s", p.rates.achieved);
    assert!(
        a.limited_by.is_some(),
        "12,000/s must fall behind: {}",
        a.evidence
    );
    assert_ne!(a.limited_by, Some(Stage::Store), "{}", a.evidence);
    assert_eq!(a.store_busy, None, "nothing is written with --sink none");
}

/// `--sink none` acknowledges on receipt: every accepted case is counted once, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_none_counts_every_case_and_stores_nothing() {
    let summary = run(&[
        "--middlewares=nats,rabbitmq",
        "--rate=300",
        "--duration=3",
        "--warmup=1",
        "--sink=none",
    ])
    .await;
    assert_eq!(summary.config["sink"], "none");
    for m in [Middleware::Nats, Middleware::Rabbitmq] {
        let a = &path(&summary, m).accounting;
        assert!(a.consistent, "{m}: {:?}", a.problems);
        assert_eq!((a.stored, a.documents), (a.accepted, None), "{m}");
        assert_eq!(a.accepted, 1200, "{m}: 4 s at 300/s");
    }
}

/// Every stage of one path measured alone, written to ceilings.json with a positive rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceilings_measures_every_stage() {
    let _exclusive = crate::EXCLUSIVE.lock().await;
    let db = support::OwnDb::new();
    let out = results_dir();
    let binary = std::env::var("BROKERBENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into());
    let args = [
        "brokerbench".to_string(),
        "ceilings".into(),
        "--middlewares=redis".into(),
        "--seconds=1".into(),
        format!("--out={}", out.display()),
        format!("--binary={binary}"),
        db.arg(),
    ];
    let Command::Ceilings(opts) = Opts::parse_from(args).command else {
        panic!("parsed as something else")
    };
    brokerbench::ceilings::run(*opts).await.expect("ceilings");
    let text = std::fs::read_to_string(out.join("ceilings.json")).expect("ceilings.json");
    let c: Ceilings = serde_json::from_str(&text).expect("reads back");
    let _ = std::fs::remove_dir_all(&out);
    assert!(c.message_bytes > 50, "{}", c.message_bytes);
    for stage in StageKind::ALL {
        let x = c.get(stage, Middleware::Redis).expect("measured");
        assert!(x.rate_per_s > 0.0 && x.p50_us.is_some(), "{x:?}");
    }
    assert!(c.pipeline(Middleware::Redis).is_some());
}
