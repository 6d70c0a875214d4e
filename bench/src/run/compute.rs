//! Turning a run's ticks into its results: phase totals are differences between the tick taken
//! when the measure phase began (`w`), the one when it ended (`m`) and the last one (`last`).

use std::collections::BTreeMap;

use brokerbench_common::metrics::{Stats, decode_histogram, new_histogram};
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::sampler::Tick;
use super::summary::{Accounting, HoldCalibration, LatencySummary, PathResult, ProcessCost, Rates};

/// Indices of the ticks bounding the phases of one run.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub measure_start: usize,
    pub measure_end: usize,
    pub last: usize,
}

fn counter(stats: &Option<Stats>, name: &str, m: Option<Middleware>) -> u64 {
    stats.as_ref().and_then(|s| s.counter(name, m.map(Middleware::name))).unwrap_or(0)
}

fn histogram(stats: &Option<Stats>, name: &str, m: Middleware) -> Histogram<u64> {
    stats
        .as_ref()
        .and_then(|s| s.latency(name, Some(m.name())))
        .and_then(|l| decode_histogram(&l.histogram).ok())
        .unwrap_or_else(new_histogram)
}

fn subscriber(tick: &Tick, m: Middleware) -> &Option<Stats> {
    static NONE: Option<Stats> = None;
    tick.subscribers.iter().find(|(x, _)| *x == m).map(|(_, s)| s).unwrap_or(&NONE)
}

/// `later − earlier`, or `later` alone if they cannot be subtracted (a restarted process).
pub fn delta(later: &Histogram<u64>, earlier: &Histogram<u64>) -> Histogram<u64> {
    let mut d = later.clone();
    if d.subtract(earlier).is_err() {
        return later.clone();
    }
    d
}

/// Every latency metric of path `m` at one tick (cumulative since the processes started).
pub fn latencies_at(tick: &Tick, m: Middleware) -> BTreeMap<&'static str, Histogram<u64>> {
    let sub = subscriber(tick, m);
    BTreeMap::from([
        ("http_corrected", tick.load.corrected.clone()),
        ("http_uncorrected", tick.load.uncorrected.clone()),
        ("publish", histogram(&tick.ingress, "publish", m)),
        ("delivery", histogram(sub, "delivery", m)),
        ("e2e", histogram(sub, "e2e", m)),
    ])
}

pub fn path_result(
    m: Middleware,
    repeat: u32,
    ticks: &[Tick],
    b: Bounds,
    offered: f64,
    cases_per_request: u64,
    documents: u64,
) -> PathResult {
    let (w, e, last) = (&ticks[b.measure_start], &ticks[b.measure_end], &ticks[b.last]);
    let seconds = (e.at_s - w.at_s).max(1e-9);
    let (start, end) = (latencies_at(w, m), latencies_at(e, m));
    let finals = latencies_at(last, m);
    let latencies = end
        .iter()
        .map(|(name, h)| {
            // Latencies of cases sent during the measure phase settle after it: read them at
            // the end for the path stages, at the measure end for HTTP.
            let upto = if name.starts_with("http") { h } else { &finals[name] };
            (name.to_string(), LatencySummary::of(&delta(upto, &start[name])))
        })
        .collect();
    let stored_at = |t: &Tick| counter(subscriber(t, m), "stored", Some(m));
    let rates = Rates {
        offered,
        achieved: counter(&e.ingress, "accepted", None).saturating_sub(counter(&w.ingress, "accepted", None)) as f64 / seconds,
        stored_per_s: stored_at(e).saturating_sub(stored_at(w)) as f64 / seconds,
    };
    let accounting = accounting(m, last, cases_per_request, documents);
    let resources = resources(ticks, b);
    let measured_cases = stored_at(e).saturating_sub(stored_at(w));
    let cpu: f64 = resources.iter().map(|r| r.cpu_seconds).sum();
    PathResult {
        middleware: m,
        repeat,
        measure_seconds: seconds,
        latencies,
        rates,
        accounting,
        resources,
        cpu_seconds_per_10k_cases: (measured_cases > 0).then(|| cpu / measured_cases as f64 * 10_000.0),
        host_source: last.ram.as_ref().map(|(s, _)| source_name(*s)),
        hold_calibration: None,
    }
}

/// e2e p50 over the seconds the hold was off against the seconds it was on. The hold toggles at
/// every `period`-th tick of the measure phase, starting off; each period's first second is
/// left out, so every counted case was stored wholly under one setting.
pub fn hold_calibration(ticks: &[Tick], m: Middleware, b: Bounds, period: u64, hold_ms: f64) -> Option<HoldCalibration> {
    let e2e = |i: usize| ticks.get(i).map(|t| latencies_at(t, m).remove("e2e").unwrap_or_else(new_histogram));
    let (mut off, mut on) = (new_histogram(), new_histogram());
    let period = usize::try_from(period.max(2)).ok()?;
    let mut start = b.measure_start;
    for segment in 0.. {
        let end = start + period;
        if end > b.measure_end {
            break;
        }
        let counted = delta(&e2e(end)?, &e2e(start + 1)?);
        let side = if segment % 2 == 0 { &mut off } else { &mut on };
        side.add(&counted).ok()?;
        start = end;
    }
    Some(HoldCalibration {
        hold_ms,
        toggle_period_s: period as u64,
        e2e_p50_off_us: off.value_at_quantile(0.5),
        e2e_p50_on_us: on.value_at_quantile(0.5),
        samples_off: off.len(),
        samples_on: on.len(),
        standard_error_us: median_standard_error(&off).hypot(median_standard_error(&on)),
    })
}

