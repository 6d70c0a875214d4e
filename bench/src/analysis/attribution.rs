//! Which stage limits a path: once a second the runner reads each stage's backlog from the
//! counters of the generator, the ingress and the subscriber, and a run that falls behind is
//! charged to the stage whose backlog grows.
//!
//! Stages are checked from the end of the pipeline towards its start, because a slow stage
//! backs up every stage before it (a slow store fills the sink, whose full window stops the
//! consumer, whose broker queue grows, …): the furthest stage that is behind is the cause.
//! When that stage's own processes were not using a core while the host was nearly saturated,
//! the honest answer on a small machine is the host's CPU, not the stage.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use super::compute::Bounds;
use super::tick::{Tick, backlog_at, depth_at, store_busy};
pub use crate::results::attribution::{Attribution, Backlog, Stage};
use crate::results::resources::ProcessCost;
use crate::results::role::Role;
use crate::results::summary::PathResult;

/// A backlog grows when it rises by more than this share of the offered rate per second …
const GROWTH_SHARE: f64 = 0.02;
/// … and by more than this many cases per second (small rates are noisy in absolute terms) …
const GROWTH_FLOOR: f64 = 10.0;
/// … and by more than this many seconds' worth of the offered rate over the whole phase, so a
/// short phase's one-off hiccup (a 100 ms store stall) is not read as a trend.
const GROWTH_SECONDS: f64 = 0.25;
/// The sink's writers busy this share of the time: the store is the limit.
const STORE_BUSY: f64 = 0.85;
/// Stored below this share of offered: the path fell behind.
const KEEPS_UP: f64 = 0.99;
/// The host this busy, and the stage's own processes below one core: the host's CPU limits.
const HOST_SATURATED: f64 = 0.95;
const PEGGED_CORES: f64 = 0.9;
/// With no backlog to point at, the host is blamed only when it was at least this busy.
const HOST_BUSY_EVIDENCE: f64 = 0.9;
/// The subscriber holding this share of its consumer window (median over the phase): full.
const WINDOW_FULL: f64 = 0.9;

/// Least-squares slope of `y` against `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx > 0.0 { sxy / sxx } else { 0.0 }
}

/// The median of `values` (0 when there are none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// What the verdict needs besides the ticks.
pub struct Evidence<'a> {
    pub result: &'a PathResult,
    pub cases_per_request: u64,
    /// Sink writers per subscriber; `None` with `--sink none`.
    pub writers: Option<u16>,
    /// The consumer window (`--consumer-window`).
    pub window: u16,
    /// Why the broker's own depth was not read on this path, if it was not.
    pub depth_unreadable: Option<&'static str>,
}

/// The subscriber's side of the path over the measure phase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsumerSide {
    /// Share of the time the sink's writers spent writing; `None` with `--sink none`.
    pub store_busy: Option<f64>,
    /// Cases delivered to the subscriber and not yet acknowledged (what its window holds),
    /// median over the phase: read where the broker's depth was, else only the sink's part.
    pub held: f64,
    pub window: u16,
    pub depth_unreadable: Option<&'static str>,
}

impl ConsumerSide {
    fn of(measured: &[Tick], m: Middleware, ev: &Evidence, store_busy: Option<f64>) -> Self {
        let held = measured.iter().map(|t| {
            let b = backlog_at(t, m, ev.cases_per_request);
            // published − received − ready: delivered, not yet taken in by the subscriber.
            let in_client = depth_at(t, m).map_or(0.0, |d| (b.broker - d.ready as f64).max(0.0));
            b.sink + in_client
        });
        Self {
            store_busy,
            held: median(held.collect()),
            window: ev.window,
            depth_unreadable: ev.depth_unreadable,
        }
    }
}

/// Names the stage that limited path `m` during the measure phase, if any.
pub fn attribute(ticks: &[Tick], b: Bounds, m: Middleware, ev: &Evidence) -> Attribution {
    let measured = &ticks[b.measure_start..=b.measure_end.min(ticks.len() - 1)];
    let series = |pick: fn(&Backlog) -> f64| -> f64 {
        let points: Vec<(f64, f64)> = measured
            .iter()
            .map(|t| (t.at_s, pick(&backlog_at(t, m, ev.cases_per_request))))
            .collect();
        slope(&points)
    };
    let growth = Backlog {
        client_queue: series(|x| x.client_queue),
        ingress_in_flight: series(|x| x.ingress_in_flight),
        broker: series(|x| x.broker),
        sink: series(|x| x.sink),
        broker_ready: ready_growth(measured, m),
    };
    let store_busy = ev
        .writers
        .map(|w| store_busy(&ticks[b.measure_start], &ticks[b.measure_end], m, w));
    let consumer = ConsumerSide::of(measured, m, ev, store_busy);
    let (verdict, evidence) = verdict(m, ev.result, &growth, &consumer);
    Attribution {
        limited_by: verdict,
        evidence,
        growth_per_s: growth,
        store_busy: consumer.store_busy,
    }
}

