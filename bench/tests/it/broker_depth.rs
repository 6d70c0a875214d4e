//! A broker's own depth, as the runner reads it to tell a broker that does not deliver from a
//! subscriber that does not take: `ready` counts only what the broker has not delivered yet,
//! `unacked` what it delivered and was not acknowledged, on every path whose broker tells.

use crate::support;

use std::time::{Duration, Instant};

use brokerbench_common::case::parse_cases;
use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::middleware::depth::BrokerDepth;
use brokerbench_common::middleware::probe::{DepthProbe, unreadable};
use brokerbench_common::settings::{BrokerSettings, Middleware};
use brokerbench_publishers::Publisher;
use brokerbench_subscribers::Source;
use serde_json::Value;
use support::{Pipeline, case, new_ns};

const CASES: u64 = 30;

/// [`CASES`] cases as one request body.
fn cases() -> Vec<u8> {
    let body = Value::Array((0..CASES as usize).map(case).collect());
    serde_json::to_vec(&body).expect("JSON")
}

/// The paths whose broker tells its depth, by the same rule the runner uses.
fn readable(settings: &BrokerSettings) -> Vec<Middleware> {
    Middleware::ALL
        .into_iter()
        .filter(|&m| unreadable(m, settings).is_none())
        .collect()
}

async fn probe(m: Middleware, settings: &BrokerSettings) -> DepthProbe {
    DepthProbe::connect(m, settings)
        .await
        .expect("the probe connects")
        .expect("a probe for a path whose broker tells its depth")
}

/// Reads until `want` holds, for up to `patience`; the last reading either way.
async fn read_until(
    probe: &mut DepthProbe,
    patience: Duration,
    want: impl Fn(&BrokerDepth) -> bool,
) -> Option<BrokerDepth> {
    let deadline = Instant::now() + patience;
    loop {
        let depth = probe.read().await.ok();
        if depth.as_ref().is_some_and(&want) || Instant::now() >= deadline {
            return depth;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn only_brokers_that_tell_are_probed() {
    let settings = support::isolated_settings(&new_ns(), &[]);
    let core = support::isolated_settings(&new_ns(), &["--nats-mode=core"]);
    use Middleware::*;
    assert_eq!(readable(&settings), [Nats, Rabbitmq, Redis]);
    assert_eq!(readable(&core), [Rabbitmq, Redis]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_nobody_consumed_is_ready() {
    let settings = support::isolated_settings(&new_ns(), &[]);
    for m in readable(&settings) {
        // A source declares the stream's consumer or the group without consuming; RabbitMQ's
        // starts consuming as it connects (into its client), so there the publisher's declare
        // of the queue is the whole topology.
        let source = match m {
            Middleware::Rabbitmq => None,
            _ => Some(Source::connect(m, &settings, None).await.expect("topology")),
        };
        let publisher = Publisher::connect(m, &settings).await.expect("publisher");
        let envelopes: Vec<Envelope> = parse_cases(&cases())
            .expect("cases")
            .into_iter()
            .map(|c| Envelope::accept(c, now_ns(), None))
            .collect();
        publisher.publish(&envelopes).await.expect("published");
        let mut probe = probe(m, &settings).await;
        let depth = probe.read().await.expect("the broker tells its depth");
        assert_eq!(depth.ready, CASES, "{m}: {depth:?}");
        assert!(matches!(depth.unacked, None | Some(0)), "{m}: {depth:?}");
        drop((source, publisher, probe));
        settings.remove_topology(m).await.expect("topology removed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_subscriber_holds_is_not_ready_but_unacknowledged() {
    let paths = readable(&support::isolated_settings(&new_ns(), &[]));
    // Every batch waits 4 s before its write, so every case stays delivered and unacknowledged
    // for that long.
    let hold = ["--hold-batch-ms=4000"];
    let pipeline = Pipeline::start_with(&new_ns(), &paths, "all", &[], &hold).await;
    let settings = pipeline.settings();
    let mut probes = Vec::new();
    for &m in &paths {
        probes.push((m, probe(m, &settings).await));
    }
    let body: Value = serde_json::from_slice(&cases()).expect("JSON");
    assert_eq!(pipeline.post(&body).await.status(), 202);
    let patience = Duration::from_secs(3);
    for (m, probe) in &mut probes {
        let held = |d: &BrokerDepth| d.ready == 0 && d.unacked.is_none_or(|u| u == CASES);
        let depth = read_until(probe, patience, held).await;
        assert!(
            depth.as_ref().is_some_and(held),
            "{m} while held: {depth:?}"
        );
        let documents = pipeline.documents(*m).await.len();
        assert_eq!(
            documents, 0,
            "{m}: stored while held, so the check proved nothing"
        );
    }
    for (m, probe) in &mut probes {
        pipeline.wait_stored(*m, CASES).await;
        let acked = |d: &BrokerDepth| d.ready == 0 && d.unacked.is_none_or(|u| u == 0);
        let depth = read_until(probe, Duration::from_secs(30), acked).await;
        assert!(
            depth.as_ref().is_some_and(acked),
            "{m} once stored: {depth:?}"
        );
    }
}
