//! `brokerbench sweep`: per path, double the offered rate until the path falls behind, then
//! bisect between the last rate it kept up with and the first it did not until the two lie
//! within `--bisect-within` percent (10 % by default: four bisections after a doubling). Every
//! step runs
//! `--repeat` times and keeps up only if every repeat did: every stage's backlog flat over the
//! step, the generator on schedule and the accounting consistent (see `run::attribution`), not
//! merely "most cases stored". Writes the latency-vs-throughput curve to `sweep.csv`,
//! `sweep.json` and `report.html` (p50 and p99 against the achieved rate, the knee marked).

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use clap::Args;
use serde::Serialize;

use crate::report::terminal::limited_by;
use crate::results::files;
use crate::results::knee::Knee;
use crate::results::rows::{self, SweepRow};
use crate::results::summary::{LatencySummary, PathResult};
use crate::run::{RunOpts, group_processes, group_run};

#[derive(Debug, Clone, Args)]
pub struct SweepOpts {
    /// First offered rate, cases per second.
    #[arg(long, default_value_t = 250.0, value_parser = crate::units::rate)]
    pub start_rate: f64,
    /// Never offer more than this, cases per second.
    #[arg(long, default_value_t = 16_000.0, value_parser = crate::units::rate)]
    pub max_rate: f64,
    /// Bisect until the first rate fallen behind at is within this many percent above the last
    /// rate kept up with (the knee's precision).
    #[arg(long, default_value_t = 10.0, value_parser = bisect_percent)]
    pub bisect_within: f64,
    #[command(flatten)]
    pub run: RunOpts,
}

#[derive(Debug, Serialize)]
pub(crate) struct SweepPath {
    pub middleware: Middleware,
    /// Highest offered rate every repeat kept up with (None: not even the first).
    pub saturation_rate: Option<f64>,
    pub points: Vec<PathResult>,
}

/// Every repeat of a step kept up.
fn keeps_up(results: &[PathResult]) -> bool {
    results.iter().all(|r| {
        r.accounting.consistent
            && r.attribution
                .as_ref()
                .is_some_and(|a| a.limited_by.is_none())
    })
}

/// Runs the step at `rate` `repeat` times; the results and whether all kept up.
async fn step(
    opts: &SweepOpts,
    ctx: &group_processes::Context,
    m: Middleware,
    rate: f64,
    done: u32,
) -> anyhow::Result<Vec<PathResult>> {
    let mut step = opts.run.clone();
    step.rate = rate;
    let mut results = Vec::new();
    for r in 0..opts.run.repeat.max(1) {
        let mut result = group_run::run_group(&step, ctx, &[m], done + r).await?;
        results.append(&mut result);
    }
    let limits: Vec<String> = results.iter().map(limited_by).collect();
    eprintln!(
        "{m}: {rate:.0} cases/s → {} ({})",
        if keeps_up(&results) {
            "keeps up"
        } else {
            "falls behind"
        },
        limits.join(", ")
    );
    Ok(results)
}

/// `--bisect-within`: a percentage above 0 and at most 100 (one doubling).
fn bisect_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!("{s:?} is not a percentage in (0, 100]")),
    }
}

/// The next step's rate: double (up to `--max-rate`) while every step kept up, then halve the
/// gap between the last kept-up rate and the lowest failed one until it is within
/// `--bisect-within` percent of the kept-up rate; none when the sweep is done.
fn next_rate(good: Option<f64>, bad: Option<f64>, opts: &SweepOpts) -> Option<f64> {
    match (good, bad) {
        (Some(g), None) if g < opts.max_rate => Some((g * 2.0).min(opts.max_rate)),
        (Some(g), Some(b)) if b - g > g * opts.bisect_within / 100.0 => Some((g + b) / 2.0),
        _ => None,
    }
}

pub(crate) async fn sweep_path(
    opts: &SweepOpts,
    ctx: &group_processes::Context,
    m: Middleware,
) -> anyhow::Result<SweepPath> {
    let mut points: Vec<PathResult> = Vec::new();
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = opts.start_rate;
    loop {
        let results = step(opts, ctx, m, rate, points.len() as u32).await?;
        if keeps_up(&results) {
            good = Some(rate)
        } else {
            bad = Some(rate)
        }
        points.extend(results);
        match next_rate(good, bad, opts) {
            Some(next) if points.iter().all(|p| (p.rates.offered - next).abs() >= 1.0) => {
                rate = next
            }
            _ => break,
        }
    }
    points.sort_by(|a, b| a.rates.offered.total_cmp(&b.rates.offered));
    Ok(SweepPath {
        middleware: m,
        saturation_rate: good,
        points,
    })
}

