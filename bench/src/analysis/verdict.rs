//! The answers a run opens with: which path had the lowest e2e p99 at the offered rate, which
//! can sustain the most (from the stage ceilings), which costs the least CPU, and for each
//! whether the lead over the runner-up is beyond run-to-run noise (Mann–Whitney U over the
//! repeats, Holm-corrected over the answers, as `compare` judges). "Not distinguishable" is an
//! answer too.

use std::collections::BTreeMap;

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use super::significance::{holm, mann_whitney_p, smallest_p};
use crate::results::ceilings::Ceilings;
use crate::results::summary::{PathResult, Spread};
use crate::results::verdict::Answer;

/// The unit of the one answer that rests on a single measurement per path (the ceilings).
const RATE_UNIT: &str = "cases/s";
/// Significance level of every answer.
const ALPHA: f64 = 0.05;

/// Per path, every repeat's value of one figure.
type Samples = BTreeMap<Middleware, Vec<f64>>;

/// The paths by their median of `samples`, best first.
fn ranked(samples: &Samples, higher_wins: bool) -> Vec<(Middleware, f64)> {
    let mut ranking: Vec<(Middleware, f64)> = samples
        .iter()
        .filter_map(|(m, v)| Spread::of(v).map(|s| (*m, s.median)))
        .collect();
    ranking.sort_by(|a, b| {
        let order = a.1.total_cmp(&b.1);
        if higher_wins { order.reverse() } else { order }
    });
    ranking
}

/// Ranks the paths by `samples` (lower is better unless `higher_wins`) and says whether the
/// leader is distinguishable from the runner-up; `p` is the Holm-adjusted p-value, if testable.
fn answer(
    question: &str,
    unit: &str,
    samples: &Samples,
    higher_wins: bool,
    p: Option<f64>,
) -> Option<Answer> {
    let ranking = ranked(samples, higher_wins);
    let (first, value) = *ranking.first()?;
    // Rates in whole cases, times and CPU to the hundredth.
    let digits = if unit == RATE_UNIT { 0 } else { 2 };
    let text = match ranking.get(1) {
        None => format!("{first}: {value:.digits$} {unit} (the only path)"),
        Some((second, v2)) => {
            let runs = samples[&first].len().min(samples[second].len());
            let judgement = match p {
                None if unit == RATE_UNIT => {
                    "one measurement each, no repeats to judge noise by".to_string()
                }
                Some(p) if p < ALPHA => format!("ahead beyond noise (p = {p:.3})"),
                Some(p) => format!("{first} and {second}: not distinguishable (p = {p:.2})"),
                None => format!(
                    "{first} and {second}: not distinguishable with {runs} run(s) each (≥ 4 repeats needed)"
                ),
            };
            format!(
                "{first}: {value:.digits$} {unit}, then {second}: {v2:.digits$} {unit} — {judgement}"
            )
        }
    };
    Some(Answer {
        question: question.into(),
        ranking,
        unit: unit.into(),
        text,
    })
}

/// The p-value of leader against runner-up, if the repeats can reach `ALPHA` at all.
fn raw_p(samples: &Samples, higher_wins: bool) -> Option<f64> {
    let medians = ranked(samples, higher_wins);
    let (a, b) = (&samples[&medians.first()?.0], &samples[&medians.get(1)?.0]);
    (smallest_p(a.len(), b.len()) < ALPHA).then(|| mann_whitney_p(a, b))
}

/// The run's answers, from every repeat of every path and the ceilings if measured.
pub fn verdict(paths: &[PathResult], ceilings: Option<&Ceilings>) -> Vec<Answer> {
    let collect = |pick: &dyn Fn(&PathResult) -> Option<f64>| -> Samples {
        let mut s = Samples::new();
        for p in paths {
            if let Some(v) = pick(p) {
                s.entry(p.middleware).or_default().push(v);
            }
        }
        s
    };
    let offered = paths.first().map_or(0.0, |p| p.rates.offered);
    let e2e = collect(&|p| {
        p.latencies
            .get(&LatencyMetric::E2e)
            .map(|l| l.p99 as f64 / 1e3)
    });
    let cpu = collect(&|p| p.cpu_seconds_per_10k_cases);
    let mut ceiling = Samples::new();
    if let Some(c) = ceilings {
        for p in paths {
            if let Some((_, rate)) = c.pipeline(p.middleware) {
                ceiling.insert(p.middleware, vec![rate]);
            }
        }
    }
    let raw = [raw_p(&e2e, false), raw_p(&cpu, false)];
    let testable: Vec<f64> = raw.iter().flatten().copied().collect();
    let mut adjusted = holm(&testable).into_iter();
    let [p_e2e, p_cpu] = raw.map(|p| p.and_then(|_| adjusted.next()));
    let mut answers = Vec::new();
    answers.extend(answer(
        &format!("lowest e2e p99 at {offered:.0} cases/s"),
        "ms",
        &e2e,
        false,
        p_e2e,
    ));
    if ceiling.is_empty() {
        answers.push(Answer {
            question: "highest sustainable rate".into(),
            ranking: Vec::new(),
            unit: RATE_UNIT.into(),
            text: "not measured in this run (run --ceilings, or brokerbench sweep)".into(),
        });
    } else {
        answers.extend(answer(
            "highest sustainable rate (lowest stage ceiling on the path)",
            RATE_UNIT,
            &ceiling,
            true,
            None,
        ));
    }
    answers.extend(answer(
        "least CPU per 10k cases",
        "CPU s",
        &cpu,
        false,
        p_cpu,
    ));
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_each_is_never_called_distinguishable() {
        let samples = Samples::from([(Middleware::Nats, vec![5.0]), (Middleware::Grpc, vec![6.0])]);
        assert_eq!(raw_p(&samples, false), None);
        let a = answer("q", "ms", &samples, false, None).expect("an answer");
        assert_eq!(a.ranking[0].0, Middleware::Nats);
        assert!(a.text.contains("not distinguishable"), "{}", a.text);
    }

    #[test]
    fn five_clearly_separated_repeats_are_distinguishable() {
        let samples = Samples::from([
            (Middleware::Nats, vec![5.0, 5.1, 5.2, 5.0, 5.1]),
            (Middleware::Redis, vec![9.0, 9.1, 9.3, 9.2, 9.0]),
        ]);
        let p = raw_p(&samples, false).expect("testable");
        assert!(p < ALPHA, "p = {p}");
        let higher = answer("q", "/s", &samples, true, Some(p)).expect("an answer");
        assert_eq!(higher.ranking[0].0, Middleware::Redis);
        assert!(higher.text.contains("beyond noise"), "{}", higher.text);
    }
}
