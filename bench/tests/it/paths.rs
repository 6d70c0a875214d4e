//! Each path end to end on the real stack: 1,000 cases in, 1,000 documents out.

use crate::support;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use brokerbench_common::tally::{self, Tally};
use futures::StreamExt;
use serde_json::Value;
use support::{Pipeline, case};

/// 100 single-case requests and 9 batches of 100, sent 16 at a time, in mixed order.
async fn post_thousand(pipeline: &Pipeline) -> Vec<String> {
    let mut bodies: Vec<Value> = (0..100).map(case).collect();
    for b in 0..9 {
        bodies.insert(
            b * 11,
            Value::Array((0..100).map(|i| case(100 + b * 100 + i)).collect()),
        );
    }
    let replies: Vec<Value> = futures::stream::iter(bodies)
        .map(|body| async move {
            let response = pipeline.post(&body).await;
            assert_eq!(response.status(), 202, "ingress refused a valid body");
            response.json::<Value>().await.expect("reply JSON")
        })
        .buffer_unordered(16)
        .collect()
        .await;
    replies
        .iter()
        .flat_map(|r| {
            r["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| id.as_str().expect("id").to_string())
        })
        .collect()
}

async fn thousand_cases_through(m: Middleware, broker_extra: &[&str]) {
    let pipeline = Pipeline::start(&[m], "single", broker_extra).await;
    let mut ids = post_thousand(&pipeline).await;
    assert_eq!(ids.len(), 1000);
    let stats = pipeline.wait_stored(m, 1000).await;
    assert_eq!(
        stats.counter(CounterMetric::Stored, Some(m)),
        Some(1000),
        "{m}: stored counter"
    );
    assert_eq!(
        stats.counter(CounterMetric::Duplicates, Some(m)),
        Some(0),
        "{m}: duplicates"
    );
    assert_eq!(
        stats
            .histogram(LatencyMetric::E2e, Some(m), None)
            .map(|h| h.len()),
        Some(1000),
        "{m}: e2e samples"
    );
    assert_eq!(
        stats
            .histogram(LatencyMetric::Store, Some(m), None)
            .map(|h| h.len()),
        Some(1000),
        "{m}: store samples"
    );
    let docs = pipeline.documents(m).await;
    assert_eq!(docs.len(), 1000, "{m}: documents in {}", m.collection());
    let mut stored: Vec<String> = docs
        .iter()
        .map(|d| d.get_str("_id").expect("_id").to_string())
        .collect();
    ids.sort();
    stored.sort();
    assert_eq!(stored, ids, "{m}: stored ids differ from accepted ids");
    for d in &docs {
        assert_eq!(d.get_str("route").expect("route"), m.name());
        assert!(d.get_str("name").expect("name").starts_with("Caso "));
        assert!(support::LOCATIONS.contains(&d.get_str("location").expect("location")));
        assert!((0..=130).contains(&d.get_i32("age").expect("age")));
        assert!(
            ["imported", "non-imported", "communitary"]
                .contains(&d.get_str("infectedtype").expect("type"))
        );
        assert!(["symptomatic", "asymptomatic"].contains(&d.get_str("state").expect("state")));
        let accepted = d.get_datetime("accepted_at").expect("accepted_at");
        assert!(d.get_datetime("stored_at").expect("stored_at") >= accepted);
    }
    tally_matches(&pipeline, m, &docs).await;
}

/// The subscriber's tally for the dashboard counts exactly the stored documents, and keeps the
/// newest of them in the dashboard's order.
async fn tally_matches(pipeline: &Pipeline, m: Middleware, docs: &[mongodb::bson::Document]) {
    let tally = pipeline.wait_tally(m, docs.len() as u64).await;
    let mut counted = Tally::default();
    docs.iter().for_each(|d| counted.add_document(d));
    assert_eq!(Tally::from_document(&tally), counted, "{m}: tally");
    let mut newest: Vec<(i64, &str)> = docs
        .iter()
        .map(|d| {
            let at = d.get_datetime("stored_at").expect("stored_at");
            (at.timestamp_millis(), d.get_str("_id").expect("_id"))
        })
        .collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    let recent = tally::recent(&tally);
    let kept: Vec<&str> = recent
        .iter()
        .map(|d| d.get_str("_id").unwrap_or_default())
        .collect();
    let expected: Vec<&str> = newest
        .iter()
        .take(tally::RECENT)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(kept, expected, "{m}: the newest cases in the tally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_stores_every_case_once() {
    thousand_cases_through(Middleware::Grpc, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stores_every_case_once() {
    thousand_cases_through(Middleware::Nats, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_core_mode_stores_every_case_once() {
    thousand_cases_through(Middleware::Nats, &["--nats-mode=core"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stores_every_case_once() {
    thousand_cases_through(Middleware::Rabbitmq, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_stores_every_case_once() {
    thousand_cases_through(Middleware::Pubsub, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stores_every_case_once() {
    thousand_cases_through(Middleware::Redis, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stores_every_case_once() {
    thousand_cases_through(Middleware::Kafka, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_routing_stores_each_case_in_every_collection() {
    let pipeline = Pipeline::start(&Middleware::ALL, "all", &[]).await;
    let body = Value::Array((0..50).map(case).collect());
    let mut ids = Vec::new();
    for _ in 0..4 {
        let reply: Value = pipeline.post(&body).await.json().await.expect("reply");
        ids.extend(
            reply["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|v| v.as_str().expect("id").to_string()),
        );
    }
    ids.sort();
    for m in Middleware::ALL {
        let stats = pipeline.wait_stored(m, 200).await;
        assert_eq!(
            stats.counter(CounterMetric::Stored, Some(m)),
            Some(200),
            "{m}"
        );
        let mut stored: Vec<String> = pipeline
            .documents(m)
            .await
            .iter()
            .map(|d| d.get_str("_id").expect("_id").to_string())
            .collect();
        stored.sort();
        assert_eq!(
            stored, ids,
            "{m}: collection does not hold exactly the accepted cases"
        );
    }
}
