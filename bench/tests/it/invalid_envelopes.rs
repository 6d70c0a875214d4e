//! A message published straight to a broker that could not have come from the ingress — no id
//! and no case, or a case the ingress would refuse — is set aside in `dead_<path>` with the
//! reason and acknowledged, on every path; it never enters `cases_<path>`, and a real case whose
//! id it claimed is still stored.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;
use brokerbench_publishers::Publisher;
use support::{Pipeline, stats};

fn valid_case() -> Case {
    Case {
        name: "Válida".into(),
        location: "Zacapa".into(),
        age: 51,
        infectedtype: "communitary".into(),
        state: "asymptomatic".into(),
    }
}

fn count(stats: &Stats, metric: CounterMetric, m: Middleware) -> u64 {
    stats.counter(metric, Some(m)).unwrap_or(0)
}

/// Waits (at most 60 s) until the subscriber of `m` set aside 2 messages and stored 1 case.
async fn settled(subscriber: &str, m: Middleware) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(subscriber).await;
        let (invalid, stored) = (
            count(&s, CounterMetric::Invalid, m),
            count(&s, CounterMetric::Stored, m),
        );
        if invalid >= 2 && stored >= 1 {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{m}: invalid {invalid} of 2, stored {stored} of 1 after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_not_from_the_ingress_is_set_aside_with_its_reason_on_every_path() {
    let pipeline = Pipeline::start(&Middleware::ALL, "all", &[]).await;
    let settings = pipeline.settings();
    for m in Middleware::ALL {
        let valid = Envelope::accept(valid_case(), now_ns(), None);
        let no_case = Envelope {
            accepted_at_ns: now_ns(),
            ..Envelope::default()
        };
        let mut bad_case = valid.clone();
        let case = bad_case.case.as_mut().expect("case");
        case.name = "bad\u{0}name".into();
        case.age = 200;
        let publisher = Publisher::connect(m, &settings)
            .await
            .expect("publisher connects");
        for envelope in [&no_case, &bad_case, &valid] {
            publisher
                .publish(std::slice::from_ref(envelope))
                .await
                .unwrap_or_else(|e| panic!("{m}: the broker takes the message: {e}"));
        }
        let subscriber = pipeline.subscriber(m).to_string();
        let s = settled(&subscriber, m).await;
        assert_eq!(count(&s, CounterMetric::Invalid, m), 2, "{m}: invalid");
        assert_eq!(count(&s, CounterMetric::Stored, m), 1, "{m}: stored");
        assert_eq!(
            count(&s, CounterMetric::Duplicates, m),
            0,
            "{m}: duplicates"
        );
        assert_eq!(
            count(&s, CounterMetric::DeadLettered, m),
            0,
            "{m}: dead-lettered"
        );
        let expected = BTreeSet::from([valid.id.clone()]);
        assert_eq!(pipeline.stored_ids(m).await, expected, "{m}: cases");

        let dead = pipeline.dead_letters(m).await;
        let claimed: BTreeSet<&str> = dead
            .iter()
            .map(|d| d.get_str("claimed_id").expect("claimed_id"))
            .collect();
        assert_eq!(
            claimed,
            BTreeSet::from(["", valid.id.as_str()]),
            "{m}: {dead:?}"
        );
        for letter in &dead {
            let error = letter.get_str("error").expect("error");
            let id = letter.get_str("_id").expect("_id");
            assert!(error.starts_with("not from the ingress: "), "{m}: {error}");
            assert_ne!(id, valid.id, "{m}: a dead letter took the real case's id");
            if letter.get_str("claimed_id") == Ok("") {
                assert!(error.contains("is not a UUID"), "{m}: {error}");
            } else {
                assert!(
                    error.contains("U+0000") && error.contains("200"),
                    "{m}: {error}"
                );
            }
        }

        // Acknowledged once set aside: the broker does not deliver them again.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = stats(&subscriber).await;
        assert_eq!(
            count(&after, CounterMetric::Received, m),
            count(&s, CounterMetric::Received, m),
            "{m}: something was delivered again"
        );
    }
}
