//! `brokerbench sweep`: per path, double the offered rate until the path saturates (p99
//! end-to-end over a bound, or stored/s below the offered rate), then bisect between the last
//! good and the first bad rate. Writes the latency-vs-rate curve to `sweep.json` and `sweep.csv`.

use brokerbench_common::latency::LatencyMetric;

use clap::Args;
use serde::Serialize;

use crate::run::rows::{self, SweepRow};
use crate::run::summary::PathResult;
use crate::run::{RunOpts, group_run, output};

#[derive(Debug, Clone, Args)]
pub struct SweepOpts {
    /// First offered rate, cases per second.
    #[arg(long, default_value_t = 250.0)]
    pub start_rate: f64,
    /// Never offer more than this, cases per second.
    #[arg(long, default_value_t = 16_000.0)]
    pub max_rate: f64,
    /// Saturated when p99 end-to-end exceeds this many milliseconds…
    #[arg(long, default_value_t = 200.0)]
    pub p99_bound_ms: f64,
    /// …or when stored/s falls below this fraction of the offered rate.
    #[arg(long, default_value_t = 0.95)]
    pub min_stored_fraction: f64,
    /// Bisection steps between the last good and the first saturated rate.
    #[arg(long, default_value_t = 2)]
    pub bisect_steps: u32,
    #[command(flatten)]
    pub run: RunOpts,
}

#[derive(Debug, Serialize)]
struct SweepPath {
    middleware: String,
    /// Highest offered rate that did not saturate (None: even the first one did).
    saturation_rate: Option<f64>,
    points: Vec<PathResult>,
}

pub async fn run(mut opts: SweepOpts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.start_rate > 0.0 && opts.max_rate >= opts.start_rate,
        "need 0 < --start-rate <= --max-rate"
    );
    if opts.run.label == "run" {
        opts.run.label = "sweep".into();
    }
    let ctx = group_run::Context::new(&opts.run)?;
    let mut paths = Vec::new();
    for m in opts.run.middlewares.clone() {
        let mut points: Vec<PathResult> = Vec::new();
        let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
        let mut rate = opts.start_rate;
        let mut bisected = 0;
        loop {
            let mut step = opts.run.clone();
            step.rate = rate;
            let result = group_run::run_group(&step, &ctx, &[m], points.len() as u32)
                .await?
                .remove(0);
            let saturated = saturated(&opts, &result);
            eprintln!(
                "{m}: {rate:.0} cases/s → {}",
                if saturated { "saturated" } else { "keeps up" }
            );
            points.push(result);
            if saturated {
                bad = Some(rate)
            } else {
                good = Some(rate)
            }
            rate = match (good, bad) {
                (Some(g), None) if g * 2.0 <= opts.max_rate => g * 2.0,
                (Some(_), None) => break,
                (None, Some(_)) => break,
                (Some(g), Some(b)) if bisected < opts.bisect_steps => {
                    bisected += 1;
                    (g + b) / 2.0
                }
                _ => break,
            };
            if points.iter().any(|p| (p.rates.offered - rate).abs() < 1.0) {
                break;
            }
        }
        points.sort_by(|a, b| a.rates.offered.total_cmp(&b.rates.offered));
        paths.push(SweepPath {
            middleware: m.to_string(),
            saturation_rate: good,
            points,
        });
    }
    let mut rows = Vec::new();
    for p in &paths {
        for r in &p.points {
            let e2e = r
                .latencies
                .get(&LatencyMetric::E2e)
                .cloned()
                .unwrap_or_default();
            rows.push(SweepRow {
                middleware: p.middleware.clone(),
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
            });
        }
        println!(
            "{:>9}: saturates above {}",
            p.middleware,
            p.saturation_rate
                .map(|r| format!("{r:.0} cases/s"))
                .unwrap_or_else(|| "— (even the start rate saturated)".into())
        );
    }
    rows::append(&ctx.dir.join("sweep.csv"), rows)?;
    output::write_json(
        &ctx.dir.join("sweep.json"),
        &serde_json::json!({
            "p99_bound_ms": opts.p99_bound_ms,
            "min_stored_fraction": opts.min_stored_fraction,
            "paths": paths,
        }),
    )?;
    println!("results: {}", ctx.dir.display());
    Ok(())
}

fn saturated(opts: &SweepOpts, r: &PathResult) -> bool {
    let p99_ms = r
        .latencies
        .get(&LatencyMetric::E2e)
        .map(|l| l.p99 as f64 / 1000.0)
        .unwrap_or(f64::INFINITY);
    p99_ms > opts.p99_bound_ms
        || r.rates.stored_per_s < opts.min_stored_fraction * r.rates.offered
        || !r.accounting.consistent
}
