//! Synthetic run folders and stored cases with known figures, for the report, dashboard and
//! browser tests: the same files `brokerbench run` writes, made without running the stack.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use brokerbench::analysis::verdict::verdict;
use brokerbench::results::attribution::{Attribution, Backlog, Stage};
use brokerbench::results::ceilings::{Ceiling, Ceilings, StageKind};
use brokerbench::results::faults::{FaultKind, FaultRecord, FaultSpec};
use brokerbench::results::figures::aggregate;
use brokerbench::results::generator::Generator;
use brokerbench::results::loss::{CensusValue, E2eCensus, LossById};
use brokerbench::results::resilience::Resilience;
use brokerbench::results::resources::{DiskWrites, ProcessCost, UsageSource};
use brokerbench::results::role::Role;
use brokerbench::results::summary::{
    Accounting, LatencySummary, PathGuarantee, PathResult, Rates, SCHEMA_VERSION, Summary,
};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::new_histogram;
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

/// What to vary between fixture runs.
pub struct RunSpec {
    pub name: String,
    pub generator: Generator,
    /// Multiplies every latency: runs with different factors give different curves.
    pub slowdown: u64,
    /// Make the nats path's accounting fail.
    pub inconsistent_nats: bool,
    /// Give every path a late-generator warning.
    pub warned: bool,
}

impl RunSpec {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            generator: Generator::Builtin,
            slowdown: 1,
            inconsistent_nats: false,
            warned: false,
        }
    }
}

pub const PATHS: [Middleware; 2] = [Middleware::Grpc, Middleware::Nats];
/// Seconds of intervals in each interval log.
const SECONDS: u64 = 4;

/// nats is the faster path of the fixture (a third of grpc's latencies) and the faster rate.
fn base_us(m: Middleware, metric: LatencyMetric, slowdown: u64) -> u64 {
    let path = if m == Middleware::Nats { 1 } else { 3 };
    let stage = match metric {
        LatencyMetric::HttpCorrected => 1200,
        LatencyMetric::HttpUncorrected => 1000,
        LatencyMetric::Publish => 600,
        LatencyMetric::Delivery => 300,
        _ => 900,
    };
    stage * path * slowdown
}

fn interval(m: Middleware, metric: LatencyMetric, second: u64, slowdown: u64) -> Histogram<u64> {
    let mut h = new_histogram();
    let base = base_us(m, metric, slowdown);
    for i in 1..=200u64 {
        let tail = if i > 197 { 20 } else { 1 };
        let _ = h.record(base + i * base / 100 * tail + second);
    }
    h
}

/// Writes one run folder under `results` and returns its path.
pub fn write_run(results: &Path, spec: &RunSpec) -> PathBuf {
    let dir = results.join(&spec.name);
    std::fs::create_dir_all(&dir).expect("create run folder");
    let started = SystemTime::now();
    let mut paths = Vec::new();
    for m in PATHS {
        let mut latencies = BTreeMap::new();
        for metric in LatencyMetric::ALL {
            let mut file = std::fs::File::create(dir.join(format!("{m}-r0-{metric}.hlog")))
                .expect("create hlog");
            let mut serializer = V2DeflateSerializer::new();
            let mut log = IntervalLogWriterBuilder::new()
                .with_start_time(started)
                .with_base_time(started)
                .with_max_value_divisor(1.0)
                .begin_log_with(&mut file, &mut serializer)
                .expect("begin log");
            let mut sum = new_histogram();
            for s in 0..SECONDS {
                let h = interval(m, metric, s, spec.slowdown);
                sum.add(&h).expect("same bounds");
                log.write_histogram(
                    &h,
                    Duration::from_secs(s),
                    Duration::from_secs(1),
                    Tag::new(metric.key()),
                )
                .expect("write interval");
            }
            latencies.insert(metric, LatencySummary::of(&sum));
        }
        paths.push(path_result(m, latencies, spec));
    }
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        label: spec.name.clone(),
        started_at: chrono::Utc::now().to_rfc3339(),
        generator: spec.generator,
        config: serde_json::json!({ "middlewares": ["grpc", "nats"], "rate": 200.0, "duration": SECONDS, "warmup": 1, "repeat": 1, "seed": 42 }),
        environment: serde_json::json!({ "brokerbench": "0.1.0", "kernel": "test", "cores": 2, "brokers": { "nats-server": "v2.9.10", "ferretdb": "v1.24.2" } }),
        aggregate: aggregate(&paths),
        verdict: verdict(&paths, &[], Some(&ceilings())),
        knees: Vec::new(),
        ceilings: Some(ceilings()),
        paths,
        attached: None,
        store_floor: Some(brokerbench::results::store_floor::StoreFloor {
            commits: 20,
            p50_ms: 0.27,
            min_ms: 0.21,
            max_ms: 0.45,
            server_version: "15.14".into(),
            fsync: "on".into(),
            synchronous_commit: "on".into(),
        }),
    };
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).expect("summary serializes"),
    )
    .expect("write summary");
    write_series(&dir);
    write_host(&dir);
    write_sweep_rows(&dir.join("sweep"));
    dir
}

