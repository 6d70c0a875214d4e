//! Counters and HDR latency histograms, shared by every component, rendered as Prometheus text
//! (`/metrics`) and as [`Stats`] JSON with each histogram in HdrHistogram's V2 compressed form
//! (`/stats`), so the bench runner can merge exact distributions instead of averaging summaries.

mod phase;
mod stats;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::counter::CounterMetric;
use crate::latency::LatencyMetric;
use crate::settings::Middleware;
pub use phase::{Phase, PhaseBounds, PhaseWindow};
pub use stats::{CounterValue, LatencyValue, OwnUsage, Serves, SinceError, Stats};

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
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).unwrap_or_else(|_| {
        Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is valid")
    })
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

/// One latency distribution per phase, behind mutexes; recording is a few nanoseconds under no
/// contention. Every sample is filed under the phase of its case's origin time.
#[derive(Debug)]
pub struct Latency {
    window: Arc<PhaseWindow>,
    phases: [Mutex<Histogram<u64>>; 3],
}

impl Latency {
    pub fn new(window: Arc<PhaseWindow>) -> Self {
        Self {
            window,
            phases: std::array::from_fn(|_| Mutex::new(new_histogram())),
        }
    }

    /// Records `us` microseconds, `n` times, for cases whose origin time is `origin_ns`.
    /// Values outside 1 µs – 1 h are clamped to the nearest bound.
    pub fn record_n_us(&self, origin_ns: i64, us: u64, n: u64) {
        let phase = self.window.phase_of(origin_ns);
        lock(&self.phases[phase.index()]).saturating_record_n(us.max(1), n);
    }

    pub fn record_us(&self, origin_ns: i64, us: u64) {
        self.record_n_us(origin_ns, us, 1);
    }

    /// Records the time from `start_ns` to `end_ns` (wall-clock nanoseconds, clamped at 1 µs) for
    /// a case whose origin time is `origin_ns`.
    pub fn record_between_ns(&self, origin_ns: i64, start_ns: i64, end_ns: i64) {
        let us = u64::try_from(end_ns.saturating_sub(start_ns) / 1_000).unwrap_or(0);
        self.record_us(origin_ns, us);
    }

    /// The samples of one phase, or of all phases together.
    pub fn snapshot(&self, phase: Option<Phase>) -> Histogram<u64> {
        match phase {
            Some(p) => lock(&self.phases[p.index()]).clone(),
            None => {
                let mut all = new_histogram();
                for p in &self.phases {
                    let _ = all.add(&*lock(p));
                }
                all
            }
        }
    }
}

/// Identifies a metric: a short name and, on per-path metrics, the middleware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricKey {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middleware: Option<String>,
    /// On histograms: the phase their cases belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

impl MetricKey {
    /// Whether this key is the metric of path `middleware` (or of no path, for `None`).
    pub fn is_for(&self, middleware: Option<Middleware>) -> bool {
        self.middleware.as_deref() == middleware.map(Middleware::name)
    }
}

/// Every counter and histogram of one process (component).
#[derive(Debug)]
pub struct Registry {
    component: String,
    window: Arc<PhaseWindow>,
    counters: Mutex<Vec<(MetricKey, Arc<Counter>)>>,
    latencies: Mutex<Vec<(MetricKey, Arc<Latency>)>>,
    settings: Vec<String>,
    serves: Option<Serves>,
}

impl Registry {
    pub fn new(component: impl Into<String>) -> Self {
        Self::with_settings(component, Vec::new())
    }

    /// A registry whose `/stats` also report the settings the process runs with (as command-line
    /// options), so a runner reads what its children really did, not what it meant to ask.
    pub fn with_settings(component: impl Into<String>, settings: Vec<String>) -> Self {
        Self {
            component: component.into(),
            window: Arc::default(),
            counters: Mutex::default(),
            latencies: Mutex::default(),
            settings,
            serves: None,
        }
    }

    /// This registry, reporting in `/stats` what its process serves.
    pub fn serving(self, serves: Serves) -> Self {
        Self {
            serves: Some(serves),
            ..self
        }
    }

    /// The measure window every histogram of this process files its samples by.
    pub fn window(&self) -> &Arc<PhaseWindow> {
        &self.window
    }

    /// The counter under this key, created at zero on first use.
    pub fn counter(&self, metric: CounterMetric, middleware: Option<Middleware>) -> Arc<Counter> {
        find_or_insert(&self.counters, metric.key(), middleware, Counter::default)
    }

    /// The latency histogram under this key, created empty on first use.
    pub fn latency(&self, metric: LatencyMetric, middleware: Option<Middleware>) -> Arc<Latency> {
        find_or_insert(&self.latencies, metric.key(), middleware, || {
            Latency::new(self.window.clone())
        })
    }

