//! `Idempotency-Key`: the same key yields the same case ids, so a client's retry stores each
//! case once.

use crate::support;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::idempotent_id;
use brokerbench_common::settings::Middleware;
use serde_json::Value;
use support::{Pipeline, case};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_twice_with_one_key_is_stored_once_under_the_same_ids() {
    let pipeline = Pipeline::start(&[Middleware::Nats], "single", &[]).await;
    let client = reqwest::Client::new();
    let body = Value::Array(vec![case(1), case(2), case(3)]);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let reply: Value = client
            .post(format!("{}/cases", pipeline.ingress))
            .header("idempotency-key", "order-17")
            .json(&body)
            .send()
            .await
            .expect("ingress answers")
            .error_for_status()
            .expect("202")
            .json()
            .await
            .expect("JSON answer");
        answers.push(reply["ids"].clone());
    }
    let expected: Vec<String> = (0..3).map(|i| idempotent_id("order-17", i)).collect();
    assert_eq!(
        answers[0],
        serde_json::json!(expected),
        "ids derive from the key"
    );
    assert_eq!(answers[0], answers[1], "the retry got the same ids");
    let stats = pipeline.wait_stored(Middleware::Nats, 6).await;
    assert_eq!(
        stats.counter(CounterMetric::Stored, Some(Middleware::Nats)),
        Some(3)
    );
    assert_eq!(
        stats.counter(CounterMetric::Duplicates, Some(Middleware::Nats)),
        Some(3)
    );
    let stored = pipeline.stored_ids(Middleware::Nats).await;
    assert_eq!(stored, expected.into_iter().collect());
}

/// Posts `body` under `key`; the HTTP status.
async fn post(pipeline: &Pipeline, key: &str, body: &Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/cases", pipeline.ingress))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("ingress answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_goes_where_the_first_try_went_and_a_key_reused_for_another_body_is_refused() {
    let paths = [Middleware::Nats, Middleware::Redis];
    let pipeline = Pipeline::start(&paths, "split", &[]).await;
    let first = Value::Array(vec![case(1), case(2), case(3)]);
    for _ in 0..3 {
        assert_eq!(post(&pipeline, "order-18", &first).await, 202);
    }
    let ingress = support::stats(&pipeline.ingress).await;
    let published: Vec<u64> = paths
        .iter()
        .map(|m| {
            ingress
                .counter(CounterMetric::Published, Some(*m))
                .unwrap_or(0)
        })
        .collect();
    assert!(
        published == [9, 0] || published == [0, 9],
        "every try of one key on one path: {published:?}"
    );
    let other = Value::Array(vec![case(4)]);
    assert_eq!(post(&pipeline, "order-18", &other).await, 422);
    assert_eq!(post(&pipeline, "order-19", &other).await, 202);
}
