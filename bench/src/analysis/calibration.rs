//! The diagnostic holds toggled during one run (`--hold-toggle-s`): the p50 while a hold was off
//! against the p50 while it was on, from the same processes in the same run, so slow drift and
//! the fixed overheads of the path fall on both sides alike and the difference is the hold alone.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::new_histogram;
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::compute::{Bounds, delta, metric_at};
use super::tick::{AnswerLog, Tick};
use crate::results::summary::HoldCalibration;

/// With `--hold-toggle-s`, the ingress's answer hold alternates between this and this plus
/// `--hold-answer-ms`, never from zero: after a wait of 10 ms, idle CPUs at both ends wake up
/// more slowly than after 1 ms, which read as 0.05–0.2 ms more on the side with the hold (2-core
/// VM); with both sides waiting at least this long, that cost falls on both (difference 10.03
/// and 10.05 ms in two runs of a 10 ms hold).
pub const ANSWER_HOLD_BASE_MS: f64 = 2.0;

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
    let mut segments = Vec::new();
    let period = usize::try_from(period.max(2)).ok()?;
    let mut start = b.measure_start;
    for segment in 0.. {
        let end = start + period;
        if end > b.measure_end {
            break;
        }
        segments.push(Segment {
            on: segment % 2 == 1,
            latency: delta(&e2e(end)?, &e2e(start + 1)?),
        });
        start = end;
    }
    calibration(hold_ms, period as u64, &segments)
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
    let mut segments: Vec<Segment> = toggles
        .iter()
        .map(|t| Segment {
            on: t.on,
            latency: new_histogram(),
        })
        .collect();
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
        segments[i].latency.saturating_record(a.took_us);
    }
    calibration(hold_ms, period, &segments)
}

/// What one toggle period recorded, under one setting.
struct Segment {
    on: bool,
    latency: Histogram<u64>,
}

/// Both sides pooled, and each period with the hold on against the period before it.
fn calibration(hold_ms: f64, period: u64, segments: &[Segment]) -> Option<HoldCalibration> {
    let (mut off, mut on) = (new_histogram(), new_histogram());
    for s in segments {
        let side = if s.on { &mut on } else { &mut off };
        side.add(&s.latency).ok()?;
    }
    let differences: Vec<f64> = segments
        .windows(2)
        .filter(|w| !w[0].on && w[1].on && !w[0].latency.is_empty() && !w[1].latency.is_empty())
        .map(|w| {
            w[1].latency.value_at_quantile(0.5) as f64 - w[0].latency.value_at_quantile(0.5) as f64
        })
        .collect();
    Some(HoldCalibration {
        hold_ms,
        toggle_period_s: period,
        p50_off_us: off.value_at_quantile(0.5),
        p50_on_us: on.value_at_quantile(0.5),
        samples_off: off.len(),
        samples_on: on.len(),
        standard_error_us: median_standard_error(&off)
            .zip(median_standard_error(&on))
            .map(|(a, b)| a.hypot(b)),
        segment_standard_error_us: standard_error_of_mean(&differences),
        segment_differences_us: differences,
    })
}

/// Standard error of the mean of `x`: the sample standard deviation over √n; none for fewer
/// than two values.
fn standard_error_of_mean(x: &[f64]) -> Option<f64> {
    if x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((variance / n).sqrt())
}

/// Standard error of a sample median: `sqrt(p(1−p)/n) / f(median)` with p = ½ and the density
/// estimated as 0.2 / (p60 − p40); none for an empty sample.
fn median_standard_error(h: &Histogram<u64>) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let spread = h
        .value_at_quantile(0.6)
        .saturating_sub(h.value_at_quantile(0.4)) as f64;
    Some(0.5 / (h.len() as f64).sqrt() * spread / 0.2)
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
        assert_eq!(c.standard_error_us, None, "an empty side");
    }
}
