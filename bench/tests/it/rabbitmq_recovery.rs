//! RabbitMQ without lapin reconnecting: the publisher and the subscriber replace a connection
//! the broker closed, no case the ingress accepted is lost, and a publish that no queue takes
//! fails instead of vanishing. Connections are closed one by one by name with `rabbitmqctl`
//! (never the broker), so tests sharing the broker are not disturbed.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::middleware::rabbitmq::{connection_name, delete_queue};
use brokerbench_common::settings::{Middleware, RabbitmqSettings};
use brokerbench_publishers::Publisher;
use serde_json::Value;
use support::{Pipeline, case, isolated_settings, new_ns, stats};

/// `rabbitmqctl` of the local stack (`scripts/stack` writes a wrapper that targets its node).
fn rabbitmqctl() -> std::process::Command {
    let program = std::env::var("BB_STACK_DIR")
        .map(|dir| format!("{dir}/bin/rabbitmqctl"))
        .unwrap_or_else(|_| "rabbitmqctl".into());
    std::process::Command::new(program)
}

/// Closes the connections of this test's publisher and subscriber (found by their names, which
/// hold the test's own queue); returns how many it closed.
async fn close_own_connections(settings: &RabbitmqSettings) -> usize {
    let names = [
        connection_name("publisher", settings),
        connection_name("subscriber", settings),
    ];
    tokio::task::spawn_blocking(move || {
        let listed = rabbitmqctl()
            .args(["-q", "list_connections", "pid", "client_properties"])
            .output()
            .expect("rabbitmqctl runs");
        assert!(listed.status.success(), "list_connections: {listed:?}");
        let mut closed = 0;
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            if !names.iter().any(|n| line.contains(&format!("\"{n}\""))) {
                continue;
            }
            let pid = line.split_whitespace().next().expect("a pid column");
            let status = rabbitmqctl()
                .args([
                    "-q",
                    "close_connection",
                    pid,
                    "brokerbench test: connection closed on purpose",
                ])
                .status()
                .expect("rabbitmqctl runs");
            assert!(status.success(), "close_connection {pid}");
            closed += 1;
        }
        closed
    })
    .await
    .expect("rabbitmqctl task")
}

/// Posts `body` until the ingress accepts it (5xx while a connection is being replaced), and
/// returns the accepted ids.
async fn post_until_accepted(pipeline: &Pipeline, body: &Value) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let response = pipeline.post(body).await;
        let status = response.status();
        if status == 202 {
            let reply: Value = response.json().await.expect("reply JSON");
            return reply["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| id.as_str().expect("id").to_string())
                .collect();
        }
        assert!(status.is_server_error(), "ingress answered {status}");
        assert!(
            Instant::now() < deadline,
            "the ingress did not recover: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_recovers_closed_connections_without_losing_accepted_cases() {
    let m = Middleware::Rabbitmq;
    let pipeline = Pipeline::start(&[m], "single", &[]).await;
    let settings = pipeline.settings().rabbitmq;
    let mut accepted = BTreeSet::new();
    for i in 0..10 {
        let body = Value::Array((0..5).map(|j| case(i * 5 + j)).collect());
        accepted.extend(post_until_accepted(&pipeline, &body).await);
    }
    pipeline.wait_stored(m, accepted.len() as u64).await;

    let closed = close_own_connections(&settings).await;
    assert!(
        closed >= 2,
        "closed {closed} connections, expected the publisher's and the subscriber's"
    );
    for i in 10..30 {
        let body = Value::Array((0..5).map(|j| case(i * 5 + j)).collect());
        accepted.extend(post_until_accepted(&pipeline, &body).await);
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored: BTreeSet<String> = pipeline.stored_ids(m).await;
        let missing = accepted.difference(&stored).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted cases never stored",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let s = stats(pipeline.subscriber(m)).await;
    assert!(
        s.counter(CounterMetric::Reconnects, Some(m)).unwrap_or(0) >= 1,
        "the subscriber counted no reconnect"
    );
    let health = reqwest::get(format!("{}/healthz", pipeline.subscriber(m)))
        .await
        .expect("subscriber /healthz");
    assert_eq!(health.status(), 200, "the subscriber is ready again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_publish_that_no_queue_takes_fails() {
    let settings = isolated_settings(&new_ns(), &[]);
    let publisher = Publisher::connect(Middleware::Rabbitmq, &settings)
        .await
        .expect("publisher connects");
    let envelope = || {
        let case = Case {
            name: "Sin cola".into(),
            location: "Petén".into(),
            age: 50,
            infectedtype: "imported".into(),
            state: "asymptomatic".into(),
        };
        Envelope::accept(case, now_ns(), None)
    };
    publisher
        .publish(&[envelope()])
        .await
        .expect("a publish to the declared queue succeeds");
    delete_queue(&settings.rabbitmq)
        .await
        .expect("queue deleted");
    let result = publisher.publish(&[envelope()]).await;
    let error = result
        .expect_err("a publish no queue takes must fail")
        .to_string();
    assert!(error.contains("returned"), "{error}");
    let Publisher::Rabbitmq(rabbitmq) = &publisher else {
        unreachable!("a RabbitMQ publisher")
    };
    assert_eq!(
        rabbitmq.disconnected(),
        None,
        "the connection itself is fine"
    );
}