/// Growth of the broker's own ready count over the ticks where it was read; `None` with fewer
/// than half of them (a broker down for most of the phase says nothing about its trend).
fn ready_growth(measured: &[Tick], m: Middleware) -> Option<f64> {
    let points: Vec<(f64, f64)> = measured
        .iter()
        .filter_map(|t| depth_at(t, m).map(|d| (t.at_s, d.ready as f64)))
        .collect();
    (points.len() >= 2 && 2 * points.len() >= measured.len()).then(|| slope(&points))
}

/// The keep-up rule of one path's run: stored at least [`KEEPS_UP`] of the offered rate, no
/// backlog growing, and the generator on schedule.
struct KeepUpRule<'a> {
    r: &'a PathResult,
    threshold: f64,
}

impl<'a> KeepUpRule<'a> {
    fn new(r: &'a PathResult) -> Self {
        let threshold = (r.rates.offered * GROWTH_SHARE).max(GROWTH_FLOOR);
        Self { r, threshold }
    }

    /// A backlog growing `per_s` grows as a trend, not in one hiccup.
    fn grows(&self, per_s: f64) -> bool {
        per_s > self.threshold
            && per_s * self.r.measure_seconds > GROWTH_SECONDS * self.r.rates.offered
    }

    /// Generator lateness (p50, p99), µs.
    fn lateness(&self) -> (u64, u64) {
        let lateness = self.r.latencies.get(&LatencyMetric::GeneratorLateness);
        lateness.map_or((0, 0), |l| (l.p50, l.p99))
    }

    /// Behind schedule as a rule, not in one hiccup: a few late sends of a short phase move its
    /// p99 (which the run's warnings report), only a generator that cannot keep up moves its p50.
    fn late(&self) -> bool {
        self.lateness().0 > super::compute::LATE_GENERATOR_US
    }

    fn behind(&self, growth: &Backlog) -> bool {
        let backlogs = [
            growth.client_queue,
            growth.ingress_in_flight,
            growth.broker,
            growth.sink,
        ];
        self.r.rates.stored_per_s < KEEPS_UP * self.r.rates.offered
            || backlogs.into_iter().any(|g| self.grows(g))
            || self.late()
    }

    /// Published − received grew: the broker did not deliver, or the subscriber did not take.
    /// A full window says the subscriber; else the broker's own ready count decides, where the
    /// broker tells it.
    fn broker_or_subscriber(&self, growth: &Backlog, c: &ConsumerSide) -> (Stage, String) {
        let grew = format!("published − received grew {:.0}/s", growth.broker);
        let held = format!(
            "{:.0} of its {} cases of window delivered and not yet acknowledged (median)",
            c.held, c.window
        );
        if c.held >= WINDOW_FULL * f64::from(c.window) {
            let why = format!("{grew} while the subscriber held its window full, {held}");
            return (Stage::Subscriber, why);
        }
        match growth.broker_ready {
            Some(ready) if self.grows(ready) => (
                Stage::Broker,
                format!(
                    "{grew}; the broker's own count of cases ready to deliver grew {ready:.0}/s \
                     while the subscriber had room, {held}"
                ),
            ),
            Some(ready) => (
                Stage::Subscriber,
                format!(
                    "{grew} but the broker's own ready count did not ({ready:.0}/s): the cases \
                     were delivered and waited in the subscriber's client, {held}"
                ),
            ),
            None => {
                let why = c.depth_unreadable.unwrap_or("no reading of it succeeded");
                let why = format!(
                    "{grew}; the broker's own depth was not read ({why}), so this counts what \
                     its client in the subscriber already held too"
                );
                (Stage::Broker, why)
            }
        }
    }

    fn p50_ms(&self, metric: LatencyMetric) -> f64 {
        self.r.latencies.get(&metric).map_or(0, |l| l.p50) as f64 / 1e3
    }

