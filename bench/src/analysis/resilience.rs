//! What a fault did to a path: failed answers while it lasted, time to recover, and end-to-end
//! p99 before, during and after it. Answers come from the generator's log of every attempt
//! (exact times); stored rates and latencies from the once-a-second ticks (1 s resolution, and
//! a restarted subscriber's figures restart with it).

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;

use super::compute::{delta, latencies_at};
use super::tick::{AnswerLog, Tick};
use super::tick::{counter, subscriber};
use crate::results::faults::FaultRecord;
use crate::results::resilience::Resilience;

/// Stored per second within this share of offered counts as recovered.
const RECOVERED_SHARE: f64 = 0.9;

/// The run's ticks, and the offered rate stored rates are compared with.
pub struct Timeline<'a> {
    pub ticks: &'a [Tick],
    /// Index of the tick that ended the load.
    pub load_end: usize,
    pub offered: f64,
}

pub fn assess(
    m: Middleware,
    fault: &FaultRecord,
    answers: &[AnswerLog],
    line: &Timeline,
) -> Resilience {
    let first_accept_ns = answers
        .iter()
        .filter(|a| a.at_ns >= fault.end_ns && (200..300).contains(&a.status))
        .map(|a| a.at_ns)
        .min();
    let window_end = first_accept_ns.unwrap_or(i64::MAX);
    let in_window = || {
        answers
            .iter()
            .filter(move |a| a.at_ns >= fault.start_ns && a.at_ns <= window_end)
    };
    let failed = |class: fn(u16) -> bool| in_window().filter(|a| class(a.status)).count() as u64;
    let accepted = |a: &&AnswerLog| (200..300).contains(&a.status);
    let accepted_during = (answers.iter())
        .filter(|a| a.at_ns >= fault.start_ns && a.at_ns <= fault.end_ns)
        .filter(accepted)
        .count() as u64;
    let seconds = |ns: i64| (ns - fault.end_ns) as f64 / 1e9;
    Resilience {
        fault: fault.clone(),
        failed_4xx: failed(|s| (400..500).contains(&s)),
        failed_5xx: failed(|s| s >= 500),
        failed_transport: failed(|s| s == 0),
        slowest_answer_s: in_window().map(|a| a.took_us as f64 / 1e6).reduce(f64::max),
        first_accept_after_s: first_accept_ns.map(seconds),
        accepted_during,
        unavailable_s: unavailable_s(fault, answers, first_accept_ns),
        stored_recovered_after_s: stored_recovered(m, fault.end_s, line),
        e2e_p99_before_us: e2e_p99(m, line, f64::MIN, fault.start_s),
        e2e_p99_during_us: e2e_p99(m, line, fault.start_s, fault.end_s),
        e2e_p99_after_us: e2e_p99(m, line, fault.end_s, f64::MAX),
    }
}

/// The longest stretch without a 2xx answer from the fault's start to the first 2xx after its
/// end, seconds (answers come in out of order with the requests in flight, so no single failed
/// answer marks where the refusals began); none if the path never accepted again.
fn unavailable_s(fault: &FaultRecord, answers: &[AnswerLog], back_ns: Option<i64>) -> Option<f64> {
    let back_ns = back_ns?;
    let mut accepted: Vec<i64> = (answers.iter())
        .filter(|a| a.at_ns >= fault.start_ns && a.at_ns <= back_ns)
        .filter(|a| (200..300).contains(&a.status))
        .map(|a| a.at_ns)
        .collect();
    accepted.sort_unstable();
    let gaps = std::iter::once(fault.start_ns)
        .chain(accepted.iter().copied())
        .zip(accepted.iter().copied())
        .map(|(a, b)| b - a);
    gaps.max().map(|ns| ns as f64 / 1e9)
}

/// The first second after `end_s` (within the load) that stored at least 90 % of offered.
fn stored_recovered(m: Middleware, end_s: f64, line: &Timeline) -> Option<f64> {
    let ticks = &line.ticks[..=line.load_end.min(line.ticks.len() - 1)];
    ticks.windows(2).find_map(|pair| {
        let (a, b) = (&pair[0], &pair[1]);
        let (was, is) = (stored(a, m), stored(b, m));
        // A restarted subscriber counts from zero again.
        let added = if is >= was { is - was } else { is };
        let rate = added as f64 / (b.at_s - a.at_s).max(1e-9);
        (a.at_s >= end_s && rate >= RECOVERED_SHARE * line.offered).then_some(b.at_s - end_s)
    })
}

fn stored(t: &Tick, m: Middleware) -> u64 {
    counter(subscriber(t, m), CounterMetric::Stored, Some(m))
}

/// e2e p99 of what was stored between the ticks nearest `from_s` and `to_s`.
fn e2e_p99(m: Middleware, line: &Timeline, from_s: f64, to_s: f64) -> Option<u64> {
    let ticks = line.ticks;
    let first = ticks.iter().position(|t| t.at_s >= from_s.max(0.0))?;
    let last = ticks.iter().rposition(|t| t.at_s <= to_s)?;
    if last <= first {
        return None;
    }
    let at = |i: usize| -> Histogram<u64> {
        latencies_at(&ticks[i], m, None)
            .remove(&LatencyMetric::E2e)
            .unwrap_or_else(brokerbench_common::metrics::new_histogram)
    };
    let d = delta(&at(last), &at(first));
    (!d.is_empty()).then(|| d.value_at_quantile(0.99))
}

#[cfg(test)]
mod tests {
    use brokerbench_common::metrics::Phase;

    use super::*;
    use crate::analysis::synthetic::TickBuilder;
    use crate::results::faults::{FaultKind, FaultSpec};

