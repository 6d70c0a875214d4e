//! `brokerbench sweep`: per path, double the offered rate until the path falls behind (with
//! `--top-first`, as `run --sweep-to` does: offer the top rate second), then search between the
//! last rate it kept up with and the first it did not until the two lie within
//! `--bisect-within` percent (10 % by default), stepping just below a saturated step's stored
//! rate where it has one and halving the bracket where not (see [`crate::run::rate_walk`]).
//! Every step runs `--repeat` times and keeps up only if every repeat did: every stage's backlog
//! flat over the step, the generator on schedule and the accounting consistent (see
//! `run::attribution`), not merely "most cases stored". Writes the latency-vs-throughput curve
//! to `sweep.csv`, `sweep.json` and `report.html` (p50 and p99 against the achieved rate, the
//! knee marked).

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use clap::Args;
use serde::Serialize;

use crate::report::terminal::limited_by;
use crate::results::files;
use crate::results::knee::Knee;
use crate::results::rows::{self, SweepRow};
use crate::results::summary::{LatencySummary, PathResult};
use crate::run::rate_walk::{RateWalk, StepOutcome};
use crate::run::{RunOpts, RunRouting, group_processes, group_run};

#[derive(Debug, Clone, Args)]
pub struct SweepOpts {
    /// First offered rate, cases per second.
    #[arg(long, default_value_t = 250.0, value_parser = crate::units::rate)]
    pub start_rate: f64,
    /// Never offer more than this, cases per second.
    #[arg(long, default_value_t = 16_000.0, value_parser = crate::units::rate)]
    pub max_rate: f64,
    /// Search until the first rate fallen behind at is within this many percent above the last
    /// rate kept up with (the knee's precision).
    #[arg(long, default_value_t = 10.0, value_parser = bisect_percent)]
    pub bisect_within: f64,
    /// Offer --max-rate right after --start-rate instead of doubling: a path that keeps up there
    /// is done after two steps, one that does not is searched between the two. The knee as
    /// precisely, in fewer steps, with fewer points on the curve (`run --sweep-to` does this).
    #[arg(long)]
    pub top_first: bool,
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

/// Runs the step at `rate` `repeat` times; the path's first run gets its own warm-up unless
/// `--warmup` says (Kafka's broker may be cold), later ones `--warmup` or the default.
async fn step(
    opts: &SweepOpts,
    ctx: &group_processes::Context,
    m: Middleware,
    rate: f64,
    done: u32,
) -> anyhow::Result<Vec<PathResult>> {
    let mut step = match done {
        0 => opts.run.for_group(&[m]),
        _ => opts.run.clone(),
    };
    step.rate = rate;
    let mut results = Vec::new();
    for r in 0..opts.run.repeat.max(1) {
        let mut result = group_run::run_group(&step, ctx, &[m], done + r).await?;
        results.append(&mut result);
    }
    Ok(results)
}

/// One line per step on the terminal: whether it kept up, and what limited each repeat.
fn announce(m: Middleware, rate: f64, results: &[PathResult], source: &str) {
    let limits: Vec<String> = results.iter().map(limited_by).collect();
    let verdict = if keeps_up(results) {
        "keeps up"
    } else {
        "falls behind"
    };
    eprintln!(
        "{m}: {rate:.0} cases/s → {verdict} ({}){source}",
        limits.join(", ")
    );
}

/// `--bisect-within`: a percentage above 0 and at most 100 (one doubling).
fn bisect_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!("{s:?} is not a percentage in (0, 100]")),
    }
}