impl SweepPath {
    /// The path's knee: the highest step every repeat kept up with below the lowest step one
    /// did not (a step kept up above a failed one is noise, and not believed), with the worst
    /// repeat's e2e at it and why the failed step failed.
    pub(crate) fn knee(&self) -> Knee {
        let mut steps: Vec<(f64, Vec<&PathResult>)> = Vec::new();
        for p in &self.points {
            match steps
                .iter_mut()
                .find(|(rate, _)| (*rate - p.rates.offered).abs() < 1.0)
            {
                Some((_, repeats)) => repeats.push(p),
                None => steps.push((p.rates.offered, vec![p])),
            }
        }
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        let held =
            |repeats: &[&PathResult]| repeats.iter().all(|r| keeps_up(std::slice::from_ref(*r)));
        let failed = steps.iter().find(|(_, repeats)| !held(repeats));
        let kept = steps
            .iter()
            .rfind(|(rate, repeats)| held(repeats) && failed.is_none_or(|(f, _)| rate < f));
        let e2e = |pick: fn(&LatencySummary) -> u64| {
            kept.and_then(|(_, repeats)| {
                repeats
                    .iter()
                    .filter_map(|r| r.latencies.get(&LatencyMetric::E2e).map(pick))
                    .max()
            })
        };
        Knee {
            middleware: self.middleware,
            kept_up_per_s: kept.map(|(rate, _)| *rate),
            e2e_p50_us: e2e(|l| l.p50),
            e2e_p99_us: e2e(|l| l.p99),
            failed_per_s: failed.map(|(rate, _)| *rate),
            failed_because: failed.map(|(_, repeats)| why_failed(repeats)),
        }
    }
}

/// What limited the first repeat of a step that fell behind: its stage, else its accounting.
fn why_failed(repeats: &[&PathResult]) -> String {
    let failing = repeats.iter().find(|r| !keeps_up(std::slice::from_ref(*r)));
    match failing {
        Some(r) if !r.accounting.consistent => r
            .accounting
            .problems
            .first()
            .cloned()
            .unwrap_or_else(|| "inconsistent accounting".into()),
        Some(r) => limited_by(r),
        None => "kept up".into(),
    }
}

pub(crate) fn row(m: Middleware, r: &PathResult) -> SweepRow {
    let e2e = r
        .latencies
        .get(&LatencyMetric::E2e)
        .cloned()
        .unwrap_or_default();
    SweepRow {
        middleware: m.to_string(),
        repeat: r.repeat,
        offered_per_s: r.rates.offered,
        achieved_per_s: r.rates.achieved,
        stored_per_s: r.rates.stored_per_s,
        e2e_p50_us: e2e.p50,
        e2e_p99_us: e2e.p99,
        e2e_p999_us: e2e.p999,
        http_corrected_p99_us: r
            .latencies
            .get(&LatencyMetric::HttpCorrected)
            .map_or(0, |l| l.p99),
        unanswered_requests: r.accounting.unanswered_requests,
        unstored_at_deadline: r.accounting.unstored_at_deadline,
        consistent: r.accounting.consistent,
        limited_by: limited_by(r),
    }
}

