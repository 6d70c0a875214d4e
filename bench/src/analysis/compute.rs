//! Turning a run's ticks into its results. Latencies come from the measure-phase histograms of
//! the last tick (every component files each sample by its case's intended time, so no tick
//! boundary can move a case between phases); rates and costs over the measure phase are
//! differences between the tick taken when it began (`measure_start`) and when it ended.

use std::collections::BTreeMap;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::{LatencyMetric, Recorder};
use brokerbench_common::metrics::{Phase, new_histogram};
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::cost::{disk_bytes, peak_rss, resources};
use super::tick::{Tick, counter, subscriber};
use crate::results::loss::LossById;
use crate::results::rows::SeriesRow;
use crate::results::summary::{Accounting, LatencySummary, PathResult, Rates};

/// Indices of the ticks bounding the phases of one run.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub measure_start: usize,
    pub measure_end: usize,
    pub last: usize,
}

/// What a path's result needs besides its ticks.
#[derive(Debug, Clone, Copy)]
pub struct PathContext {
    pub repeat: u32,
    pub offered: f64,
    /// The configured length of the measure phase (its cases are those intended within it).
    pub measure_seconds: f64,
    pub cases_per_request: u64,
    /// Documents counted in the path's collection after the drain (none with `--sink none`).
    pub documents: Option<u64>,
    /// With routing `all` the ingress and the store serve every path: they are shown separately
    /// instead of being charged to each.
    pub shared_ingress: bool,
    /// The drain ended after a quiet period, not at its deadline.
    pub drained_quietly: bool,
    /// What subscribers killed by faults held at their last readings.
    pub in_hand_at_kills: u64,
}

/// The host was busier than this during the measure phase: the figures reflect CPU contention.
pub const CONTENTION_BUSY: f64 = 0.9;
/// Generator lateness p99 above this is an instrument problem the report states.
pub const LATE_GENERATOR_US: u64 = 1_000;

/// `later − earlier`, or `later` alone if they cannot be subtracted (a restarted process).
pub fn delta(later: &Histogram<u64>, earlier: &Histogram<u64>) -> Histogram<u64> {
    let mut d = later.clone();
    if d.subtract(earlier).is_err() {
        return later.clone();
    }
    d
}

/// One latency metric of path `m` at a tick, for one phase or all (`None`); `None` when the
/// component holding it could not be read.
pub fn metric_at(
    tick: &Tick,
    m: Middleware,
    metric: LatencyMetric,
    phase: Option<Phase>,
) -> Option<Histogram<u64>> {
    let (stats, middleware) = match metric.recorder() {
        Recorder::Ingress => (tick.ingress.as_ref(), Some(m)),
        Recorder::Subscriber => (subscriber(tick, m).as_ref(), Some(m)),
        Recorder::Generator => (Some(&tick.load), None),
    };
    let stats = stats?;
    Some(
        stats
            .histogram(metric, middleware, phase)
            .unwrap_or_else(new_histogram),
    )
}

/// Every latency metric of path `m` at one tick (cumulative since the processes started), of
/// one phase or of all; a metric that could not be read is empty.
pub fn latencies_at(
    tick: &Tick,
    m: Middleware,
    phase: Option<Phase>,
) -> BTreeMap<LatencyMetric, Histogram<u64>> {
    LatencyMetric::ALL
        .into_iter()
        .map(|metric| {
            (
                metric,
                metric_at(tick, m, metric, phase).unwrap_or_else(new_histogram),
            )
        })
        .collect()
}

