//! The answers a run opens with: which path had the lowest e2e p99 at the offered rate, which
//! sustains the most (the knee its own sweep measured), which costs the least CPU, and for each
//! whether the lead over the runner-up is beyond run-to-run noise (Mann–Whitney U over the
//! repeats, Holm-corrected over the answers, as `compare` judges). "Not distinguishable" is an
//! answer too, and so is "not testable with this many repeats".
//!
//! Only measurements rank: a path that fell behind, lost cases or left cases unstored is not
//! ranked on latency (its percentiles describe the survivors), and the stage ceilings, each
//! measured alone with the machine to itself, are upper bounds, never a sustainable rate.

use std::collections::BTreeMap;

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use super::compute::LATE_GENERATOR_US;
use super::significance::{holm, mann_whitney_p, repeats_needed, smallest_p};
use crate::results::ceilings::Ceilings;
use crate::results::clock::{RANKABLE_SHARE_OF_E2E_P50, e2e_bound_us};
use crate::results::knee::Knee;
use crate::results::summary::{PathResult, Spread};
use crate::results::verdict::Answer;

const RATE_UNIT: &str = "cases/s";
/// Significance level of every answer.
const ALPHA: f64 = 0.05;
/// The answers tested against noise (e2e and CPU): Holm's family.
const FAMILY: usize = 2;

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
    let text = match ranking.get(1) {
        None => format!("{first}: {value:.2} {unit} (the only path ranked)"),
        Some((second, v2)) => {
            let runs = samples[&first].len().min(samples[second].len());
            let judgement = match p {
                Some(p) if p < ALPHA => format!("ahead beyond noise (p = {p:.3})"),
                Some(p) => format!("{first} and {second}: not distinguishable (p = {p:.2})"),
                None => format!(
                    "not testable with {runs} run(s) each ({} repeats each needed)",
                    repeats_needed(FAMILY, ALPHA)
                ),
            };
            format!("{first}: {value:.2} {unit}, then {second}: {v2:.2} {unit} — {judgement}")
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
    (smallest_p(a.len(), b.len()) * (FAMILY as f64) < ALPHA).then(|| mann_whitney_p(a, b))
}

/// Why a path's e2e cannot be trusted to rank it, if the clocks it spans may be off by more
/// than [`RANKABLE_SHARE_OF_E2E_P50`] of its p50.
pub fn e2e_clock_doubt(p: &PathResult) -> Option<String> {
    let bound_us = e2e_bound_us(&p.clocks)?;
    let p50_us = p.latencies.get(&LatencyMetric::E2e)?.p50 as f64;
    (bound_us > RANKABLE_SHARE_OF_E2E_P50 * p50_us).then(|| {
        format!(
            "its clocks may be up to {:.2} ms apart, over {:.0} % of its e2e p50 ({:.2} ms)",
            bound_us / 1e3,
            RANKABLE_SHARE_OF_E2E_P50 * 100.0,
            p50_us / 1e3
        )
    })
}

/// Why a repeat of a path cannot be ranked on latency, if it cannot.
fn not_rankable(p: &PathResult) -> Option<String> {
    let a = &p.accounting;
    let lost = p.loss.as_ref().map_or(0, |l| l.lost);
    let e2e_count = p.latencies.get(&LatencyMetric::E2e).map_or(0, |l| l.count);
    let census = p.e2e_census.clone().unwrap_or_default();
    if let Some(stage) = p.attribution.as_ref().and_then(|x| x.limited_by) {
        Some(format!("fell behind ({})", stage.label()))
    } else if lost > 0 {
        Some(format!("{lost} cases lost"))
    } else if a.unstored_at_deadline > 0 || census.unstored > 0 {
        let unstored = census.unstored.max(a.unstored_at_deadline.unsigned_abs());
        Some(format!("{unstored} cases unstored"))
    } else if census.dead_lettered > 0 {
        Some(format!("{} cases dead-lettered", census.dead_lettered))
    } else if e2e_count == 0 {
        Some("no case stored in the measure phase".into())
    } else {
        e2e_clock_doubt(p)
    }
}

/// The latency answer over the paths every repeat of which can be ranked; the others are named
/// with the reason.
fn latency_answer(paths: &[PathResult], e2e: &Samples, p: Option<f64>) -> Option<Answer> {
    let offered = paths.first().map_or(0.0, |p| p.rates.offered);
    let mut left_out: BTreeMap<Middleware, String> = BTreeMap::new();
    for p in paths {
        if let Some(why) = not_rankable(p) {
            left_out.entry(p.middleware).or_insert(why);
        }
    }
    let question = format!("lowest e2e p99 at {offered:.0} cases/s");
    let mut answer = answer(&question, "ms", e2e, false, p).unwrap_or_else(|| Answer {
        question: question.clone(),
        ranking: Vec::new(),
        unit: "ms".into(),
        text: "no path can be ranked".into(),
    });
    if !left_out.is_empty() {
        let named: Vec<String> = left_out
            .iter()
            .map(|(m, why)| format!("{m}: {why}"))
            .collect();
        answer
            .text
            .push_str(&format!("; not ranked: {}", named.join(", ")));
    }
    answer.text.push_str(&late_generator(paths));
    Some(answer)
}

/// The paths whose generator fell behind its schedule (lateness p99 over 1 ms, its worst
/// repeat), said in the answer: their corrected latencies include the generator's own delay.
fn late_generator(paths: &[PathResult]) -> String {
    let mut worst: BTreeMap<Middleware, u64> = BTreeMap::new();
    for p in paths {
        let late = p
            .latencies
            .get(&LatencyMetric::GeneratorLateness)
            .map_or(0, |l| l.p99);
        if late > LATE_GENERATOR_US {
            let w = worst.entry(p.middleware).or_default();
            *w = (*w).max(late);
        }
    }
    if worst.is_empty() {
        return String::new();
    }
    let named: Vec<String> = worst
        .iter()
        .map(|(m, us)| format!("{m} (p99 {:.2} ms)", *us as f64 / 1e3))
        .collect();
    format!(
        "; the generator ran late on {}: their latencies include its delay (this host could not keep it on time)",
        named.join(", ")
    )
}

/// The sustainable-rate answer: each path's knee from the run's own sweep, best first; a stage
/// ceiling below a measured knee is named as the measurement error it is.
fn rate_answer(knees: &[Knee], ceilings: Option<&Ceilings>) -> Answer {
    let question = "highest sustainable rate (the sweep's knee)".to_string();
    let mut ranking: Vec<(Middleware, f64)> = knees
        .iter()
        .filter_map(|k| k.kept_up_per_s.map(|r| (k.middleware, r)))
        .collect();
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1));
    let text = if knees.is_empty() {
        "not measured in this run (run --sweep-to RATE, or brokerbench sweep); \
         stage ceilings are upper bounds, measured alone"
            .to_string()
    } else {
        let mut parts = knee_groups(knees, &ranking);
        let never: Vec<String> = knees
            .iter()
            .filter(|k| k.kept_up_per_s.is_none())
            .map(|k| k.middleware.to_string())
            .collect();
        if !never.is_empty() {
            parts.push(format!("kept up at no step: {}", never.join(", ")));
        }
        parts.extend(ceiling_errors(knees, ceilings));
        parts.join("; ")
    };
    Answer {
        question,
        ranking,
        unit: RATE_UNIT.into(),
        text,
    }
}

