//! The diagnostic holds toggled during one run (`--hold-toggle-s`): the p50 while a hold was off
//! against the p50 while it was on, from the same processes in the same run, so slow drift and
//! the fixed overheads of the path fall on both sides alike and the difference is the hold alone.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::new_histogram;
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::compute::{Bounds, delta, metric_at};
use super::loadgen::AnswerLog;
use super::sampler::Tick;
use super::summary::HoldCalibration;

/// Answers that came within this long of a toggle count on neither side: the new setting took
/// effect somewhere between the toggle's request and its answer, which a busy machine can
/// stretch to tens of milliseconds.
const TOGGLE_GUARD_NS: i64 = 250_000_000;

/// When the runner switched the holds, and to which side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldToggle {
    /// Wall clock (ns since the Unix epoch) once every role had answered the switch.
    pub at_ns: i64,
    pub on: bool,
}

/// e2e p50 over the seconds the hold was off against the seconds it was on. The hold toggles at
/// every `period`-th tick of the measure phase, starting off; each period's first second is
/// left out, so every counted case was stored wholly under one setting.
pub fn e2e_hold(
    ticks: &[Tick],
    m: Middleware,
    b: Bounds,
    period: u64,
    hold_ms: f64,
) -> Option<HoldCalibration> {
    let e2e = |i: usize| {
        ticks
            .get(i)
            .map(|t| metric_at(t, m, LatencyMetric::E2e, None).unwrap_or_else(new_histogram))
    };
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
    Some(calibration(hold_ms, period as u64, &off, &on))
}

/// Uncorrected HTTP p50 (sent → answered, as the client saw it) of the 2xx answers while the
/// ingress's answer hold was off against while it was on. A request counts on the side of the
/// last toggle before it was sent, if it was answered at least [`TOGGLE_GUARD_NS`] before the
/// next toggle; requests sent before the first toggle (the warm-up) count on neither.
pub fn answer_hold(
    answers: &[AnswerLog],
    toggles: &[HoldToggle],
    period: u64,
    hold_ms: f64,
) -> Option<HoldCalibration> {
    let (mut off, mut on) = (new_histogram(), new_histogram());
    for a in answers.iter().filter(|a| (200..300).contains(&a.status)) {
        let sent_ns = a.at_ns - i64::try_from(a.took_us).ok()?.saturating_mul(1_000);
        let Some(i) = toggles.iter().rposition(|t| t.at_ns <= sent_ns) else {
            continue;
        };
        if toggles
            .get(i + 1)
            .is_some_and(|next| a.at_ns + TOGGLE_GUARD_NS > next.at_ns)
        {
            continue;
        }
        let side = if toggles[i].on { &mut on } else { &mut off };
        side.saturating_record(a.took_us);
    }
    Some(calibration(hold_ms, period, &off, &on))
}

fn calibration(
    hold_ms: f64,
    period: u64,
    off: &Histogram<u64>,
    on: &Histogram<u64>,
) -> HoldCalibration {
    HoldCalibration {
        hold_ms,
        toggle_period_s: period,
        p50_off_us: off.value_at_quantile(0.5),
        p50_on_us: on.value_at_quantile(0.5),
        samples_off: off.len(),
        samples_on: on.len(),
        standard_error_us: median_standard_error(off).hypot(median_standard_error(on)),
    }
}

/// Standard error of a sample median: `sqrt(p(1−p)/n) / f(median)` with p = ½ and the density
/// estimated as 0.2 / (p60 − p40).
fn median_standard_error(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        return f64::INFINITY;
    }
    let spread = h
        .value_at_quantile(0.6)
        .saturating_sub(h.value_at_quantile(0.4)) as f64;
    0.5 / (h.len() as f64).sqrt() * spread / 0.2
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn answer(sent_ns: i64, took_us: u64, status: u16) -> AnswerLog {
        AnswerLog {
            at_ns: sent_ns + i64::try_from(took_us).expect("small") * 1_000,
            took_us,
            status,
        }
    }

    /// Off from 10 s, on from 13 s, off from 16 s: 1 ms answers while off, 11 ms while on.
    fn toggles() -> Vec<HoldToggle> {
        [(10, false), (13, true), (16, false)]
            .into_iter()
            .map(|(s, on)| HoldToggle { at_ns: s * S, on })
            .collect()
    }

    #[test]
    fn each_answer_counts_on_the_side_its_request_was_sent_under() {
        let mut answers = Vec::new();
        for ms in (0..9_000).step_by(10) {
            let sent = 10 * S + ms * 1_000_000;
            let on = (3_000..6_000).contains(&ms);
            answers.push(answer(sent, if on { 11_000 } else { 1_000 }, 202));
        }
        let c = answer_hold(&answers, &toggles(), 3, 10.0).expect("calibration");
        assert_eq!((c.p50_off_us, c.p50_on_us), (1_000, 11_007), "{c:?}");
        // Off: 10 s–13 s less the last 0.25 s + 1 ms, and 16 s–19 s; on: 13 s–16 s less the last
        // 0.25 s + 11 ms. One request every 10 ms.
        assert_eq!((c.samples_off, c.samples_on), (275 + 300, 274), "{c:?}");
    }

    #[test]
    fn warm_up_errors_and_answers_across_a_toggle_count_on_neither_side() {
        let answers = [
            answer(9 * S, 1_000, 202),                // before the first toggle
            answer(11 * S, 1_000, 503),               // not a 2xx
            answer(13 * S - 100_000_000, 1_000, 202), // answered 0.1 s before the switch on
            answer(14 * S, 11_000, 202),
        ];
        let c = answer_hold(&answers, &toggles(), 3, 10.0).expect("calibration");
        assert_eq!((c.samples_off, c.samples_on), (0, 1), "{c:?}");
        assert!(c.standard_error_us.is_infinite(), "an empty side");
    }
}