pub fn path_result(m: Middleware, ticks: &[Tick], b: Bounds, ctx: PathContext) -> PathResult {
    let (w, e, last) = (
        &ticks[b.measure_start],
        &ticks[b.measure_end],
        &ticks[b.last],
    );
    let seconds = (e.at_s - w.at_s).max(1e-9);
    let measured = latencies_at(last, m, Some(Phase::Measure));
    let latencies: BTreeMap<LatencyMetric, LatencySummary> = measured
        .iter()
        .map(|(metric, h)| (*metric, LatencySummary::of(h)))
        .collect();
    let stored_at = |t: &Tick| counter(subscriber(t, m), CounterMetric::Stored, Some(m));
    let rates = Rates {
        offered: ctx.offered,
        achieved: measured[&LatencyMetric::HttpCorrected].len() as f64
            * ctx.cases_per_request as f64
            / ctx.measure_seconds.max(1e-9),
        stored_per_s: stored_at(e).saturating_sub(stored_at(w)) as f64 / seconds,
    };
    let mut accounting = accounting(m, last, ctx.documents, ctx.drained_quietly);
    accounting.in_hand_at_kills = ctx.in_hand_at_kills;
    check_accounting(&mut accounting, ctx.cases_per_request, None);
    let window = ((b.measure_start, b.measure_end), b.last);
    let (own, shared) = resources(ticks, window, m, ctx.shared_ingress);
    let measured_cases = stored_at(e).saturating_sub(stored_at(w));
    let cpu: f64 = own.iter().map(|r| r.cpu_seconds).sum();
    let host_cpu_busy = host_busy(w, e);
    let lateness_p99 = measured[&LatencyMetric::GeneratorLateness].value_at_quantile(0.99);
    let mut warnings = Vec::new();
    if let Some(busy) = host_cpu_busy.filter(|b| *b > CONTENTION_BUSY) {
        warnings.push(format!("the host's CPU was {:.0} % busy during the measure phase: these figures reflect CPU contention", busy * 100.0));
    }
    if lateness_p99 > LATE_GENERATOR_US {
        warnings.push(format!("the generator sent late (lateness p99 {:.2} ms > 1 ms): the corrected latencies include its own delay", lateness_p99 as f64 / 1e3));
    }
    PathResult {
        middleware: m,
        repeat: ctx.repeat,
        measure_seconds: ctx.measure_seconds,
        latencies,
        rates,
        accounting,
        peak_rss_kib: peak_rss(ticks, &own),
        disk_bytes_per_10k_cases: disk_bytes(&own)
            .filter(|_| measured_cases > 0)
            .map(|bytes| bytes as f64 / measured_cases as f64 * 10_000.0),
        resources: own,
        shared_resources: shared,
        cpu_seconds_per_10k_cases: (measured_cases > 0)
            .then(|| cpu / measured_cases as f64 * 10_000.0),
        host_cpu_busy,
        warnings,
        host_source: last.ram.as_ref().map(|(s, _)| *s),
        guarantee: None,
        hold_calibration: None,
        answer_hold_calibration: None,
        attribution: None,
        loss: None,
        e2e_census: None,
        resilience: Vec::new(),
        clocks: Vec::new(),
    }
}

/// Busy share of the host's CPU time between two ticks.
fn host_busy(a: &Tick, b: &Tick) -> Option<f64> {
    let (x, y) = (a.host_cpu?, b.host_cpu?);
    let total = y.total_s - x.total_s;
    (total > 0.0).then(|| ((y.busy_s - x.busy_s) / total).clamp(0.0, 1.0))
}

fn accounting(
    m: Middleware,
    last: &Tick,
    documents: Option<u64>,
    drained_quietly: bool,
) -> Accounting {
    let sub = subscriber(last, m);
    let load = |metric: CounterMetric| last.load.counter(metric, None).unwrap_or(0);
    Accounting {
        sent: load(CounterMetric::SentCases),
        sent_requests: load(CounterMetric::SentRequests),
        http_2xx: load(CounterMetric::Http2xx),
        http_4xx: load(CounterMetric::Http4xx),
        http_5xx: load(CounterMetric::Http5xx),
        transport_errors: load(CounterMetric::TransportErrors),
        unanswered_requests: load(CounterMetric::Unanswered),
        retries: load(CounterMetric::Retries),
        retried_5xx: load(CounterMetric::Retried5xx),
        retried_transport: load(CounterMetric::RetriedTransport),
        accepted: counter(&last.ingress, CounterMetric::Accepted, None),
        published: counter(&last.ingress, CounterMetric::Published, Some(m)),
        publish_errors: counter(&last.ingress, CounterMetric::PublishErrors, Some(m)),
        received: counter(sub, CounterMetric::Received, Some(m)),
        stored: counter(sub, CounterMetric::Stored, Some(m)),
        duplicates: counter(sub, CounterMetric::Duplicates, Some(m)),
        dead_lettered: counter(sub, CounterMetric::DeadLettered, Some(m)),
        invalid: counter(sub, CounterMetric::Invalid, Some(m)),
        documents,
        drained_quietly,
        received_by_replica: received_by_replica(last, m),
        ..Default::default()
    }
}

/// What each of path `m`'s subscribers received by tick `last`, if it had more than one.
fn received_by_replica(last: &Tick, m: Middleware) -> Vec<u64> {
    let replicas = (last.replica_received.iter())
        .find(|(x, _)| *x == m)
        .map(|(_, r)| r.as_slice())
        .unwrap_or_default();
    match replicas.len() {
        0 | 1 => Vec::new(),
        _ => replicas.iter().map(|r| r.unwrap_or(0)).collect(),
    }
}