    /// The furthest stage along the pipeline that is behind, and why.
    fn furthest_behind(&self, growth: &Backlog, consumer: &ConsumerSide) -> (Stage, String) {
        let r = self.r;
        let store_busy = consumer.store_busy;
        if store_busy.is_some_and(|b| b >= STORE_BUSY) || self.grows(growth.sink) {
            let busy = store_busy.unwrap_or(0.0) * 100.0;
            let why = format!(
                "the sink's writers were busy {busy:.0} % of the time and its backlog grew {:.0}/s",
                growth.sink
            );
            return (Stage::Store, why);
        }
        // gRPC has no broker: published − received is the subscriber's own receive.
        let brokered = r.middleware != Middleware::Grpc;
        if brokered && self.grows(growth.broker) {
            return self.broker_or_subscriber(growth, consumer);
        }
        if self.grows(growth.client_queue) || self.grows(growth.ingress_in_flight) {
            let (publish, http) = (
                self.p50_ms(LatencyMetric::Publish),
                self.p50_ms(LatencyMetric::HttpUncorrected),
            );
            let queued = format!(
                "requests piled up before the ingress ({:.0}/s) and inside it ({:.0}/s)",
                growth.client_queue, growth.ingress_in_flight
            );
            if http > 0.0 && publish >= 0.5 * http {
                let why = format!(
                    "{queued}; publishing took {publish:.2} of the {http:.2} ms a request took (p50)"
                );
                if !brokered {
                    let why = format!(
                        "{why}, and gRPC's publish returns only once the subscriber has stored the batch"
                    );
                    return (Stage::Store, why);
                }
                return (Stage::Broker, why);
            }
            return (Stage::Ingress, queued);
        }
        if self.late() {
            let (p50, p99) = self.lateness();
            let why = format!(
                "the generator fell behind its schedule (lateness p50 {:.2} ms, p99 {:.2} ms)",
                p50 as f64 / 1e3,
                p99 as f64 / 1e3
            );
            return (Stage::Generator, why);
        }
        let busy = r.host_cpu_busy.unwrap_or(0.0);
        let why = format!(
            "stored {:.0}/s of {:.0}/s but no backlog grew; host CPU {:.0} % busy",
            r.rates.stored_per_s,
            r.rates.offered,
            busy * 100.0
        );
        if busy >= HOST_BUSY_EVIDENCE {
            (Stage::HostCpu, why)
        } else {
            (Stage::Unexplained, why)
        }
    }
}

fn verdict(
    m: Middleware,
    r: &PathResult,
    growth: &Backlog,
    consumer: &ConsumerSide,
) -> (Option<Stage>, String) {
    let rule = KeepUpRule::new(r);
    if !rule.behind(growth) {
        let why = format!(
            "kept up: stored {:.0}/s of {:.0}/s offered, no backlog grew faster than {:.0}/s",
            r.rates.stored_per_s, r.rates.offered, rule.threshold
        );
        return (None, why);
    }
    let (stage, why) = rule.furthest_behind(growth, consumer);
    let busy = r.host_cpu_busy.unwrap_or(0.0);
    match stage_cores(m, stage, r) {
        Some(c) if busy >= HOST_SATURATED && c < PEGGED_CORES && stage != Stage::Store => (
            Some(Stage::HostCpu),
            format!(
                "{why}; but the {} used only {c:.2} cores while the host was {:.0} % busy",
                stage.label(),
                busy * 100.0
            ),
        ),
        _ => (
            Some(stage),
            format!("{why}; host CPU {:.0} % busy", busy * 100.0),
        ),
    }
}

/// Cores the stage's own processes used during the measure phase, where the run sampled them.
fn stage_cores(m: Middleware, stage: Stage, r: &PathResult) -> Option<f64> {
    let role = match stage {
        Stage::Ingress => Role::Ingress,
        Stage::Broker => Role::Broker(m),
        Stage::Subscriber => Role::Subscriber(m),
        _ => return None,
    };
    let all = r.resources.iter().chain(&r.shared_resources);
    let seconds: f64 = all
        .filter(|p: &&ProcessCost| p.role == role)
        .map(|p| p.cpu_seconds)
        .sum();
    (seconds > 0.0).then(|| seconds / r.measure_seconds.max(1e-9))
}

#[cfg(test)]
#[path = "attribution_tests.rs"]
mod tests;