    const M: Middleware = Middleware::Rabbitmq;
    const S: i64 = 1_000_000_000;

    /// A fault from 2 s to 4 s of the measure phase (the wall clock starts with it).
    fn fault() -> FaultRecord {
        FaultRecord {
            spec: FaultSpec {
                kind: FaultKind::SubscriberKill,
                start_s: 2.0,
                duration_s: 2.0,
                node: None,
            },
            target: "subscriber:rabbitmq".into(),
            start_s: 2.0,
            end_s: 4.0,
            start_ns: 2 * S,
            end_ns: 4 * S,
            error: None,
        }
    }

    fn answer(at_ns: i64, status: u16, took_us: u64) -> AnswerLog {
        AnswerLog {
            at_ns,
            took_us,
            status,
        }
    }

    /// Ticks at 0–10 s; `stored(t)` and `e2e(t)` (µs, 100 cases a second) give each second.
    fn ticks(stored: impl Fn(u64) -> u64, e2e_us: impl Fn(u64) -> u64) -> Vec<Tick> {
        (0..=10)
            .map(|t| {
                let tick =
                    TickBuilder::at(t as f64, &[M]).subscriber(M, CounterMetric::Stored, stored(t));
                (1..=t).fold(tick, |tick, second| {
                    tick.latency(M, LatencyMetric::E2e, Phase::Measure, e2e_us(second), 100)
                })
            })
            .map(TickBuilder::build)
            .collect()
    }

    fn timeline(ticks: &[Tick]) -> Timeline<'_> {
        Timeline {
            ticks,
            load_end: 10,
            offered: 100.0,
        }
    }

    #[test]
    fn answers_in_the_fault_window_are_counted_by_class() {
        let answers = [
            answer(S, 202, 1_000),
            answer(2 * S + S / 2, 503, 2_000),
            answer(3 * S, 0, 3_000_000),
            answer(3 * S + S / 2, 400, 1_000),
            answer(4 * S + S / 2, 202, 1_000),
            answer(5 * S, 503, 9_000_000),
        ];
        let ticks = ticks(|t| 100 * t, |_| 1_000);
        let r = assess(M, &fault(), &answers, &timeline(&ticks));
        assert_eq!((r.failed_4xx, r.failed_5xx, r.failed_transport), (1, 1, 1));
        assert_eq!(r.first_accept_after_s, Some(0.5));
        assert_eq!(r.slowest_answer_s, Some(3.0));
        assert_eq!(r.accepted_during, 0);
        let unavailable = r.unavailable_s.expect("accepted again");
        assert!(
            (unavailable - 2.5).abs() < 1e-9,
            "2 s to 4.5 s: {unavailable}"
        );
        let never_again = &answers[..4];
        let r = assess(M, &fault(), never_again, &timeline(&ticks));
        assert_eq!(r.first_accept_after_s, None);
        assert_eq!(r.unavailable_s, None);
    }

    #[test]
    fn a_path_that_accepts_again_during_the_fault_counts_it() {
        // A leader killed at 2 s: refused from 2.1 s, a new leader accepts from 3 s on; a
        // request in flight since before the fault is answered 202 at 2.2 s.
        let answers = [
            answer(2 * S + S / 10, 503, 1_000),
            answer(2 * S + S / 5, 202, 300_000),
            answer(2 * S + S / 2, 503, 1_000),
            answer(3 * S + S / 5, 202, 1_000),
            answer(3 * S + S / 2, 202, 1_000),
            answer(4 * S + S / 2, 202, 1_000),
        ];
        let ticks = ticks(|t| 100 * t, |_| 1_000);
        let r = assess(M, &fault(), &answers, &timeline(&ticks));
        assert_eq!(r.accepted_during, 3);
        let unavailable = r.unavailable_s.expect("refused, then accepted");
        assert!(
            (unavailable - 1.0).abs() < 1e-9,
            "2.2 s to 3.2 s: {unavailable}"
        );
    }

    #[test]
    fn stored_recovers_at_the_first_second_storing_nine_tenths_of_offered() {
        // Nothing stored while the subscriber is down (2–4 s); restarted at 4 s, it counts from
        // zero: 50 in its first second, 100 in each after.
        let stored = |t: u64| match t {
            0..=2 => 100 * t,
            3 => 200,
            4 => 0,
            _ => 50 + 100 * (t - 5),
        };
        let ticks = ticks(stored, |_| 1_000);
        let r = assess(M, &fault(), &[], &timeline(&ticks));
        assert_eq!(r.stored_recovered_after_s, Some(2.0));
        let never = ticks_stored_at(|t| if t <= 2 { 100 * t } else { 200 + 80 * (t - 2) });
        let r = assess(M, &fault(), &[], &timeline(&never));
        assert_eq!(r.stored_recovered_after_s, None);
    }

    fn ticks_stored_at(stored: impl Fn(u64) -> u64) -> Vec<Tick> {
        ticks(stored, |_| 1_000)
    }

    #[test]
    fn e2e_p99_is_split_before_during_and_after_the_fault() {
        let slow_while_faulted = |second: u64| {
            if (3..=4).contains(&second) {
                300_000
            } else {
                5_000
            }
        };
        let ticks = ticks(|t| 100 * t, slow_while_faulted);
        let r = assess(M, &fault(), &[], &timeline(&ticks));
        let ms = |us: Option<u64>| us.map(|u| u / 1_000);
        assert_eq!(ms(r.e2e_p99_before_us), Some(5));
        assert_eq!(ms(r.e2e_p99_during_us), Some(300));
        assert_eq!(ms(r.e2e_p99_after_us), Some(5));
    }
}