pub async fn run(mut opts: SweepOpts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.start_rate > 0.0 && opts.max_rate >= opts.start_rate,
        "need 0 < --start-rate <= --max-rate"
    );
    if opts.run.label == "run" {
        opts.run.label = "sweep".into();
    }
    let ctx = group_processes::Context::new(&opts.run)?;
    let ceilings = if opts.run.ceilings {
        let c = crate::ceilings::measure(&crate::run::ceilings_opts(&opts.run)).await?;
        files::write_json(&ctx.dir.join("ceilings.json"), &c)?;
        println!(
            "{}\n{}",
            crate::report::terminal::CEILINGS_CAPTION,
            crate::report::terminal::ceilings_table(&c, &[])
        );
        Some(c)
    } else {
        None
    };
    let mut paths = Vec::new();
    for m in opts.run.middlewares.clone() {
        paths.push(sweep_path(&opts, &ctx, m).await?);
    }
    let rows: Vec<SweepRow> = paths
        .iter()
        .flat_map(|p| p.points.iter().map(|r| row(p.middleware, r)))
        .collect();
    for p in &paths {
        println!(
            "{:>9}: keeps up to {}",
            p.middleware,
            p.saturation_rate
                .map(|r| format!("{r:.0} cases/s"))
                .unwrap_or_else(|| "— (not even the start rate)".into())
        );
    }
    rows::append(&ctx.dir.join("sweep.csv"), rows)?;
    files::write_json(
        &ctx.dir.join("sweep.json"),
        &serde_json::json!({ "repeat": opts.run.repeat, "ceilings": ceilings, "paths": paths }),
    )?;
    let report = crate::report::write_sweep_report(&ctx.dir)?;
    println!(
        "results: {}\nreport:  {}",
        ctx.dir.display(),
        report.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::attribution::{Attribution, Backlog, Stage};

    /// One repeat of a step at `offered`, limited by `limited` (none: kept up), e2e p99 `p99_us`.
    pub(crate) fn step_result(offered: f64, limited: Option<Stage>, p99_us: u64) -> PathResult {
        let mut r = crate::results::summary::tests::sample().paths.remove(0);
        r.rates.offered = offered;
        if let Some(e2e) = r.latencies.get_mut(&LatencyMetric::E2e) {
            e2e.p99 = p99_us;
        }
        r.attribution = Some(Attribution {
            limited_by: limited,
            evidence: String::new(),
            growth_per_s: Backlog::default(),
            store_busy: None,
        });
        r
    }

    fn path(points: Vec<PathResult>) -> SweepPath {
        SweepPath {
            middleware: Middleware::Nats,
            saturation_rate: None,
            points,
        }
    }

    #[test]
    fn the_knee_lies_between_the_last_step_kept_up_and_the_first_failed() {
        let knee = path(vec![
            step_result(500.0, None, 8_000),
            step_result(1_000.0, None, 9_000),
            step_result(1_000.0, None, 12_000),
            step_result(2_000.0, Some(Stage::Broker), 900_000),
            step_result(1_500.0, None, 20_000),
        ])
        .knee();
        assert_eq!(knee.kept_up_per_s, Some(1_500.0));
        assert_eq!(knee.e2e_p99_us, Some(20_000));
        assert_eq!(knee.failed_per_s, Some(2_000.0));
        assert_eq!(knee.failed_because.as_deref(), Some("broker"));
    }

    #[test]
    fn one_failed_repeat_fails_the_step_and_a_later_success_is_not_believed() {
        let knee = path(vec![
            step_result(500.0, None, 8_000),
            step_result(1_000.0, None, 9_000),
            step_result(1_000.0, Some(Stage::Store), 9_000),
            step_result(1_500.0, None, 9_000),
        ])
        .knee();
        assert_eq!(
            (knee.kept_up_per_s, knee.failed_per_s),
            (Some(500.0), Some(1_000.0))
        );
        let mut inconsistent = step_result(500.0, None, 8_000);
        inconsistent.accounting.consistent = false;
        inconsistent.accounting.problems = vec!["3 accepted cases were not stored".into()];
        let knee = path(vec![inconsistent]).knee();
        assert_eq!(knee.kept_up_per_s, None);
        assert_eq!(
            knee.failed_because.as_deref(),
            Some("3 accepted cases were not stored")
        );
    }

    fn sweep_opts(args: &[&str]) -> SweepOpts {
        let all = ["brokerbench", "sweep"].iter().chain(args);
        match <crate::Opts as clap::Parser>::parse_from(all).command {
            crate::Command::Sweep(opts) => *opts,
            other => panic!("parsed {other:?}"),
        }
    }

    /// The rates a sweep visits on a path that keeps up below `limit` and falls behind above.
    fn walk(opts: &SweepOpts, limit: f64) -> Vec<f64> {
        let (mut good, mut bad, mut rate, mut visited) = (None, None, opts.start_rate, vec![]);
        loop {
            visited.push(rate);
            if rate < limit {
                good = Some(rate)
            } else {
                bad = Some(rate)
            }
            match next_rate(good, bad, opts) {
                Some(next) => rate = next,
                None => return visited,
            }
        }
    }

    #[test]
    fn the_sweep_bisects_until_the_knee_is_known_within_ten_percent() {
        let opts = sweep_opts(&["--start-rate=500", "--max-rate=4000"]);
        assert_eq!(
            walk(&opts, 1_300.0),
            [500.0, 1_000.0, 2_000.0, 1_500.0, 1_250.0, 1_375.0]
        );
        for limit in [700.0, 1_300.0, 2_900.0, 3_700.0] {
            let visited = walk(&opts, limit);
            let kept = visited
                .iter()
                .copied()
                .filter(|r| *r < limit)
                .fold(0.0, f64::max);
            let failed = visited
                .iter()
                .copied()
                .filter(|r| *r >= limit)
                .fold(f64::MAX, f64::min);
            assert!(
                failed <= kept * 1.1,
                "limit {limit}: kept {kept}, failed {failed} after {visited:?}"
            );
        }
        let coarse = sweep_opts(&["--start-rate=500", "--bisect-within=50"]);
        assert_eq!(walk(&coarse, 1_300.0), [500.0, 1_000.0, 2_000.0, 1_500.0]);
    }

    #[test]
    fn the_sweep_tries_its_top_rate_and_stops_there() {
        let opts = sweep_opts(&["--start-rate=500", "--max-rate=3000"]);
        assert_eq!(walk(&opts, 1e9), [500.0, 1_000.0, 2_000.0, 3_000.0]);
        assert!(
            <crate::Opts as clap::Parser>::try_parse_from([
                "brokerbench",
                "sweep",
                "--bisect-within=0"
            ])
            .is_err()
        );
    }

    #[test]
    fn a_path_that_never_failed_has_no_failed_step() {
        let knee = path(vec![step_result(500.0, None, 8_000)]).knee();
        assert_eq!((knee.kept_up_per_s, knee.failed_per_s), (Some(500.0), None));
    }
}