/// Fills `unstored_at_deadline`, `problems` and `consistent` from the counts: every identity a
/// sound run keeps. A run is consistent only if every request sent got a 2xx. With `loss` (every
/// accepted id looked up in the store) what is unstored is counted by id, and a document whose
/// write timed out but landed may have been counted a duplicate when it came again.
pub fn check_accounting(a: &mut Accounting, cases_per_request: u64, loss: Option<&LossById>) {
    a.unstored_at_deadline = match loss {
        Some(loss) => loss.lost as i64,
        None => a.accepted as i64 - a.stored as i64 - a.dead_lettered as i64,
    };
    let landed_late = if loss.is_some() { a.duplicates } else { 0 };
    a.problems.clear();
    let answered = a.http_2xx + a.http_4xx + a.http_5xx + a.transport_errors;
    let mut check = |ok: bool, text: String| {
        if !ok {
            a.problems.push(text);
        }
    };
    check(
        a.http_2xx == a.sent_requests,
        format!(
            "{} of {} requests did not get a 2xx ({} 4xx, {} 5xx, {} transport errors, {} unanswered)",
            a.sent_requests.saturating_sub(a.http_2xx),
            a.sent_requests,
            a.http_4xx,
            a.http_5xx,
            a.transport_errors,
            a.unanswered_requests
        ),
    );
    check(
        answered + a.unanswered_requests == a.sent_requests,
        format!(
            "{} requests sent, {} answered and {} unanswered",
            a.sent_requests, answered, a.unanswered_requests
        ),
    );
    check(
        a.accepted == a.http_2xx * cases_per_request,
        format!(
            "ingress accepted {} cases but the generator saw {} accepted",
            a.accepted,
            a.http_2xx * cases_per_request
        ),
    );
    check(
        a.published == a.accepted,
        format!("published {} ≠ accepted {}", a.published, a.accepted),
    );
    check(
        a.unstored_at_deadline == 0,
        format!(
            "{} accepted cases were not stored by the drain deadline",
            a.unstored_at_deadline
        ),
    );
    let unseen = a.in_hand_at_kills;
    check(
        a.documents
            .is_none_or(|d| a.stored <= d && d <= a.stored + landed_late + unseen),
        format!(
            "MongoDB holds {} documents but the subscriber stored {}{}{}",
            a.documents.unwrap_or(0),
            a.stored,
            if loss.is_some() {
                format!(" (and found {} already there)", a.duplicates)
            } else {
                String::new()
            },
            if unseen > 0 {
                format!(", and subscribers killed by faults held {unseen} at their last reading")
            } else {
                String::new()
            }
        ),
    );
    check(
        a.received >= a.stored + a.duplicates + a.dead_lettered,
        format!(
            "received {} < stored {} + duplicates {} + dead-lettered {}",
            a.received, a.stored, a.duplicates, a.dead_lettered
        ),
    );
    check(a.drained_quietly, "the drain ended at its deadline, not after a quiet period: late redeliveries may be missing".into());
    a.consistent = a.problems.is_empty();
}

/// What the rows of `timeseries.csv` need besides the ticks.
#[derive(Debug, Clone, Copy)]
pub struct SeriesContext {
    pub repeat: u32,
    pub cases_per_request: u64,
    /// Sink writers per subscriber; `None` with `--sink none`.
    pub writers: Option<u16>,
}

/// One row of `timeseries.csv`: rates and p99s over the second before tick `i`, backlogs at it.
pub fn timeseries_row(
    ticks: &[Tick],
    i: usize,
    m: Middleware,
    ctx: SeriesContext,
) -> Option<SeriesRow> {
    let (a, b) = (ticks.get(i.checked_sub(1)?)?, ticks.get(i)?);
    let dt = (b.at_s - a.at_s).max(1e-9);
    let per_s = |x: u64, y: u64| (y.saturating_sub(x) as f64 / dt * 10.0).round() / 10.0;
    let (ha, hb) = (latencies_at(a, m, None), latencies_at(b, m, None));
    let p99 = |metric: LatencyMetric| {
        let d = delta(&hb[&metric], &ha[&metric]);
        (!d.is_empty()).then(|| d.value_at_quantile(0.99))
    };
    let backlog = super::tick::backlog_at(b, m, ctx.cases_per_request);
    Some(SeriesRow {
        repeat: ctx.repeat,
        middleware: m,
        t_s: crate::results::rows::millis(b.at_s),
        offered_per_s: per_s(
            a.load.counter(CounterMetric::SentCases, None).unwrap_or(0),
            b.load.counter(CounterMetric::SentCases, None).unwrap_or(0),
        ),
        accepted_per_s: per_s(
            counter(&a.ingress, CounterMetric::Accepted, None),
            counter(&b.ingress, CounterMetric::Accepted, None),
        ),
        stored_per_s: per_s(
            counter(subscriber(a, m), CounterMetric::Stored, Some(m)),
            counter(subscriber(b, m), CounterMetric::Stored, Some(m)),
        ),
        e2e_p99_us: p99(LatencyMetric::E2e),
        http_corrected_p99_us: p99(LatencyMetric::HttpCorrected),
        client_queue: backlog.client_queue,
        ingress_in_flight: backlog.ingress_in_flight,
        broker_backlog: backlog.broker,
        broker_ready: backlog.broker_ready,
        sink_backlog: backlog.sink,
        store_busy: ctx
            .writers
            .map(|w| (super::tick::store_busy(a, b, m, w) * 1000.0).round() / 1000.0),
    })
}

#[cfg(test)]
#[path = "compute_tests.rs"]
mod tests;
