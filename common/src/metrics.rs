//! Counters and HDR latency histograms, shared by every component, rendered as Prometheus text
//! (`/metrics`) and as [`Stats`] JSON with each histogram in HdrHistogram's V2 compressed form
//! (`/stats`), so the bench runner can merge exact distributions instead of averaging summaries.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs up to one hour, with 3 significant digits.
pub const LATENCY_UNIT: &str = "us";
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;
const QUANTILES: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

#[derive(Debug, thiserror::Error)]
pub enum HistogramCodecError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram does not decode: {0}")]
    Decode(String),
}

/// A new, empty latency histogram with the project's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is valid"))
}

/// HdrHistogram V2 + DEFLATE, base64: the form HdrHistogram's tools read in interval logs.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => BASE64.encode(bytes),
        Err(_) => String::new(),
    }
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramCodecError> {
    let bytes = BASE64.decode(text.trim())?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| HistogramCodecError::Decode(format!("{e:?}")))
}

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One latency distribution behind a mutex; recording is a few nanoseconds under no contention.
#[derive(Debug)]
pub struct Latency(Mutex<Histogram<u64>>);

impl Default for Latency {
    fn default() -> Self {
        Self(Mutex::new(new_histogram()))
    }
}

impl Latency {
    fn lock(&self) -> MutexGuard<'_, Histogram<u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn record_us(&self, us: u64) {
        self.lock().saturating_record(us.max(1));
    }
    /// Records the time from `start_ns` to `end_ns` (wall-clock nanoseconds), clamped at 1 µs.
    pub fn record_between_ns(&self, start_ns: i64, end_ns: i64) {
        self.record_us(u64::try_from((end_ns - start_ns) / 1_000).unwrap_or(0));
    }
    pub fn snapshot(&self) -> Histogram<u64> {
        self.lock().clone()
    }
}

/// Identifies a metric: a short name and, on per-path metrics, the middleware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricKey {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middleware: Option<String>,
}

/// Every counter and histogram of one process (component).
#[derive(Debug)]
pub struct Registry {
    component: String,
    counters: Mutex<Vec<(MetricKey, Arc<Counter>)>>,
    latencies: Mutex<Vec<(MetricKey, Arc<Latency>)>>,
}

impl Registry {
    pub fn new(component: impl Into<String>) -> Self {
        Self { component: component.into(), counters: Mutex::default(), latencies: Mutex::default() }
    }

    /// The counter under this key, created at zero on first use.
    pub fn counter(&self, name: &str, middleware: Option<&str>) -> Arc<Counter> {
        find_or_insert(&self.counters, name, middleware)
    }

    /// The latency histogram under this key, created empty on first use.
    pub fn latency(&self, name: &str, middleware: Option<&str>) -> Arc<Latency> {
        find_or_insert(&self.latencies, name, middleware)
    }

    pub fn stats(&self) -> Stats {
        let counters = lock(&self.counters)
            .iter()
            .map(|(key, c)| CounterValue { key: key.clone(), value: c.get() })
            .collect();
        let latencies = lock(&self.latencies)
            .iter()
            .map(|(key, l)| LatencyValue::new(key.clone(), &l.snapshot()))
            .collect();
        Stats { component: self.component.clone(), unit: LATENCY_UNIT.into(), counters, latencies }
    }

    /// Prometheus text exposition: counters as `_total`, latencies as summaries.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let component = &self.component;
        for (key, counter) in lock(&self.counters).iter() {
            let name = format!("brokerbench_{component}_{}_total", key.name);
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name}{} {}", labels(key, None), counter.get());
        }
        for (key, latency) in lock(&self.latencies).iter() {
            let h = latency.snapshot();
            let name = format!("brokerbench_{}_latency_microseconds", key.name);
            let _ = writeln!(out, "# TYPE {name} summary");
            for q in QUANTILES {
                let _ = writeln!(out, "{name}{} {}", labels(key, Some(q)), h.value_at_quantile(q));
            }
            let sum = h.mean() * h.len() as f64;
            let _ = writeln!(out, "{name}_sum{} {sum}", labels(key, None));
            let _ = writeln!(out, "{name}_count{} {}", labels(key, None), h.len());
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn find_or_insert<T: Default>(
    list: &Mutex<Vec<(MetricKey, Arc<T>)>>,
    name: &str,
    middleware: Option<&str>,
) -> Arc<T> {
    let key = MetricKey { name: name.into(), middleware: middleware.map(Into::into) };
    let mut list = lock(list);
    if let Some((_, found)) = list.iter().find(|(k, _)| *k == key) {
        return found.clone();
    }
    let made = Arc::new(T::default());
    list.push((key, made.clone()));
    made
}

fn labels(key: &MetricKey, quantile: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &key.middleware {
        parts.push(format!("middleware=\"{m}\""));
    }
    if let Some(q) = quantile {
        parts.push(format!("quantile=\"{q}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// What `/stats` returns: one component's counters and full latency histograms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub component: String,
    /// Unit of every latency value and histogram: microseconds.
    pub unit: String,
    pub counters: Vec<CounterValue>,
    pub latencies: Vec<LatencyValue>,
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
    fn new(key: MetricKey, h: &Histogram<u64>) -> Self {
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
    pub fn counter(&self, name: &str, middleware: Option<&str>) -> Option<u64> {
        self.counters
            .iter()
            .find(|c| c.key.name == name && c.key.middleware.as_deref() == middleware)
            .map(|c| c.value)
    }

    pub fn latency(&self, name: &str, middleware: Option<&str>) -> Option<&LatencyValue> {
        self.latencies.iter().find(|l| l.key.name == name && l.key.middleware.as_deref() == middleware)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_survives_encoding_and_merges() {
        let reg = Registry::new("test");
        let lat = reg.latency("e2e", Some("nats"));
        for us in 1..=1000 {
            lat.record_us(us);
        }
        let stats: Stats =
            serde_json::from_str(&serde_json::to_string(&reg.stats()).expect("json")).expect("back");
        let value = stats.latency("e2e", Some("nats")).expect("present");
        let mut h = decode_histogram(&value.histogram).expect("decodes");
        assert_eq!(h.len(), 1000);
        h.add(lat.snapshot()).expect("same bounds merge");
        assert_eq!(h.len(), 2000);
        assert!((499..=501).contains(&h.value_at_quantile(0.5)));
    }

    #[test]
    fn counters_render_as_prometheus() {
        let reg = Registry::new("ingress");
        reg.counter("accepted", None).add(3);
        reg.counter("published", Some("grpc")).add(2);
        let text = reg.prometheus();
        assert!(text.contains("brokerbench_ingress_accepted_total 3"));
        assert!(text.contains("brokerbench_ingress_published_total{middleware=\"grpc\"} 2"));
        assert_eq!(reg.stats().counter("published", Some("grpc")), Some(2));
    }
}
