//! `/stats`: one component's counters and full histograms as JSON, and reading them back.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{
    HistogramCodecError, MetricKey, Phase, decode_histogram, encode_histogram, new_histogram,
};
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
    /// The process that counted these figures: a reader tells from it that a process was
    /// replaced (killed by a fault and started again) and its counts began again from zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The process's own CPU time and memory at this reading: what a runner that did not start
    /// it (attached to a pipeline elsewhere, `run --target`) charges it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OwnUsage>,
    /// What the process serves: a runner that did not start it checks its target against this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serves: Option<Serves>,
}

/// What a process serves, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Serves {
    /// An ingress publishing through `middlewares`; `every_case_to_each` unless it splits the
    /// cases among them (routing `split`), when each path gets only its share of the load.
    Ingress {
        middlewares: Vec<Middleware>,
        every_case_to_each: bool,
    },
    Subscriber {
        middleware: Middleware,
    },
}

/// A process's CPU time so far and its resident memory now, read from `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OwnUsage {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
}

impl OwnUsage {
    /// This process's usage now; `None` where `/proc` cannot tell.
    pub fn now() -> Option<Self> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        let ticks = procfs::ticks_per_second() as f64;
        Some(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            rss_kib: stat.rss * procfs::page_size() / 1024,
        })
    }
}

