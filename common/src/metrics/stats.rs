//! `/stats`: one component's counters and full histograms as JSON, and reading them back.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{MetricKey, Phase, decode_histogram, encode_histogram, new_histogram};
use crate::counter::CounterMetric;
use crate::latency::LatencyMetric;
use crate::settings::Middleware;

/// What `/stats` returns: one component's counters and full latency histograms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub component: String,
    /// Unit of every latency value and histogram: microseconds.
    pub unit: String,
    pub counters: Vec<CounterValue>,
    pub latencies: Vec<LatencyValue>,
    /// The settings the process runs with, as command-line options (see [`Registry::with_settings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterValue {
    #[serde(flatten)]
    pub key: MetricKey,
    pub value: u64,
}

/// A histogram's headline figures plus the histogram itself (V2 compressed, base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyValue {
    #[serde(flatten)]
    pub key: MetricKey,
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    pub histogram: String,
}

impl LatencyValue {
    pub(super) fn new(key: MetricKey, h: &Histogram<u64>) -> Self {
        Self {
            key,
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            histogram: encode_histogram(h),
        }
    }
}

impl Stats {
    pub fn counter(&self, metric: CounterMetric, middleware: Option<Middleware>) -> Option<u64> {
        self.counters
            .iter()
            .find(|c| c.key.name == metric.key() && c.key.is_for(middleware))
            .map(|c| c.value)
    }

    /// The histogram `name` of one phase, or of every phase merged (`None`); `None` when this
    /// component has no such histogram, or it does not decode.
    pub fn histogram(
        &self,
        metric: LatencyMetric,
        middleware: Option<Middleware>,
        phase: Option<Phase>,
    ) -> Option<Histogram<u64>> {
        let mut found = self
            .latencies
            .iter()
            .filter(|l| l.key.name == metric.key() && l.key.is_for(middleware))
            .filter(|l| phase.is_none() || l.key.phase == phase)
            .peekable();
        found.peek()?;
        let mut merged = new_histogram();
        for l in found {
            merged.add(decode_histogram(&l.histogram).ok()?).ok()?;
        }
        Some(merged)
    }
}
