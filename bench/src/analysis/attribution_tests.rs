use super::*;

#[test]
fn slope_of_a_line_and_of_noise() {
    let line: Vec<(f64, f64)> = (0..10)
        .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
        .collect();
    assert!((slope(&line) - 3.0).abs() < 1e-9);
    let flat: Vec<(f64, f64)> = (0..10)
        .map(|i| (f64::from(i), if i % 2 == 0 { 5.0 } else { 9.0 }))
        .collect();
    assert!(slope(&flat).abs() < 0.5);
    assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
}

/// 500/s offered for 20 s, `stored` of it per second.
fn path(stored: f64) -> PathResult {
    let mut p = crate::results::summary::tests::sample().paths.remove(0);
    p.rates.stored_per_s = stored;
    p
}

fn growing(broker: f64, sink: f64) -> Backlog {
    Backlog {
        broker,
        sink,
        ..Backlog::default()
    }
}

/// The subscriber's side with writers `store_busy`, holding a tenth of its window, on a path
/// whose broker depth was not read.
fn side(store_busy: Option<f64>) -> ConsumerSide {
    ConsumerSide {
        store_busy,
        held: 100.0,
        window: 1000,
        depth_unreadable: None,
    }
}

#[test]
fn a_path_that_stores_what_is_offered_with_no_growing_backlog_kept_up() {
    let (stage, why) = verdict(
        Middleware::Nats,
        &path(499.0),
        &growing(0.0, 0.0),
        &side(Some(0.2)),
    );
    assert_eq!(stage, None, "{why}");
    // 5/s is under the floor of 10/s; 11/s for 20 s (220 cases) is over both the floor and a
    // quarter second of the offered rate (125 cases), so it grows.
    assert_eq!(
        verdict(
            Middleware::Nats,
            &path(499.0),
            &growing(5.0, 0.0),
            &side(None)
        )
        .0,
        None
    );
    assert_eq!(
        verdict(
            Middleware::Nats,
            &path(499.0),
            &growing(11.0, 0.0),
            &side(None)
        )
        .0,
        Some(Stage::Broker)
    );
}

#[test]
fn a_short_hiccup_is_not_a_trend() {
    let mut short = path(499.0);
    short.measure_seconds = 2.0;
    // 20/s for 2 s is 40 cases, under a quarter second of 500/s.
    assert_eq!(
        verdict(Middleware::Nats, &short, &growing(20.0, 0.0), &side(None)).0,
        None
    );
}

#[test]
fn the_furthest_stage_behind_is_the_limit() {
    let behind = path(400.0);
    let both = growing(50.0, 50.0);
    assert_eq!(
        verdict(Middleware::Nats, &behind, &both, &side(Some(0.3))).0,
        Some(Stage::Store)
    );
    let broker = growing(50.0, 0.0);
    assert_eq!(
        verdict(Middleware::Nats, &behind, &broker, &side(Some(0.3))).0,
        Some(Stage::Broker)
    );
    assert_eq!(
        verdict(
            Middleware::Nats,
            &behind,
            &growing(0.0, 0.0),
            &side(Some(0.9))
        )
        .0,
        Some(Stage::Store),
        "writers busy 90 % of the time"
    );
    let mut busy_host = behind.clone();
    busy_host.host_cpu_busy = Some(0.92);
    assert_eq!(
        verdict(
            Middleware::Nats,
            &busy_host,
            &growing(0.0, 0.0),
            &side(Some(0.3))
        )
        .0,
        Some(Stage::HostCpu),
        "stored too little with no backlog growing, the host 92 % busy"
    );
}

#[test]
fn without_a_backlog_or_a_busy_host_nothing_is_blamed() {
    let mut behind = path(400.0);
    behind.host_cpu_busy = Some(0.3);
    let (stage, why) = verdict(
        Middleware::Nats,
        &behind,
        &growing(0.0, 0.0),
        &side(Some(0.3)),
    );
    assert_eq!(stage, Some(Stage::Unexplained), "{why}");
    assert!(why.ends_with("host CPU 30 % busy"), "{why}");
}

#[test]
fn grpc_is_never_blamed_on_a_broker() {
    let mut behind = path(400.0);
    behind.middleware = Middleware::Grpc;
    behind.host_cpu_busy = Some(0.5);
    let p50 = |us| crate::results::summary::LatencySummary {
        count: 100,
        p50: us,
        ..Default::default()
    };
    behind.latencies.insert(LatencyMetric::Publish, p50(40_000));
    behind
        .latencies
        .insert(LatencyMetric::HttpUncorrected, p50(50_000));
    let queued = Backlog {
        client_queue: 80.0,
        ..Backlog::default()
    };
    let (stage, why) = verdict(Middleware::Grpc, &behind, &queued, &side(None));
    assert_eq!(stage, Some(Stage::Store), "{why}");
    assert!(why.contains("gRPC's publish returns only once"), "{why}");
    let (stage, _) = verdict(Middleware::Grpc, &behind, &growing(50.0, 0.0), &side(None));
    assert_ne!(stage, Some(Stage::Broker));
    behind.middleware = Middleware::Nats;
    assert_eq!(
        verdict(Middleware::Nats, &behind, &queued, &side(None)).0,
        Some(Stage::Broker),
        "the same evidence on a broker path"
    );
}

