//! `run --subscribers 3`: three subscriber processes per path compete for its cases. Every path
//! must store each accepted case exactly once (its id in the store, once: the store's `_id`),
//! and every replica must have taken a share; a broker that handed each case to every replica
//! (a plain subscription instead of a queue group) shows up as duplicates.

use brokerbench::results::summary::{PathResult, Summary};
use brokerbench_common::case::parse_cases;
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::settings::Middleware;
use brokerbench_publishers::Publisher;

use crate::support;

const REPLICAS: usize = 3;

/// A short run of `middlewares` (routing `all`: one group, so one warm-up) with three
/// subscribers per path, in a database of its own.
async fn run_with_three_subscribers(middlewares: &str, extra: &[&str]) -> Summary {
    // Eighteen subscribers at 200 cases/s each path load both cores: beside the other
    // integration tests they slowed one that compares e2e between two runs sixfold.
    let _exclusive = crate::EXCLUSIVE.lock().await;
    let db = support::OwnDb::new();
    let mut args = vec![
        format!("--middlewares={middlewares}"),
        "--routing=all".into(),
        format!("--subscribers={REPLICAS}"),
        "--rate=200".into(),
        "--duration=5".into(),
        "--warmup=3".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::run_in_own_db(&db, &args).await.0
}

/// Every accepted case stored once and none lost by id; each replica received some.
fn stored_once_by_all_replicas(p: &PathResult) {
    let m = p.middleware;
    let a = &p.accounting;
    let loss = p.loss.as_ref().expect("loss counted by id");
    println!(
        "{m}: accepted {}, received {} = {:?}, stored {}, duplicates {}, documents {:?}",
        a.accepted, a.received, a.received_by_replica, a.stored, a.duplicates, a.documents
    );
    assert!(a.consistent, "{m}: {:?}", a.problems);
    assert_eq!(loss.lost, 0, "{m}: lost by id: {:?}", loss.lost_ids);
    assert_eq!(a.accepted, a.sent, "{m}: every case accepted");
    assert_eq!(a.documents, Some(a.accepted), "{m}: one document per case");
    assert_eq!(a.received_by_replica.len(), REPLICAS, "{m}: replicas read");
    assert_eq!(a.received_by_replica.iter().sum::<u64>(), a.received, "{m}");
    assert!(
        a.received_by_replica.iter().all(|&r| r > 0),
        "{m}: a replica took no share: {:?}",
        a.received_by_replica
    );
    // A broadcast to every replica would make two of every three receipts duplicates.
    assert!(
        a.duplicates * 10 < a.accepted,
        "{m}: {} duplicates of {} cases",
        a.duplicates,
        a.accepted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_subscribers_per_path_store_every_case_once() {
    let names: Vec<&str> = Middleware::ALL.iter().map(|m| m.name()).collect();
    let summary = run_with_three_subscribers(&names.join(","), &[]).await;
    assert_eq!(summary.paths.len(), Middleware::ALL.len());
    for p in &summary.paths {
        stored_once_by_all_replicas(p);
    }
}

/// Core NATS redelivers nothing, so any duplicate is a case two replicas both received: the
/// queue group must hand each case to one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_core_nats_subscribers_form_one_queue_group() {
    let summary = run_with_three_subscribers("nats", &["--nats-mode=core"]).await;
    let p = &summary.paths[0];
    stored_once_by_all_replicas(p);
    assert_eq!(p.accounting.duplicates, 0, "a case went to two replicas");
}

/// The ingress's gRPC publisher with two replicas listed, the first of which nobody serves: each
/// batch tried there first goes on to the live one, so every publish succeeds and each case is
/// stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_replica_that_is_down_passes_its_batches_to_the_next() {
    let _exclusive = crate::EXCLUSIVE.lock().await;
    let m = Middleware::Grpc;
    let pipeline = support::Pipeline::start(&[m], "single", &[]).await;
    let mut settings = pipeline.settings();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let dead_addr = dead.local_addr().expect("its address");
    drop(dead);
    settings.grpc.addr = format!("{dead_addr},{}", settings.grpc.addr);
    let publisher = Publisher::connect(m, &settings).await.expect("publisher");
    for i in 0..10 {
        let case = parse_cases(support::case(i).to_string().as_bytes()).expect("a case");
        let envelopes: Vec<Envelope> = (case.into_iter())
            .map(|c| Envelope::accept(c, now_ns(), None))
            .collect();
        let published = publisher.publish(&envelopes).await;
        published.unwrap_or_else(|e| panic!("batch {i}: {e}"));
    }
    let stats = pipeline.wait_stored(m, 10).await;
    let duplicates = stats.counter(CounterMetric::Duplicates, Some(m));
    assert_eq!(duplicates, Some(0), "stored once each");
    assert_eq!(pipeline.documents(m).await.len(), 10);
}
