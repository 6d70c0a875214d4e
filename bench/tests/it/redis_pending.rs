//! Redis Streams: what a consumer read and never acknowledged is not lost when that consumer
//! dies. Another consumer of the group claims it (`XAUTOCLAIM`) once it has been idle for
//! `--redis-claim-idle-ms`, stores it and acknowledges it.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::middleware::redis::{ENVELOPE_FIELD, connect, ensure_group};
use brokerbench_common::settings::Middleware;
use redis::AsyncCommands as _;
use redis::streams::{StreamPendingReply, StreamReadOptions, StreamReadReply};
use support::{Pipeline, isolated_settings, new_ns};

const CASES: usize = 100;
const CLAIM_IDLE: &str = "--redis-claim-idle-ms=500";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_dead_consumer_held_are_claimed_and_stored_once() {
    let ns = new_ns();
    let settings = isolated_settings(&ns, &[CLAIM_IDLE]).redis;
    let mut redis = connect(&settings).await.expect("Redis reachable");
    ensure_group(&mut redis, &settings)
        .await
        .expect("consumer group");
    let mut ids = BTreeSet::new();
    for i in 0..CASES {
        let case = Case {
            name: format!("Caso {i}"),
            location: "Escuintla".into(),
            age: 34,
            infectedtype: "communitary".into(),
            state: "symptomatic".into(),
        };
        let envelope = Envelope::accept(case, now_ns(), None);
        ids.insert(envelope.id.clone());
        let _: String = redis
            .xadd(
                &settings.stream,
                "*",
                &[(ENVELOPE_FIELD, envelope.to_bytes())],
            )
            .await
            .expect("XADD");
    }
    // A consumer reads everything and dies without acknowledging anything.
    let options = StreamReadOptions::default()
        .group(&settings.group, "dead-consumer")
        .count(CASES);
    let read: Option<StreamReadReply> = redis
        .xread_options(&[&settings.stream], &[">"], &options)
        .await
        .expect("XREADGROUP");
    let held: usize = read.iter().flat_map(|r| &r.keys).map(|k| k.ids.len()).sum();
    assert_eq!(held, CASES, "the dead consumer holds every entry");

    let pipeline = Pipeline::start_in(&ns, &[Middleware::Redis], "single", &[CLAIM_IDLE]).await;
    let stats = pipeline.wait_stored(Middleware::Redis, CASES as u64).await;
    assert_eq!(
        stats.counter(CounterMetric::Stored, Some(Middleware::Redis)),
        Some(CASES as u64),
        "every held entry was claimed and stored, once"
    );
    let stored: BTreeSet<String> = pipeline
        .documents(Middleware::Redis)
        .await
        .iter()
        .map(|d| d.get_str("_id").expect("_id").to_string())
        .collect();
    assert_eq!(stored, ids, "the stored ids are the ids appended");

    // The acks follow the writes; once they are through, nothing is pending in the group.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: StreamPendingReply = redis
            .xpending(&settings.stream, &settings.group)
            .await
            .expect("XPENDING");
        if pending.count() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} entries still pending",
            pending.count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
