//! `summary.json`: the versioned result of a run, documented field by field in results/README.md.

use std::collections::BTreeMap;

use brokerbench_common::host::HostSource;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::attribution::Attribution;
use super::clock::ComponentClock;
use super::generator::Generator;
use super::knee::Knee;
use super::loss::{E2eCensus, LossById};
use super::resilience::Resilience;
use super::resources::ProcessCost;
use super::verdict::Answer;
use crate::results::ceilings::Ceilings;
use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub schema_version: u32,
    pub label: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    /// `open-loop` (built-in, coordinated-omission corrected) or `locust` (closed loop, uncorrected).
    #[serde(with = "super::generator::by_name")]
    pub generator: Generator,
    pub config: serde_json::Value,
    pub environment: serde_json::Value,
    pub paths: Vec<PathResult>,
    pub aggregate: Vec<PathAggregate>,
    /// Each stage alone, measured in the same invocation (`run --ceilings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceilings: Option<Ceilings>,
    /// Each path's knee, from the sweep of the same run (`run --sweep-to`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knees: Vec<Knee>,
    /// The ranked answers the run opens with.
    #[serde(default)]
    pub verdict: Vec<Answer>,
    /// A run attached to a pipeline it did not start (`run --target`): where, and what it could
    /// not observe. None for a run that started its own processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<super::attached::Attached>,
    /// PostgreSQL's own commit latency under the store, measured before the load; None when
    /// the store is not FerretDB on the stack's PostgreSQL (or an attached run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_floor: Option<super::store_floor::StoreFloor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathResult {
    pub middleware: Middleware,
    /// 0-based repetition index.
    pub repeat: u32,
    pub measure_seconds: f64,
    /// Microseconds.
    pub latencies: BTreeMap<LatencyMetric, LatencySummary>,
    pub rates: Rates,
    pub accounting: Accounting,
    /// The processes charged to this path: its subscriber and broker, plus the ingress and the
    /// store when the path had them to itself (routing `single`).
    pub resources: Vec<ProcessCost>,
    /// With routing `all`: the ingress and the store, which served every path at once. Shown,
    /// never charged to a path.
    #[serde(default)]
    pub shared_resources: Vec<ProcessCost>,
    /// CPU seconds of `resources` per 10,000 cases stored during the measure phase.
    pub cpu_seconds_per_10k_cases: Option<f64>,
    /// The largest total RSS of `resources` at any one sample (KiB).
    pub peak_rss_kib: u64,
    /// Bytes written to disk by `resources` per 10,000 cases stored during the measure phase;
    /// none when no process of the path was in a cgroup that counts its writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes_per_10k_cases: Option<f64>,
    /// Busy share (0–1) of the whole host's CPU during the measure phase.
    pub host_cpu_busy: Option<f64>,
    /// What makes these figures less than clean, in words (CPU contention, a late generator).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Where the host RAM series came from: `kernel-module` or `proc`.
    pub host_source: Option<HostSource>,
    /// What this path guaranteed in this run (durability profile, as its processes ran it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guarantee: Option<PathGuarantee>,
    /// Only with `--hold-toggle-s` and `--hold-batch-ms`: end-to-end p50 while the subscriber's
    /// diagnostic hold was off and while it was on, toggled back and forth during the measure
    /// phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_calibration: Option<HoldCalibration>,
    /// Only with `--hold-toggle-s` and `--hold-answer-ms` (built-in generator): uncorrected HTTP
    /// p50 while the ingress's answer hold was off and while it was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_hold_calibration: Option<HoldCalibration>,
    /// Which stage limited this run, if it fell behind, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// Accepted ids against the store's `_id`s (built-in generator, MongoDB sink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossById>,
    /// Every case accepted in the measure phase in e2e terms, the unstored at their wait (built-in
    /// generator, MongoDB sink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_census: Option<E2eCensus>,
    /// Each `--fault` of the run and what it did to this path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resilience: Vec<Resilience>,
    /// The clocks of the ingress and the path's subscriber against the runner's, checked
    /// before the load (none in runs written before the check existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<ComponentClock>,
}