/// Steps one path's rate up from `opts.start_rate`. `measured`: the path's runs at the start
/// rate that the caller already has (`run --sweep-to`'s fixed-rate runs, same pipeline, longer
/// measure phase), taken as the first step rather than run again; empty to run it.
pub(crate) async fn sweep_path(
    opts: &SweepOpts,
    ctx: &group_processes::Context,
    m: Middleware,
    measured: Vec<PathResult>,
) -> anyhow::Result<SweepPath> {
    let mut points: Vec<PathResult> = Vec::new();
    let mut walk = RateWalk::new(opts.max_rate, opts.bisect_within, opts.top_first);
    let mut rate = opts.start_rate;
    let mut first = Some(measured).filter(|runs| !runs.is_empty());
    loop {
        let results = match first.take() {
            Some(runs) => {
                announce(m, rate, &runs, " — the fixed-rate run's");
                runs
            }
            None => {
                let runs = step(opts, ctx, m, rate, points.len() as u32).await?;
                announce(m, rate, &runs, "");
                runs
            }
        };
        walk.record(StepOutcome {
            offered: rate,
            kept_up: keeps_up(&results),
            stored_per_s: (results.iter().map(|r| r.rates.stored_per_s)).fold(f64::MAX, f64::min),
        });
        points.extend(results);
        match walk.next() {
            Some(next) if points.iter().all(|p| (p.rates.offered - next).abs() >= 1.0) => {
                rate = next
            }
            _ => break,
        }
    }
    points.sort_by(|a, b| a.rates.offered.total_cmp(&b.rates.offered));
    Ok(SweepPath {
        middleware: m,
        saturation_rate: walk.kept_up(),
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

/// Warm-up of each sweep step: long enough for the backlogs to reach their steady state before
/// their slope is judged.
const SWEEP_WARMUP_S: u64 = 3;

/// The drain's quiet period in a sweep step at most. A step has no faults, so no case is
/// redelivered soon after the load (a broker's own redelivery, after an ack wait of 10–60 s,
/// would come after any quiet period): a longer `--quiet-period-ms` would only lengthen each of
/// `make bench`'s ~15 steps.
const SWEEP_QUIET_PERIOD_MS: u64 = 500;

/// Precision of the knee `--sweep-to` finds: the first failed rate within 10 % above the last
/// kept-up one.
const SWEEP_BISECT_WITHIN_PERCENT: f64 = 10.0;

/// `run --sweep-to`: the latency-vs-throughput curve of every path, into `<run>/sweep/`; returns
/// each path's knee.
/// The fixed-rate runs (`measured`) are the curve's first step when they ran each path alone and
/// without faults, as a step would: in `make bench` a step took 15–18 s, one per path saved.
pub(crate) async fn into_run(
    opts: &RunOpts,
    ctx: &group_processes::Context,
    to: f64,
    measured: &[PathResult],
) -> anyhow::Result<Vec<Knee>> {
    anyhow::ensure!(to > opts.rate, "--sweep-to must be above --rate");
    let sweep_ctx = group_processes::Context {
        binary: ctx.binary.clone(),
        dir: ctx.dir.join("sweep"),
        attached: ctx.attached.clone(),
    };
    std::fs::create_dir_all(&sweep_ctx.dir)?;
    let mut step = opts.clone();
    (step.duration, step.warmup, step.sweep_to, step.ceilings) =
        (opts.sweep_step_s.max(2), Some(SWEEP_WARMUP_S), None, false);
    step.faults.clear();
    step.quiet_period_ms = Some(step.quiet_period_ms().min(SWEEP_QUIET_PERIOD_MS));
    let sweep = SweepOpts {
        start_rate: opts.rate,
        max_rate: to,
        bisect_within: SWEEP_BISECT_WITHIN_PERCENT,
        top_first: true,
        run: step,
    };
    let (mut rows, mut knees) = (Vec::new(), Vec::new());
    let alike = opts.routing == RunRouting::Single && opts.faults.is_empty();
    for &m in &opts.middlewares {
        let first: Vec<PathResult> = measured
            .iter()
            .filter(|p| alike && p.middleware == m)
            .cloned()
            .collect();
        let path = sweep_path(&sweep, &sweep_ctx, m, first).await?;
        rows.extend(path.points.iter().map(|r| row(m, r)));
        knees.push(path.knee());
    }
    rows::append(&ctx.dir.join(crate::report::SWEEP_CSV), rows)?;
    Ok(knees)
}

/// `brokerbench sweep`; boxed so that its code is compiled once, in this crate (see
/// [`crate::run`]).
pub fn run(opts: SweepOpts) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(sweep_and_write(opts))
}

async fn sweep_and_write(mut opts: SweepOpts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.start_rate > 0.0 && opts.max_rate >= opts.start_rate,
        "need 0 < --start-rate <= --max-rate"
    );
    if opts.run.label == "run" {
        opts.run.label = "sweep".into();
    }
    opts.run.give_each_subscriber_a_partition();
    opts.run.join_clusters()?;
    let attached = crate::run::target::attach_if_targeted(&mut opts.run).await?;
    let ctx = group_processes::Context::new(&opts.run, attached)?;
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
        paths.push(sweep_path(&opts, &ctx, m, Vec::new()).await?);
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
#[path = "sweep_tests.rs"]
mod tests;