fn path_result(
    m: Middleware,
    latencies: BTreeMap<LatencyMetric, LatencySummary>,
    spec: &RunSpec,
) -> PathResult {
    let achieved = if m == Middleware::Nats { 200.5 } else { 199.0 };
    let mut accounting = Accounting {
        sent: 1000,
        sent_requests: 1000,
        http_2xx: 1000,
        accepted: 1000,
        published: 1000,
        received: 1000,
        stored: 1000,
        documents: Some(1000),
        drained_quietly: true,
        consistent: true,
        ..Default::default()
    };
    if spec.inconsistent_nats && m == Middleware::Nats {
        accounting.stored = 990;
        accounting.documents = Some(990);
        accounting.unstored_at_deadline = 10;
        accounting.consistent = false;
        accounting.problems =
            vec!["10 accepted cases were not stored by the drain deadline".into()];
    }
    PathResult {
        middleware: m,
        repeat: 0,
        measure_seconds: SECONDS as f64,
        latencies,
        rates: Rates {
            offered: 200.0,
            achieved,
            stored_per_s: achieved,
        },
        accounting,
        resources: vec![
            ProcessCost {
                role: Role::Ingress,
                name: "brokerbench".into(),
                pid: 100,
                cpu_seconds: 1.5,
                peak_rss_kib: 30_000,
                accounted_by: UsageSource::Cgroup,
                disk_writes: Some(DiskWrites {
                    bytes: 2_097_152,
                    ops: 512,
                }),
            },
            ProcessCost {
                role: Role::Subscriber(m),
                name: "brokerbench".into(),
                pid: 101,
                cpu_seconds: if m == Middleware::Nats { 0.5 } else { 1.0 },
                peak_rss_kib: 40_000,
                accounted_by: UsageSource::Processes,
                disk_writes: None,
            },
        ],
        shared_resources: Vec::new(),
        cpu_seconds_per_10k_cases: Some(if m == Middleware::Nats { 25.0 } else { 31.25 }),
        peak_rss_kib: 70_000,
        disk_bytes_per_10k_cases: Some(1_048_576.0),
        host_cpu_busy: Some(0.4),
        warnings: if spec.warned {
            vec![
                "generator lateness p99 1.20 ms > 1 ms: the generator did not keep its schedule"
                    .into(),
            ]
        } else {
            Vec::new()
        },
        host_source: Some(brokerbench_common::host::HostSource::Proc),
        guarantee: Some(PathGuarantee {
            durability: "disk".into(),
            durable: m == Middleware::Nats,
            text: format!("{m} as tested"),
        }),
        hold_calibration: None,
        answer_hold_calibration: None,
        attribution: Some(Attribution {
            limited_by: (m == Middleware::Nats).then_some(Stage::Store),
            evidence: format!("{m} as the fixture says"),
            growth_per_s: Backlog::default(),
            store_busy: Some(0.9),
        }),
        loss: Some(LossById {
            accepted: 1000,
            stored: 1000,
            ..LossById::default()
        }),
        e2e_census: Some(census(spec.inconsistent_nats && m == Middleware::Nats)),
        resilience: if m == Middleware::Nats {
            vec![broker_kill()]
        } else {
            Vec::new()
        },
        clocks: Vec::new(),
    }
}

/// A broker killed 2 s into the measure phase for 1 s, recovered 1.5 s after.
fn broker_kill() -> Resilience {
    Resilience {
        fault: FaultRecord {
            spec: FaultSpec {
                kind: FaultKind::BrokerKill,
                start_s: 2.0,
                duration_s: 1.0,
                node: None,
            },
            target: "nats".into(),
            start_s: 2.0,
            end_s: 3.2,
            start_ns: 0,
            end_ns: 1_200_000_000,
            error: None,
        },
        failed_4xx: 0,
        failed_5xx: 40,
        failed_transport: 0,
        slowest_answer_s: Some(0.01),
        first_accept_after_s: Some(0.4),
        accepted_during: 0,
        unavailable_s: Some(1.4),
        stored_recovered_after_s: Some(1.5),
        e2e_p99_before_us: Some(4_000),
        e2e_p99_during_us: None,
        e2e_p99_after_us: Some(900_000),
    }
}

/// Every stage's ceiling, the store's lowest.
fn ceilings() -> Ceilings {
    let ceiling = |stage, middleware, rate_per_s| Ceiling {
        stage,
        middleware,
        rate_per_s,
        p50_us: Some(900),
        p99_us: Some(4000),
        seconds: 5.0,
        note: "fixture".into(),
    };
    let mut all = vec![ceiling(StageKind::Store, None, 900.0)];
    for m in PATHS {
        all.push(ceiling(StageKind::Middleware, Some(m), 5000.0));
        all.push(ceiling(StageKind::Ingress, Some(m), 3000.0));
    }
    Ceilings {
        message_bytes: 126,
        concurrency: 64,
        cases_per_request: 1,
        sink_writers: 4,
        batch_size: 500,
        ceilings: all,
    }
}

/// Writes a sweep folder (its `sweep.csv` and `report.html`) under `results`; returns the page.
pub fn write_sweep(results: &Path) -> PathBuf {
    let dir = results.join("20260101T000200Z-sweep");
    write_sweep_rows(&dir);
    brokerbench::report::write_sweep_report(&dir).expect("sweep report")
}

#[path = "rows.rs"]
mod csv_rows;
use csv_rows::{write_host, write_series, write_sweep_rows};

#[path = "cases.rs"]
mod cases;
pub use cases::*;

/// The e2e census: everything stored, or (as `inconsistent_nats` says) 10 cases left unstored
/// after waiting at least 30 s, which make p99.9 a lower bound.
fn census(ten_unstored: bool) -> E2eCensus {
    let value = |us, at_least| CensusValue { us, at_least };
    E2eCensus {
        stored: if ten_unstored { 990 } else { 1000 },
        unstored: if ten_unstored { 10 } else { 0 },
        unstored_min_wait_us: ten_unstored.then_some(30_000_000),
        dead_lettered: 0,
        p50: value(1_500, false),
        p99: value(9_000, false),
        p999: value(if ten_unstored { 30_015_488 } else { 9_800 }, ten_unstored),
    }
}