/// Every path that kept up somewhere, best first, paths with the same knee named together:
/// "grpc, redis kept up at 4000/s, the sweep's top; nats kept up at 3000/s, fell behind at
/// 4000/s (broker)".
fn knee_groups(knees: &[Knee], ranking: &[(Middleware, f64)]) -> Vec<String> {
    let mut groups: Vec<(Vec<String>, String)> = Vec::new();
    for (m, _) in ranking {
        let Some(k) = knees.iter().find(|k| k.middleware == *m) else {
            continue;
        };
        let kept = k.kept_up_per_s.unwrap_or(0.0);
        let what = match (k.failed_per_s, &k.failed_because) {
            (Some(failed), why) => format!(
                "kept up at {kept:.0}/s, fell behind at {failed:.0}/s ({})",
                why.as_deref().unwrap_or("?")
            ),
            (None, _) => format!("kept up at {kept:.0}/s, the sweep's top"),
        };
        match groups.iter_mut().find(|(_, w)| *w == what) {
            Some((names, _)) => names.push(m.to_string()),
            None => groups.push((vec![m.to_string()], what)),
        }
    }
    groups
        .into_iter()
        .map(|(names, what)| format!("{} {what}", names.join(", ")))
        .collect()
}

/// Ceilings below the rate their path was measured to sustain: they cannot be upper bounds.
fn ceiling_errors(knees: &[Knee], ceilings: Option<&Ceilings>) -> Vec<String> {
    let Some(c) = ceilings else {
        return Vec::new();
    };
    knees
        .iter()
        .filter_map(|k| {
            let kept = k.kept_up_per_s?;
            let (stage, rate) = c.pipeline(k.middleware)?;
            (rate < kept).then(|| {
                format!(
                    "{} {} ceiling {rate:.0}/s is below its knee: a measurement error",
                    k.middleware,
                    brokerbench_common::settings::value_name(&stage)
                )
            })
        })
        .collect()
}

/// The run's answers, from every repeat of every path, the sweep's knees and the ceilings.
pub fn verdict(paths: &[PathResult], knees: &[Knee], ceilings: Option<&Ceilings>) -> Vec<Answer> {
    let collect = |pick: &dyn Fn(&PathResult) -> Option<f64>| -> Samples {
        let mut s = Samples::new();
        for p in paths {
            if let Some(v) = pick(p) {
                s.entry(p.middleware).or_default().push(v);
            }
        }
        s
    };
    let rankable = |m: Middleware| {
        paths
            .iter()
            .filter(|p| p.middleware == m)
            .all(|p| not_rankable(p).is_none())
    };
    let e2e = collect(&|p| {
        let l = p.latencies.get(&LatencyMetric::E2e)?;
        rankable(p.middleware).then_some(l.p99 as f64 / 1e3)
    });
    let cpu = collect(&|p| p.cpu_seconds_per_10k_cases);
    let raw = [raw_p(&e2e, false), raw_p(&cpu, false)];
    let testable: Vec<f64> = raw.iter().flatten().copied().collect();
    let mut adjusted = holm(&testable).into_iter();
    let [p_e2e, p_cpu] = raw.map(|p| p.and_then(|_| adjusted.next()));
    let mut answers = Vec::new();
    answers.extend(latency_answer(paths, &e2e, p_e2e));
    answers.push(rate_answer(knees, ceilings));
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
#[path = "verdict_tests.rs"]
mod tests;
