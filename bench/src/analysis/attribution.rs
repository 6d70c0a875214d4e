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
use super::tick::{Tick, backlog_at, store_busy};
pub use crate::results::attribution::{Attribution, Backlog, Stage};
use crate::results::role::Role;
use crate::results::summary::{PathResult, ProcessCost};

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
const KEEPS_UP: f64 = 0.95;
/// The host this busy, and the stage's own processes below one core: the host's CPU limits.
const HOST_SATURATED: f64 = 0.95;
const PEGGED_CORES: f64 = 0.9;

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

/// What the verdict needs besides the ticks.
pub struct Evidence<'a> {
    pub result: &'a PathResult,
    pub cases_per_request: u64,
    /// Sink writers per subscriber; `None` with `--sink none`.
    pub writers: Option<u16>,
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
    };
    let store_busy = ev
        .writers
        .map(|w| store_busy(&ticks[b.measure_start], &ticks[b.measure_end], m, w));
    let (verdict, evidence) = verdict(m, ev.result, &growth, store_busy);
    Attribution {
        limited_by: verdict,
        evidence,
        growth_per_s: growth,
        store_busy,
    }
}

fn verdict(
    m: Middleware,
    r: &PathResult,
    growth: &Backlog,
    store_busy: Option<f64>,
) -> (Option<Stage>, String) {
    let offered = r.rates.offered;
    let threshold = (offered * GROWTH_SHARE).max(GROWTH_FLOOR);
    let grows = |x: f64| x > threshold && x * r.measure_seconds > GROWTH_SECONDS * offered;
    let p50 = |metric: LatencyMetric| r.latencies.get(&metric).map_or(0, |l| l.p50) as f64;
    // Behind schedule as a rule, not in one hiccup: a few late sends of a short phase move its
    // p99 (which the run's warnings report), only a generator that cannot keep up moves its p50.
    let lateness = r.latencies.get(&LatencyMetric::GeneratorLateness);
    let (lateness_p50, lateness_p99) = lateness.map_or((0, 0), |l| (l.p50, l.p99));
    let late = lateness_p50 > super::compute::LATE_GENERATOR_US;
    let behind = r.rates.stored_per_s < KEEPS_UP * offered
        || [
            growth.client_queue,
            growth.ingress_in_flight,
            growth.broker,
            growth.sink,
        ]
        .into_iter()
        .any(grows)
        || late;
    if !behind {
        return (
            None,
            format!(
                "kept up: stored {:.0}/s of {offered:.0}/s offered, no backlog grew faster than {threshold:.0}/s",
                r.rates.stored_per_s
            ),
        );
    }
    let (stage, why) = if store_busy.is_some_and(|b| b >= STORE_BUSY) || grows(growth.sink) {
        (
            Stage::Store,
            format!(
                "the sink's writers were busy {:.0} % of the time and its backlog grew {:.0}/s",
                store_busy.unwrap_or(0.0) * 100.0,
                growth.sink
            ),
        )
    } else if grows(growth.broker) {
        (
            Stage::Broker,
            format!(
                "the broker's backlog (published − received) grew {:.0}/s",
                growth.broker
            ),
        )
    } else if grows(growth.client_queue) || grows(growth.ingress_in_flight) {
        let (publish, http) = (
            p50(LatencyMetric::Publish),
            p50(LatencyMetric::HttpUncorrected),
        );
        let queued = format!(
            "requests piled up before the ingress ({:.0}/s) and inside it ({:.0}/s)",
            growth.client_queue, growth.ingress_in_flight
        );
        if http > 0.0 && publish >= 0.5 * http {
            (
                Stage::Broker,
                format!(
                    "{queued}; publishing took {:.2} of the {:.2} ms a request took (p50)",
                    publish / 1e3,
                    http / 1e3
                ),
            )
        } else {
            (Stage::Ingress, queued)
        }
    } else if late {
        (
            Stage::Generator,
            format!(
                "the generator fell behind its schedule (lateness p50 {:.2} ms, p99 {:.2} ms)",
                lateness_p50 as f64 / 1e3,
                lateness_p99 as f64 / 1e3
            ),
        )
    } else {
        (
            Stage::HostCpu,
            format!(
                "stored {:.0}/s of {offered:.0}/s but no backlog grew",
                r.rates.stored_per_s
            ),
        )
    };
    let busy = r.host_cpu_busy.unwrap_or(0.0);
    let cores = stage_cores(m, stage, r);
    match cores {
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
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
            .collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), if i % 2 == 0 { 5.0 } else { 9.0 }))
            .collect();
        assert!(slope(&flat).abs() < 0.5);
        assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
    }
}