/// Why a reading cannot be taken relative to an earlier one of the same process.
#[derive(Debug, thiserror::Error)]
pub enum SinceError {
    #[error(transparent)]
    Codec(#[from] HistogramCodecError),
    #[error("{0} went backwards since the baseline (was the process replaced?)")]
    Backwards(String),
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

    /// The figures of a process that replaced the one `earlier` was read from, continued from
    /// them: every counter and histogram of `earlier` added to this one's, so that cumulative
    /// figures (and every difference of two readings) go on across the restart.
    pub fn continuing(mut self, earlier: &Stats) -> Result<Stats, HistogramCodecError> {
        for before in &earlier.counters {
            match self.counters.iter_mut().find(|c| c.key == before.key) {
                Some(now) => now.value += before.value,
                None => self.counters.push(before.clone()),
            }
        }
        for before in &earlier.latencies {
            match self.latencies.iter_mut().find(|l| l.key == before.key) {
                Some(now) => {
                    let mut sum = decode_histogram(&now.histogram)?;
                    sum.add(decode_histogram(&before.histogram)?)
                        .map_err(|e| HistogramCodecError::Decode(format!("{e:?}")))?;
                    *now = LatencyValue::new(now.key.clone(), &sum);
                }
                None => self.latencies.push(before.clone()),
            }
        }
        Ok(self)
    }

    /// What this process counted since `baseline`, an earlier reading of the same process: every
    /// counter and histogram less the baseline's. How a runner attached to components that ran
    /// before it counts only its own run's cases.
    pub fn since(mut self, baseline: &Stats) -> Result<Stats, SinceError> {
        for before in &baseline.counters {
            let now = self.counters.iter_mut().find(|c| c.key == before.key);
            let backwards = || SinceError::Backwards(before.key.name.clone());
            let now = now.ok_or_else(backwards)?;
            now.value = now.value.checked_sub(before.value).ok_or_else(backwards)?;
        }
        for before in &baseline.latencies {
            let backwards = || SinceError::Backwards(before.key.name.clone());
            let now = self.latencies.iter_mut().find(|l| l.key == before.key);
            let now = now.ok_or_else(backwards)?;
            let mut rest = decode_histogram(&now.histogram)?;
            rest.subtract(decode_histogram(&before.histogram)?)
                .map_err(|_| backwards())?;
            *now = LatencyValue::new(now.key.clone(), &rest);
        }
        Ok(self)
    }

    /// These figures with every sample of `metric` (on `middleware`) taken `by_us` earlier:
    /// how a latency that ends on this component's clock is corrected by that clock's measured
    /// offset. A sample that would fall below 1 µs is kept at 1 µs, as when it was recorded.
    pub fn shifted(
        mut self,
        metric: LatencyMetric,
        middleware: Option<Middleware>,
        by_us: i64,
    ) -> Result<Stats, HistogramCodecError> {
        if by_us == 0 {
            return Ok(self);
        }
        let shifted = self
            .latencies
            .iter_mut()
            .filter(|l| l.key.name == metric.key() && l.key.is_for(middleware));
        for l in shifted {
            let before = decode_histogram(&l.histogram)?;
            let mut after = new_histogram();
            for v in before.iter_recorded() {
                let value = before.median_equivalent(v.value_iterated_to()) as i64;
                let moved = u64::try_from(value - by_us).unwrap_or(0).max(1);
                after.saturating_record_n(moved, v.count_at_value());
            }
            *l = LatencyValue::new(l.key.clone(), &after);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Registry;
    use super::*;

    /// A subscriber's figures: `stored` cases, each stored in `store_us`.
    fn subscriber(stored: u64, store_us: u64, duplicates: Option<u64>) -> Stats {
        let reg = Registry::new("subscriber");
        let m = Some(Middleware::Nats);
        reg.counter(CounterMetric::Stored, m).add(stored);
        if let Some(d) = duplicates {
            reg.counter(CounterMetric::Duplicates, m).add(d);
        }
        let store = reg.latency(LatencyMetric::Store, m);
        for _ in 0..stored {
            store.record_us(0, store_us);
        }
        reg.stats()
    }

    #[test]
    fn a_replacement_continues_the_counters_and_histograms_of_the_killed_process() {
        let killed = subscriber(30, 100, Some(4));
        let replacement = subscriber(10, 5_000, None);
        assert_eq!(killed.pid, Some(std::process::id()));
        let m = Some(Middleware::Nats);
        let continued = replacement.continuing(&killed).expect("they merge");
        assert_eq!(continued.counter(CounterMetric::Stored, m), Some(40));
        assert_eq!(
            continued.counter(CounterMetric::Duplicates, m),
            Some(4),
            "a counter only the killed process had is kept"
        );
        let store = continued
            .histogram(LatencyMetric::Store, m, None)
            .expect("store latency");
        assert_eq!(store.len(), 40);
        assert_eq!(store.value_at_quantile(0.5), 100, "30 of 40 took 100 µs");
        assert!(store.max() >= 4_995, "the replacement's 5 ms are there");
        let measured = continued
            .latencies
            .iter()
            .find(|l| {
                l.key.name == LatencyMetric::Store.key() && l.key.phase == Some(Phase::Measure)
            })
            .expect("the measure phase's histogram");
        assert_eq!(
            (measured.count, measured.p50),
            (40, 100),
            "headline figures redone"
        );
    }

    #[test]
    fn since_a_baseline_leaves_only_what_was_counted_after_it() {
        let m = Some(Middleware::Nats);
        let reg = Registry::new("subscriber");
        let store = reg.latency(LatencyMetric::Store, m);
        reg.counter(CounterMetric::Stored, m).add(30);
        (0..30).for_each(|_| store.record_us(0, 100));
        let baseline = reg.stats();
        reg.counter(CounterMetric::Stored, m).add(10);
        (0..10).for_each(|_| store.record_us(0, 5_000));
        let since = reg.stats().since(&baseline).expect("same process, later");
        assert_eq!(since.counter(CounterMetric::Stored, m), Some(10));
        let h = since
            .histogram(LatencyMetric::Store, m, None)
            .expect("store");
        assert_eq!(h.len(), 10);
        assert!(h.min() >= 4_995, "only the 5 ms samples are left");
        assert!(since.usage.is_some_and(|u| u.rss_kib > 0), "own usage read");
        let earlier = subscriber(5, 100, None);
        assert!(
            earlier.since(&baseline).is_err(),
            "a process that counted less than its baseline was replaced"
        );
    }

    #[test]
    fn a_shift_moves_every_sample_of_one_metric_only() {
        let m = Some(Middleware::Nats);
        let shifted = subscriber(20, 50_700, None)
            .shifted(LatencyMetric::Store, m, 50_000)
            .expect("it decodes");
        let store = shifted
            .histogram(LatencyMetric::Store, m, None)
            .expect("store latency");
        assert_eq!(store.len(), 20);
        // 50,700 µs is kept to 3 significant digits (± 16 µs) before the shift.
        let p50 = store.value_at_quantile(0.5);
        assert!((690..=720).contains(&p50), "{p50}");
        let other = shifted.histogram(LatencyMetric::Store, Some(Middleware::Redis), None);
        assert!(other.is_none(), "another path's histogram is not made up");
        let below = subscriber(3, 100, None)
            .shifted(LatencyMetric::Store, m, 1_000)
            .expect("it decodes");
        let store = below
            .histogram(LatencyMetric::Store, m, None)
            .expect("store");
        assert_eq!(
            (store.len(), store.max()),
            (3, 1),
            "clamped at 1 µs, not dropped"
        );
        let untouched = subscriber(3, 100, None)
            .shifted(LatencyMetric::E2e, m, 1_000)
            .expect("nothing to shift");
        let store = untouched
            .histogram(LatencyMetric::Store, m, None)
            .expect("store");
        assert_eq!(store.max(), 100, "another metric is left alone");
    }

    #[test]
    fn a_histogram_that_does_not_decode_is_an_error_not_a_silent_loss() {
        let mut killed = subscriber(3, 100, None);
        killed.latencies[0].histogram = "not base64!".into();
        assert!(subscriber(1, 100, None).continuing(&killed).is_err());
    }
}
