//! The store's side of the subscriber: each write concern FerretDB must accept, how it refuses a
//! document it cannot store, and a store that cannot be reached, which makes the subscriber
//! unready and redeliver, never dead-letter.

use crate::support;

use std::time::{Duration, Instant};

use brokerbench::subscriber::WriteConcernKind;
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::settings::Middleware;
use brokerbench_subscribers::failure::{BatchFailure, classify_batch};
use brokerbench_subscribers::sink::{self, to_document};
use clap::ValueEnum;
use mongodb::bson::{DateTime, Document};
use serde_json::Value;
use support::{OwnDb, Pipeline, case, new_ns, stats};

use crate::poison::store_refuses_nul;

fn nul_case(i: usize) -> Case {
    Case {
        name: format!("Caso {i}"),
        location: "Petén".into(),
        age: 20,
        infectedtype: "imported".into(),
        state: "symptomatic".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_a_batch_with_a_nul_without_being_transient() {
    let db = OwnDb::new();
    if !store_refuses_nul(&db.name).await {
        return;
    }
    let collections = sink::open(
        &support::mongodb_uri(),
        &db.name,
        Middleware::Nats,
        WriteConcernKind::Majority.write_concern(),
    )
    .await
    .expect("collections open");
    let mut bad = nul_case(1);
    bad.name = "bad\u{0}name".into();
    let docs: Vec<Document> = [nul_case(0), bad, nul_case(2)]
        .into_iter()
        .map(|case| {
            let envelope = Envelope::accept(case, now_ns(), None);
            to_document(&envelope, Middleware::Nats, DateTime::now())
        })
        .collect();
    let error = collections
        .cases
        .insert_many(&docs)
        .ordered(false)
        .await
        .expect_err("the store refuses the batch");
    let failure = classify_batch(&error);
    eprintln!("the store refused the batch so: {failure:?}");
    assert!(
        !matches!(failure, BatchFailure::Transient(_)),
        "a refused document must not look like an unreachable store: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_accepts_every_write_concern() {
    let db = OwnDb::new();
    for &kind in WriteConcernKind::value_variants() {
        let collections = sink::open(
            &support::mongodb_uri(),
            &db.name,
            Middleware::Nats,
            kind.write_concern(),
        )
        .await
        .expect("collections open");
        let case = Case {
            name: format!("{kind:?}"),
            location: "Petén".into(),
            age: 20,
            infectedtype: "imported".into(),
            state: "symptomatic".into(),
        };
        let envelope = Envelope::accept(case, now_ns(), None);
        let doc = to_document(&envelope, Middleware::Nats, DateTime::now());
        collections
            .cases
            .insert_many([&doc])
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: insert_many: {e}"));
        let mut dead = doc.clone();
        dead.insert("dead_at", DateTime::now());
        collections
            .dead
            .insert_one(&dead)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: insert_one: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_makes_the_subscriber_unready_and_dead_letters_nothing() {
    let m = Middleware::Nats;
    let pipeline = Pipeline::start_with(
        &new_ns(),
        &[m],
        "single",
        &[],
        &[
            "--mongodb-uri=mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300",
            "--store-timeout-ms=1000",
            "--delivery-limit=1",
        ],
    )
    .await;
    let body = Value::Array((0..5).map(case).collect());
    assert_eq!(pipeline.post(&body).await.status(), 202);
    let subscriber = pipeline.subscriber(m).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = reqwest::get(format!("{subscriber}/healthz"))
            .await
            .expect("/healthz");
        let status = response.status();
        let text = response.text().await.expect("body");
        let s = stats(&subscriber).await;
        let errors = s.counter(CounterMetric::Errors, Some(m)).unwrap_or(0);
        if status == 503 && errors >= 10 {
            assert!(text.contains("store: "), "{text}");
            assert_eq!(s.counter(CounterMetric::DeadLettered, Some(m)), Some(0));
            assert_eq!(s.counter(CounterMetric::Stored, Some(m)), Some(0));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscriber not unready, or not redelivering: {status} {text}, {errors} errors"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
