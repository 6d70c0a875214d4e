//! `brokerbench run`: each selected path in turn (or all at once with `--routing all`), with its
//! own subscriber and ingress processes: warm-up, measure at a fixed offered rate, drain, then
//! results under `results/<UTC timestamp>-<label>/` and a table on the terminal.

pub(crate) mod carry;
mod clocks;
pub mod cluster;
mod diagnostics;
mod environment;
pub mod faults;
mod generator_thread;
pub(crate) mod group_processes;
pub(crate) mod group_run;
mod load_stats;
pub mod loadgen;
mod locust;
pub mod loss;
mod measure;
mod offered_load;
mod opts;
pub mod output;
mod phases;
mod process_usage;
pub(crate) mod rate_walk;
pub(crate) mod sampler;
pub mod store_claim;
mod store_floor;
pub mod sweep;
pub mod target;
mod warmup;

use std::path::PathBuf;
use std::time::SystemTime;

use crate::results::figures::aggregate;
use crate::results::files;
use crate::results::generator::Generator;
use crate::results::summary::{PathResult, SCHEMA_VERSION, Summary};

pub use opts::{RunOpts, RunRouting, Topology};

/// The stage ceilings `run --ceilings` measures: the run's paths with its own settings.
pub(crate) fn ceilings_opts(opts: &RunOpts) -> crate::ceilings::CeilingsOpts {
    crate::ceilings::CeilingsOpts {
        stages: crate::results::ceilings::StageKind::ALL.to_vec(),
        middlewares: opts.middlewares.clone(),
        seconds: 5.0,
        concurrency: opts.connections,
        cases_per_request: opts.cases_per_request,
        sink_writers: opts.sink_writers,
        batch_size: crate::subscriber::DEFAULT_BATCH_SIZE,
        out: None,
        results_dir: opts.results_dir.clone(),
        binary: opts.binary.clone(),
        mongo: opts.mongo.clone(),
        brokers: opts.brokers.clone(),
    }
}

/// What `run` refuses before it starts anything.
fn validate(opts: &RunOpts) -> anyhow::Result<()> {
    anyhow::ensure!(opts.rate > 0.0, "--rate must be positive");
    anyhow::ensure!(opts.duration > 0, "--duration must be at least 1 second");
    anyhow::ensure!(!opts.middlewares.is_empty(), "no middleware selected");
    if let Some(period) = opts.hold_toggle_s {
        anyhow::ensure!(
            period >= 2 && 2 * period <= opts.duration,
            "--hold-toggle-s needs at least 2 s, and two periods within --duration"
        );
        anyhow::ensure!(
            opts.hold_batch_ms > 0.0 || opts.hold_answer_ms > 0.0,
            "--hold-toggle-s needs --hold-batch-ms or --hold-answer-ms"
        );
    }
    let clusters = (opts.topology == Topology::Cluster).then_some(opts.clusters.as_slice());
    faults::validate(
        &opts.faults,
        &opts.middlewares,
        opts.duration as f64,
        clusters,
    )
}

/// Every group run, every repeat; a path that is not consistent or has warnings is announced
/// as soon as it is known.
async fn run_paths(
    opts: &RunOpts,
    ctx: &group_processes::Context,
) -> anyhow::Result<Vec<PathResult>> {
    let groups = group_run::groups(opts);
    let mut paths = Vec::new();
    for repeat in 0..opts.repeat.max(1) {
        for group in &groups {
            let results = group_run::run_group(&opts.for_group(group), ctx, group, repeat).await?;
            for r in &results {
                if !r.accounting.consistent {
                    eprintln!(
                        "\n!!! {} (repeat {repeat}): NOT CONSISTENT: {}",
                        r.middleware,
                        r.accounting.problems.join("; ")
                    );
                }
                for w in &r.warnings {
                    eprintln!("\n!!! {} (repeat {repeat}): {w}", r.middleware);
                }
            }
            paths.extend(results);
        }
    }
    Ok(paths)
}

/// The verdict, the ceilings if measured, and the table, on the terminal.
fn print_summary(summary: &Summary, wide: bool) {
    use crate::report::terminal;
    println!("{}", terminal::verdict_text(summary));
    if let Some(c) = &summary.ceilings {
        let table = terminal::ceilings_table(c, &terminal::run_rates(summary));
        println!("{}\n{table}", terminal::CEILINGS_CAPTION);
    }
    if !wide {
        println!("{}", terminal::TABLE_CAPTION);
    }
    println!("{}", terminal::summary_table(summary, wide));
    let notes = [
        terminal::clocks_line(summary),
        terminal::store_floor_line(summary),
    ];
    for line in notes.into_iter().flatten() {
        println!("{line}");
    }
    for line in summary
        .attached
        .iter()
        .flat_map(crate::report::attached_lines)
    {
        println!("{line}");
    }
}

/// Boxed so that its code is compiled once, in this crate (see [`crate::run`]).
pub fn run(opts: RunOpts) -> futures::future::BoxFuture<'static, anyhow::Result<PathBuf>> {
    futures::FutureExt::boxed(run_and_write(opts))
}

/// Runs every path (and repeat) and writes the results folder; returns its path.
async fn run_and_write(mut opts: RunOpts) -> anyhow::Result<PathBuf> {
    opts.join_clusters()?;
    validate(&opts)?;
    opts.give_each_subscriber_a_partition();
    opts.quiet_period_ms = Some(opts.quiet_period_ms());
    let attached = target::attach_if_targeted(&mut opts).await?;
    let record = attached.as_ref().map(|a| a.record.clone());
    let ctx = group_processes::Context::new(&opts, attached)?;
    let dir = ctx.dir.clone();
    let started = SystemTime::now();
    // Before the load, on an idle store; an attached or clustered run's store is not this
    // machine's.
    let store_floor = match (&record, opts.topology) {
        (None, Topology::Single) => store_floor::measure().await,
        _ => None,
    };
    let ceilings = if opts.ceilings {
        let c = crate::ceilings::measure(&ceilings_opts(&opts)).await?;
        files::write_json(&dir.join("ceilings.json"), &c)?;
        Some(c)
    } else {
        None
    };
    let paths = run_paths(&opts, &ctx).await?;
    let knees = match opts.sweep_to {
        Some(to) => sweep::into_run(&opts, &ctx, to, &paths).await?,
        None => Vec::new(),
    };
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        label: opts.label.clone(),
        started_at: chrono::DateTime::<chrono::Utc>::from(started).to_rfc3339(),
        generator: opts.generator,
        config: environment::config_of(&opts)?,
        environment: environment::describe(&opts.brokers, record.is_some()),
        aggregate: aggregate(&paths),
        verdict: crate::analysis::verdict::verdict(&paths, &knees, ceilings.as_ref()),
        knees,
        ceilings,
        paths,
        attached: record,
        store_floor,
    };
    files::write_json(&dir.join("summary.json"), &summary)?;
    files::write_json(&dir.join("host.json"), &environment::host_snapshot())?;
    print_summary(&summary, opts.wide);
    let report = crate::report::write_report(&dir)?;
    println!("results: {}\nreport:  {}", dir.display(), report.display());
    Ok(dir)
}