/// Standard error of a sample median: `sqrt(p(1−p)/n) / f(median)` with p = ½ and the density
/// estimated as 0.2 / (p60 − p40).
fn median_standard_error(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        return f64::INFINITY;
    }
    let spread = h.value_at_quantile(0.6).saturating_sub(h.value_at_quantile(0.4)) as f64;
    0.5 / (h.len() as f64).sqrt() * spread / 0.2
}

fn accounting(m: Middleware, last: &Tick, cases_per_request: u64, documents: u64) -> Accounting {
    let sub = subscriber(last, m);
    let l = &last.load;
    let mut a = Accounting {
        sent: l.sent_cases,
        sent_requests: l.sent_requests,
        http_2xx: l.http_2xx,
        http_4xx: l.http_4xx,
        http_5xx: l.http_5xx,
        transport_errors: l.transport_errors,
        accepted: counter(&last.ingress, "accepted", None),
        published: counter(&last.ingress, "published", Some(m)),
        publish_errors: counter(&last.ingress, "publish_errors", Some(m)),
        received: counter(sub, "received", Some(m)),
        stored: counter(sub, "stored", Some(m)),
        duplicates: counter(sub, "duplicates", Some(m)),
        documents,
        ..Default::default()
    };
    check_accounting(&mut a, cases_per_request);
    a
}

/// Fills `lost`, `problems` and `consistent` from the counts: every identity a sound run keeps.
pub fn check_accounting(a: &mut Accounting, cases_per_request: u64) {
    a.lost = a.accepted as i64 - a.stored as i64;
    a.problems.clear();
    let answered = a.http_2xx + a.http_4xx + a.http_5xx + a.transport_errors;
    let mut check = |ok: bool, text: String| {
        if !ok {
            a.problems.push(text);
        }
    };
    check(answered == a.sent_requests, format!("{} of {} requests got no answer", a.sent_requests - answered.min(a.sent_requests), a.sent_requests));
    check(a.accepted == a.http_2xx * cases_per_request, format!("ingress accepted {} cases but the generator saw {} accepted", a.accepted, a.http_2xx * cases_per_request));
    check(a.published == a.accepted, format!("published {} ≠ accepted {}", a.published, a.accepted));
    check(a.lost == 0, format!("{} accepted cases were never stored (lost)", a.lost));
    check(a.documents == a.stored, format!("MongoDB holds {} documents but the subscriber stored {}", a.documents, a.stored));
    check(a.received >= a.stored + a.duplicates, format!("received {} < stored {} + duplicates {}", a.received, a.stored, a.duplicates));
    a.consistent = a.problems.is_empty();
}

fn resources(ticks: &[Tick], b: Bounds) -> Vec<ProcessCost> {
    let mut costs: Vec<ProcessCost> = Vec::new();
    for p in &ticks[b.last].procs {
        let cpu_at = |t: &Tick| t.procs.iter().find(|q| q.pid == p.pid).map(|q| q.cpu_seconds);
        let start = cpu_at(&ticks[b.measure_start]).unwrap_or(0.0);
        let end = cpu_at(&ticks[b.measure_end]).unwrap_or(p.cpu_seconds);
        let peak = ticks.iter().flat_map(|t| t.procs.iter().filter(|q| q.pid == p.pid)).map(|q| q.rss_kib).max().unwrap_or(0);
        costs.push(ProcessCost { role: p.role.clone(), name: p.name.clone(), pid: p.pid, cpu_seconds: (end - start).max(0.0), peak_rss_kib: peak });
    }
    costs
}

/// One row of `timeseries.csv`: rates and p99s over the second before tick `i`.
pub fn timeseries_row(ticks: &[Tick], i: usize, m: Middleware) -> Option<String> {
    let (a, b) = (ticks.get(i.checked_sub(1)?)?, ticks.get(i)?);
    let dt = (b.at_s - a.at_s).max(1e-9);
    let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / dt;
    let (ha, hb) = (latencies_at(a, m), latencies_at(b, m));
    let p99 = |name: &str| {
        let d = delta(&hb[name], &ha[name]);
        if d.is_empty() { String::new() } else { d.value_at_quantile(0.99).to_string() }
    };
    Some(format!(
        "{m},{:.3},{:.1},{:.1},{:.1},{},{}",
        b.at_s,
        per_s(a.load.sent_cases, b.load.sent_cases),
        per_s(counter(&a.ingress, "accepted", None), counter(&b.ingress, "accepted", None)),
        per_s(counter(subscriber(a, m), "stored", Some(m)), counter(subscriber(b, m), "stored", Some(m))),
        p99("e2e"),
        p99("http_corrected"),
    ))
}

pub const TIMESERIES_HEADER: &str = "middleware,t_s,offered_per_s,accepted_per_s,stored_per_s,e2e_p99_us,http_corrected_p99_us";

/// `kernel-module` or `proc`, as the host reader serializes its source.
pub fn source_name(source: brokerbench_common::host::HostSource) -> String {
    serde_json::to_value(source).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