#[test]
fn a_stage_that_was_not_using_a_core_on_a_saturated_host_is_charged_to_the_host() {
    let mut behind = path(400.0);
    behind.host_cpu_busy = Some(0.97);
    behind.resources = vec![ProcessCost {
        role: Role::Broker(Middleware::Nats),
        name: "nats-server".into(),
        pid: 1,
        cpu_seconds: 4.0,
        peak_rss_kib: 0,
        accounted_by: Default::default(),
        disk_writes: None,
    }];
    let (stage, why) = verdict(Middleware::Nats, &behind, &growing(50.0, 0.0), &side(None));
    assert_eq!(stage, Some(Stage::HostCpu), "{why}");
    behind.resources[0].cpu_seconds = 19.0;
    assert_eq!(
        verdict(Middleware::Nats, &behind, &growing(50.0, 0.0), &side(None)).0,
        Some(Stage::Broker)
    );
}

/// The broker's own ready count grew (or not, `ready`), the subscriber holding `held` of 1000.
fn split(ready: Option<f64>, held: f64) -> (Option<Stage>, String) {
    let growth = Backlog {
        broker_ready: ready,
        ..growing(50.0, 0.0)
    };
    let consumer = ConsumerSide {
        held,
        ..side(Some(0.3))
    };
    verdict(Middleware::Rabbitmq, &path(400.0), &growth, &consumer)
}

#[test]
fn a_growing_broker_backlog_is_split_by_the_brokers_own_depth() {
    let (stage, why) = split(Some(48.0), 120.0);
    assert_eq!(
        stage,
        Some(Stage::Broker),
        "ready grew, the window had room: {why}"
    );
    assert!(why.contains("ready to deliver grew 48/s"), "{why}");
    let (stage, why) = split(Some(1.0), 120.0);
    assert_eq!(
        stage,
        Some(Stage::Subscriber),
        "ready flat: the growth waited in the subscriber's client: {why}"
    );
    let (stage, why) = split(Some(48.0), 950.0);
    assert_eq!(stage, Some(Stage::Subscriber), "the window was full: {why}");
    assert!(why.contains("950 of its 1000"), "{why}");
}

#[test]
fn without_the_brokers_depth_the_evidence_says_what_the_backlog_includes() {
    let consumer = ConsumerSide {
        depth_unreadable: Some("the Pub/Sub emulator reports no backlog"),
        ..side(Some(0.3))
    };
    let (stage, why) = verdict(
        Middleware::Pubsub,
        &path(400.0),
        &growing(50.0, 0.0),
        &consumer,
    );
    assert_eq!(stage, Some(Stage::Broker), "{why}");
    assert!(
        why.contains("(the Pub/Sub emulator reports no backlog)"),
        "{why}"
    );
    assert!(
        why.contains("client in the subscriber already held"),
        "{why}"
    );
    // Even unread, a full window is the subscriber's.
    let full = ConsumerSide {
        held: 1000.0,
        ..consumer
    };
    let (stage, _) = verdict(Middleware::Pubsub, &path(400.0), &growing(50.0, 0.0), &full);
    assert_eq!(stage, Some(Stage::Subscriber));
}

/// 20 ticks of RabbitMQ at 500/s offered, 400/s received and stored; the broker's own ready
/// count grows `ready_per_s` of the 100/s published − received grows.
fn falling_behind(ready_per_s: u64) -> Attribution {
    use crate::analysis::synthetic::TickBuilder;
    use brokerbench_common::counter::CounterMetric;
    const M: Middleware = Middleware::Rabbitmq;
    let ticks: Vec<Tick> = (0..=20u64)
        .map(|t| {
            TickBuilder::at(t as f64, &[M])
                .load(CounterMetric::SentRequests, 500 * t)
                .load(CounterMetric::Http2xx, 500 * t)
                .ingress(CounterMetric::Published, Some(M), 500 * t)
                .subscriber(M, CounterMetric::Received, 400 * t + 50)
                .subscriber(M, CounterMetric::Stored, 400 * t)
                .broker_ready(M, ready_per_s * t)
                .build()
        })
        .collect();
    let bounds = super::Bounds {
        measure_start: 0,
        measure_end: 20,
        last: 20,
    };
    let result = path(400.0);
    let evidence = Evidence {
        result: &result,
        cases_per_request: 1,
        writers: None,
        window: 1000,
        depth_unreadable: None,
    };
    attribute(&ticks, bounds, M, &evidence)
}

#[test]
fn the_split_is_read_from_the_ticks_depth() {
    let broker = falling_behind(100);
    assert_eq!(
        broker.limited_by,
        Some(Stage::Broker),
        "{}",
        broker.evidence
    );
    assert_eq!(
        broker.growth_per_s.broker_ready.map(f64::round),
        Some(100.0)
    );
    // Ready flat: what grows is delivered and not taken in; the median held (t = 10: 50 in the
    // sink, 100 × t − 50 in the client) is 1,000, the whole window.
    let subscriber = falling_behind(0);
    assert_eq!(
        subscriber.limited_by,
        Some(Stage::Subscriber),
        "{}",
        subscriber.evidence
    );
    assert!(
        subscriber.evidence.contains("1000 of its 1000"),
        "{}",
        subscriber.evidence
    );
}
