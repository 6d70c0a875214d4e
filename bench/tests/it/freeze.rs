//! `POST /freeze`, which the runner sends just before it kills a subscriber: from then on no
//! write starts, so the runner's last reading of the subscriber's counters is final. What
//! arrives after it is received and never stored by this process (the broker delivers it again
//! to the replacement).

use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::settings::Middleware;
use tokio::time::Instant;

use crate::support::{self, Pipeline};

/// The paths with a broker: their ingress answers without waiting for the subscriber's write.
fn broker_paths() -> Vec<Middleware> {
    Middleware::ALL
        .into_iter()
        .filter(|m| m.descriptor().stack_service.is_some())
        .collect()
}

async fn counter(pipeline: &Pipeline, m: Middleware, metric: CounterMetric) -> u64 {
    let stats = support::stats(pipeline.subscriber(m)).await;
    stats.counter(metric, Some(m)).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_subscriber_goes_on_receiving_but_stores_nothing_more() {
    let paths = broker_paths();
    let pipeline = Pipeline::start(&paths, "all", &[]).await;
    assert_eq!(pipeline.post(&support::case(0)).await.status(), 202);
    for &m in &paths {
        pipeline.wait_stored(m, 1).await;
    }
    let client = reqwest::Client::new();
    for &m in &paths {
        let url = format!("{}/freeze", pipeline.subscriber(m));
        let answer = client.post(url).send().await.expect("subscriber answers");
        let status = answer.status();
        assert_eq!(
            status,
            204,
            "{m}: {}",
            answer.text().await.unwrap_or_default()
        );
    }
    for i in 1..=20 {
        assert_eq!(pipeline.post(&support::case(i)).await.status(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for &m in &paths {
        while counter(&pipeline, m, CounterMetric::Received).await < 21 {
            assert!(
                Instant::now() < deadline,
                "{m}: the frozen subscriber stopped receiving"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Not frozen, a case received is stored within milliseconds (store p50 about 1 ms at
    // 500 cases/s): half a second without a write is the freeze, not a slow store.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for &m in &paths {
        let stored = counter(&pipeline, m, CounterMetric::Stored).await;
        assert_eq!(stored, 1, "{m}: stored after the freeze");
        assert_eq!(pipeline.documents(m).await.len(), 1, "{m}: documents");
    }
}
