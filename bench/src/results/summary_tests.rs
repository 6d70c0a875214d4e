use super::*;
use crate::results::resources::UsageSource;
use crate::results::role::Role;

/// A run of one NATS path at 500/s for 20 s that stored everything, e2e p50 1.5 ms.
pub(crate) fn sample() -> Summary {
    let mut h = brokerbench_common::metrics::new_histogram();
    h.record(1_500).expect("in range");
    let latencies = BTreeMap::from([(LatencyMetric::E2e, LatencySummary::of(&h))]);
    let path = PathResult {
        middleware: Middleware::Nats,
        repeat: 0,
        measure_seconds: 20.0,
        latencies,
        rates: Rates {
            offered: 500.0,
            achieved: 499.5,
            stored_per_s: 499.0,
        },
        accounting: Accounting {
            sent: 10,
            accepted: 10,
            stored: 10,
            documents: Some(10),
            consistent: true,
            ..Default::default()
        },
        resources: vec![ProcessCost {
            role: Role::Ingress,
            name: "brokerbench".into(),
            pid: 7,
            cpu_seconds: 1.25,
            peak_rss_kib: 30_000,
            accounted_by: UsageSource::Cgroup,
            disk_writes: None,
        }],
        shared_resources: Vec::new(),
        cpu_seconds_per_10k_cases: Some(2.5),
        peak_rss_kib: 30_000,
        disk_bytes_per_10k_cases: None,
        host_cpu_busy: Some(0.5),
        warnings: Vec::new(),
        host_source: Some(HostSource::Proc),
        guarantee: Some(PathGuarantee {
            durability: "disk".into(),
            durable: true,
            text: "JetStream".into(),
        }),
        hold_calibration: None,
        answer_hold_calibration: None,
        attribution: None,
        loss: None,
        e2e_census: None,
        resilience: Vec::new(),
        clocks: Vec::new(),
    };
    Summary {
        schema_version: SCHEMA_VERSION,
        label: "t".into(),
        started_at: "2026-11-22T10:00:00+00:00".into(),
        generator: Generator::Builtin,
        config: serde_json::json!({"rate": 500.0}),
        environment: serde_json::json!({"cores": 2}),
        aggregate: vec![PathAggregate {
            middleware: Middleware::Nats,
            runs: 1,
            figures: BTreeMap::from([(
                "e2e_p50_us".to_string(),
                Spread::of(&[1_500.0]).expect("a value"),
            )]),
        }],
        paths: vec![path],
        knees: Vec::new(),
        ceilings: None,
        verdict: Vec::new(),
        attached: None,
        store_floor: None,
    }
}

#[test]
fn summary_round_trips_and_refuses_unknown_fields() {
    let summary = sample();
    let text = serde_json::to_string_pretty(&summary).expect("serializes");
    let back: Summary = serde_json::from_str(&text).expect("reads back");
    assert_eq!(
        serde_json::to_value(&back).expect("value"),
        serde_json::to_value(&summary).expect("value")
    );
    assert_eq!(back.paths[0].latencies[&LatencyMetric::E2e].p50, 1_500);
    assert_eq!(back.aggregate[0].figures["e2e_p50_us"].median, 1_500.0);
    let mut value = serde_json::to_value(&summary).expect("value");
    value["paths"][0]["accounting"]["surprise"] = 1.into();
    assert!(
        serde_json::from_value::<Summary>(value).is_err(),
        "an unknown field must not pass silently"
    );
}

#[test]
fn median_and_overlap() {
    let a = Spread::of(&[3.0, 1.0, 2.0]).expect("values");
    assert_eq!(
        a,
        Spread {
            median: 2.0,
            min: 1.0,
            max: 3.0
        }
    );
    assert_eq!(Spread::of(&[1.0, 2.0]).map(|s| s.median), Some(1.5));
    assert!(Spread::of(&[]).is_none());
}
