//! Broker storage is bounded: what the subscriber acknowledged is deleted from the broker
//! (JetStream work-queue retention, Redis `XDEL` with each `XACK`), so a long-lived deployment
//! keeps only what is not yet stored. And an existing JetStream stream whose retention is not
//! the one asked for is refused, never silently used; so is a Pub/Sub subscription on another
//! topic or with another ack deadline.

use crate::support;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use brokerbench_common::middleware::redis::connect;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use brokerbench_publishers::Publisher;
use brokerbench_subscribers::Source;
use redis::AsyncCommands as _;
use serde_json::Value;
use support::{Pipeline, case};

const CASES: usize = 200;

/// Entries the broker of path `m` still holds.
async fn held(settings: &BrokerSettings, m: Middleware) -> u64 {
    match m {
        Middleware::Nats => {
            let client = async_nats::connect(&settings.nats.url).await.expect("NATS");
            let mut stream = jetstream::new(client)
                .get_stream(&settings.nats.stream)
                .await
                .expect("the stream");
            stream.info().await.expect("stream info").state.messages
        }
        Middleware::Redis => {
            let mut redis = connect(&settings.redis).await.expect("Redis");
            redis.xlen(&settings.redis.stream).await.expect("XLEN")
        }
        other => unreachable!("{other} is not checked here"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_stored_and_acknowledged_is_gone_from_jetstream_and_redis() {
    let paths = [Middleware::Nats, Middleware::Redis];
    let pipeline = Pipeline::start(&paths, "all", &[]).await;
    let settings = pipeline.settings();
    for batch in 0..CASES / 20 {
        let body = Value::Array((0..20).map(|i| case(batch * 20 + i)).collect());
        assert_eq!(pipeline.post(&body).await.status(), 202);
    }
    for m in paths {
        pipeline.wait_stored(m, CASES as u64).await;
        assert_eq!(pipeline.stored_ids(m).await.len(), CASES, "{m}: stored");
        // Acks go out after the write: wait for the last ones to reach the broker.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut left = held(&settings, m).await;
        while left > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            left = held(&settings, m).await;
        }
        assert_eq!(
            left, 0,
            "{m}: the broker still holds {left} of {CASES} stored cases"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_stream_with_other_retention_is_refused() {
    let mut settings = support::isolated_settings(&support::new_ns(), &[]);
    settings.nats.stream = format!("BB_LIMITS_{}", support::new_ns().to_uppercase());
    let client = async_nats::connect(&settings.nats.url).await.expect("NATS");
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: settings.nats.stream.clone(),
        subjects: vec![settings.nats.subject.clone()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("a stream with limits retention");
    let refused = Publisher::connect(Middleware::Nats, &settings).await;
    let _ = js.delete_stream(&settings.nats.stream).await;
    let error = refused
        .expect_err("a stream that keeps everything is refused")
        .to_string();
    assert!(
        error.contains("Limits retention") && error.contains("nats stream rm"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_consumer_with_another_window_is_refused() {
    let mut settings = support::isolated_settings(&support::new_ns(), &[]);
    settings.path.consumer_window = 100;
    let first = Source::connect(Middleware::Nats, &settings, None).await;
    assert!(first.is_ok(), "the consumer is created");
    drop(first);
    settings.path.consumer_window = 200;
    let again = Source::connect(Middleware::Nats, &settings, None).await;
    let _ = settings.remove_topology(Middleware::Nats).await;
    let Err(error) = again else {
        panic!("a consumer holding 100 unacknowledged was used for a window of 200");
    };
    let text = error.to_string();
    assert!(
        text.contains("of 100, not the 200") && text.contains("nats consumer rm"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_subscription_on_another_topic_is_refused() {
    let settings = support::isolated_settings(&support::new_ns(), &[]);
    let first = Publisher::connect(Middleware::Pubsub, &settings).await;
    assert!(first.is_ok(), "topic and subscription are created");
    drop(first);
    let mut other = settings.clone();
    other.pubsub.topic = format!("{}-other", settings.pubsub.topic);
    let refused = Publisher::connect(Middleware::Pubsub, &other).await;
    settings
        .remove_topology(Middleware::Pubsub)
        .await
        .expect("remove the first topology");
    let Err(error) = refused else {
        panic!("a subscription on another topic was used");
    };
    let text = error.to_string();
    assert!(
        text.contains(&format!("exists on topic {}", settings.pubsub.topic_path()))
            && text.contains("delete it"),
        "{text}"
    );
    // Once deleted, as the message says, the subscription is created on the topic asked for.
    let again = Publisher::connect(Middleware::Pubsub, &other).await;
    let _ = other.remove_topology(Middleware::Pubsub).await;
    assert!(again.is_ok(), "after deleting it: {:?}", again.err());
}