/// What a path guaranteed in a run, from the settings its processes ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathGuarantee {
    /// The run's `--durability` profile: `disk` or `memory`.
    pub durability: String,
    /// True when an acknowledged case survives a broker crash on this path in this run.
    pub durable: bool,
    /// One line a person reads, e.g. "JetStream, file storage, fsync always: at least once".
    pub text: String,
}

/// The same path, same processes, same run: a p50 without and with a diagnostic hold. The hold
/// alternates off and on every `toggle_period_s` seconds, so slow drift falls on both sides
/// alike; what was in flight across a toggle counts on neither.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldCalibration {
    pub hold_ms: f64,
    pub toggle_period_s: u64,
    #[serde(alias = "e2e_p50_off_us")]
    pub p50_off_us: u64,
    #[serde(alias = "e2e_p50_on_us")]
    pub p50_on_us: u64,
    pub samples_off: u64,
    pub samples_on: u64,
    /// Standard error of the difference of the two p50s, from each side's sample count and its
    /// density around the median (`(p60 − p40) / 0.2`): how precisely this run can tell if the
    /// samples were independent (none when a side is empty).
    pub standard_error_us: Option<f64>,
    /// Each period with the hold on, its p50 minus the p50 of the period before it (off).
    #[serde(default)]
    pub segment_differences_us: Vec<f64>,
    /// Standard error of the mean of `segment_differences_us`: the precision the run really
    /// had, drift within the run included (none with fewer than two pairs).
    #[serde(default)]
    pub segment_standard_error_us: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub stddev: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            stddev: h.stdev(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Configured offered load, cases per second.
    pub offered: f64,
    /// Cases the ingress accepted per second during the measure phase.
    pub achieved: f64,
    /// Cases stored in MongoDB per second during the measure phase.
    pub stored_per_s: f64,
}

/// Whole-run counts (warm-up, measure and drain), in cases unless named `requests`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounting {
    pub sent: u64,
    pub sent_requests: u64,
    pub http_2xx: u64,
    pub http_4xx: u64,
    pub http_5xx: u64,
    pub transport_errors: u64,
    /// Requests with no answer when the generator's answer deadline passed.
    pub unanswered_requests: u64,
    /// Re-sends under the same Idempotency-Key, and the failed attempts they followed (the
    /// final answers are in `http_*`).
    #[serde(default)]
    pub retries: u64,
    #[serde(default)]
    pub retried_5xx: u64,
    #[serde(default)]
    pub retried_transport: u64,
    pub accepted: u64,
    pub published: u64,
    pub publish_errors: u64,
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Cases the store refused up to the delivery limit, set aside in `dead_<path>`.
    #[serde(default)]
    pub dead_lettered: u64,
    /// Messages that decoded but could not have come from the ingress (published straight to
    /// the broker by someone else), set aside in `dead_<path>` and never stored as cases.
    #[serde(default)]
    pub invalid: u64,
    /// accepted − stored when the drain ended: accepted cases not (yet) stored by its deadline.
    /// Not "lost": a case may still arrive later.
    pub unstored_at_deadline: i64,
    /// Documents counted in the path's MongoDB collection after the drain; none with
    /// `--sink none`, which stores nothing.
    pub documents: Option<u64>,
    /// The drain ended after a quiet period with no new deliveries or duplicates (so late
    /// redeliveries were counted), not at its deadline.
    pub drained_quietly: bool,
    /// Cases subscribers killed by faults held (received, not settled) at their last reading:
    /// stored unseen before the signal, they are documents beyond `stored`.
    #[serde(default)]
    pub in_hand_at_kills: u64,
    /// With several subscribers of the path (`run --subscribers`): what each received, in the
    /// order they were started (summed: `received`); none read for a replica is 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received_by_replica: Vec<u64>,
    /// True when every identity below holds; `problems` says which did not.
    pub consistent: bool,
    pub problems: Vec<String>,
}

/// One path over all repeats: the median and the spread (min, max) of headline figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathAggregate {
    pub middleware: Middleware,
    pub runs: u32,
    pub figures: BTreeMap<String, Spread>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
pub(crate) mod tests;