    pub fn stats(&self) -> Stats {
        let counters = lock(&self.counters)
            .iter()
            .map(|(key, c)| CounterValue {
                key: key.clone(),
                value: c.get(),
            })
            .collect();
        let latencies = lock(&self.latencies)
            .iter()
            .flat_map(|(key, l)| {
                Phase::ALL.map(|phase| {
                    LatencyValue::new(
                        MetricKey {
                            phase: Some(phase),
                            ..key.clone()
                        },
                        &l.snapshot(Some(phase)),
                    )
                })
            })
            .collect();
        Stats {
            component: self.component.clone(),
            unit: LATENCY_UNIT.into(),
            counters,
            latencies,
            settings: self.settings.clone(),
            pid: Some(std::process::id()),
            usage: OwnUsage::now(),
            serves: self.serves.clone(),
        }
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
            let h = latency.snapshot(None);
            let name = format!("brokerbench_{}_latency_microseconds", key.name);
            let _ = writeln!(out, "# TYPE {name} summary");
            for q in QUANTILES {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(key, Some(q)),
                    h.value_at_quantile(q)
                );
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

fn find_or_insert<T>(
    list: &Mutex<Vec<(MetricKey, Arc<T>)>>,
    name: &str,
    middleware: Option<Middleware>,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let key = MetricKey {
        name: name.into(),
        middleware: middleware.map(|m| m.name().into()),
        phase: None,
    };
    let mut list = lock(list);
    if let Some((_, found)) = list.iter().find(|(k, _)| *k == key) {
        return found.clone();
    }
    let made = Arc::new(make());
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
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_survives_encoding_and_merges() {
        let reg = Registry::new("test");
        let lat = reg.latency(LatencyMetric::E2e, Some(Middleware::Nats));
        for us in 1..=1000 {
            lat.record_us(0, us);
        }
        let stats: Stats =
            serde_json::from_str(&serde_json::to_string(&reg.stats()).expect("json"))
                .expect("back");
        let mut h = stats
            .histogram(LatencyMetric::E2e, Some(Middleware::Nats), None)
            .expect("present");
        assert_eq!(h.len(), 1000);
        h.add(lat.snapshot(None)).expect("same bounds merge");
        assert_eq!(h.len(), 2000);
        assert!((499..=501).contains(&h.value_at_quantile(0.5)));
    }

    #[test]
    fn samples_belong_to_the_phase_of_their_origin_not_of_their_recording() {
        let reg = Registry::new("test");
        let lat = reg.latency(LatencyMetric::E2e, None);
        lat.record_us(5, 1);
        reg.window().set(PhaseBounds {
            measure_start_ns: 100,
            measure_end_ns: 200,
        });
        for (origin, us) in [
            (99, 10),
            (100, 20),
            (150, 30),
            (199, 40),
            (200, 50),
            (-7, 60),
        ] {
            lat.record_us(origin, us);
        }
        lat.record_n_us(120, 3_600_000_001, 2);
        let stats = reg.stats();
        let count = |phase| {
            stats
                .histogram(LatencyMetric::E2e, None, Some(phase))
                .map(|h| h.len())
        };
        assert_eq!(
            count(Phase::Warmup),
            Some(2),
            "origins 99 and -7 (the sample before the window was set counts as measured)"
        );
        assert_eq!(
            count(Phase::Measure),
            Some(1 + 3 + 2),
            "origins 5 (unset window), 100, 150, 199 and two clamped samples"
        );
        assert_eq!(count(Phase::After), Some(1));
        assert_eq!(
            stats
                .histogram(LatencyMetric::E2e, None, None)
                .map(|h| h.len()),
            Some(9)
        );
        assert!(
            stats
                .histogram(LatencyMetric::E2e, None, Some(Phase::Measure))
                .expect("measure")
                .max()
                >= 3_600_000_000,
            "clamped to the top"
        );
        assert!(stats.histogram(LatencyMetric::Store, None, None).is_none());
    }

    #[test]
    fn counters_render_as_prometheus() {
        let reg = Registry::new("ingress");
        reg.counter(CounterMetric::Accepted, None).add(3);
        reg.counter(CounterMetric::Published, Some(Middleware::Grpc))
            .add(2);
        let text = reg.prometheus();
        assert!(text.contains("brokerbench_ingress_accepted_total 3"));
        assert!(text.contains("brokerbench_ingress_published_total{middleware=\"grpc\"} 2"));
        assert_eq!(
            reg.stats()
                .counter(CounterMetric::Published, Some(Middleware::Grpc)),
            Some(2)
        );
    }
}
