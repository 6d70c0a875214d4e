//! `brokerbench ceilings`: each stage of the pipeline alone, on this machine, with the project's
//! own code, so that a run's figures can be read against what each stage can do at most:
//!
//! - `store`: MongoDB inserts at the sink's batch size with its writer count;
//! - `middleware`: the path's own publisher (in this process, no HTTP) and its own subscriber
//!   with `--sink none`;
//! - `ingress`: HTTP in, the path's publisher and its subscriber with `--sink none`.
//!
//! Each stage is driven closed loop (a bounded number of operations outstanding, the next sent
//! as soon as one completes) for `--seconds` after a warm-up second. A saturated stage's
//! throughput is the highest rate it can sustain: offered any faster, its backlog grows. The
//! middleware stage reports what the subscriber *received*; if the broker's backlog grew during
//! the window, the consuming side was the limit, and the figure says so.

mod stages;
mod store;

use std::path::PathBuf;
use std::time::Duration;

use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::settings::{BrokerSettings, Middleware, MongoSettings};
use clap::Args;
use serde::Serialize;

use crate::results::ceilings::{Ceilings, StageKind};
use crate::results::files;
use crate::subscriber::{DEFAULT_BATCH_SIZE, DEFAULT_SINK_WRITERS};

#[derive(Debug, Clone, Args, Serialize)]
pub struct CeilingsOpts {
    /// Stages to measure (comma separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = StageKind::ALL)]
    pub stages: Vec<StageKind>,
    /// Paths whose middleware and ingress ceilings to measure (comma separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Middleware::ALL)]
    pub middlewares: Vec<Middleware>,
    /// Seconds each stage is driven after a one-second warm-up.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Operations outstanding at once: publishes (middleware) or HTTP requests (ingress).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Cases per publish and per HTTP request, as in `run --cases-per-request`.
    #[arg(long, default_value_t = 1)]
    pub cases_per_request: usize,
    /// Concurrent store writers, as in `run --sink-writers`.
    #[arg(long, default_value_t = DEFAULT_SINK_WRITERS)]
    pub sink_writers: u16,
    /// Documents per insert, as the subscriber's `--batch-size`.
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Write `ceilings.json` here (default: a new folder `results/<UTC time>-ceilings/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// brokerbench binary for the child processes (default: this one).
    #[arg(long, env = "BROKERBENCH_BIN")]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    #[serde(skip)]
    pub mongo: MongoSettings,
    #[command(flatten)]
    #[serde(skip)]
    pub brokers: BrokerSettings,
}

/// A representative envelope, as the ingress builds them.
pub fn sample_envelope(seed: u64) -> Envelope {
    let case = brokerbench_common::casegen::CaseGenerator::new(seed).next_case();
    Envelope::accept(case, now_ns(), Some(now_ns()))
}

/// Measures every selected stage and writes `ceilings.json`; returns what it measured.
pub async fn measure(opts: &CeilingsOpts) -> anyhow::Result<Ceilings> {
    anyhow::ensure!(opts.seconds >= 1.0, "--seconds must be at least 1");
    anyhow::ensure!(opts.concurrency >= 1, "--concurrency must be at least 1");
    let seconds = Duration::from_secs_f64(opts.seconds);
    let mut ceilings = Vec::new();
    if opts.stages.contains(&StageKind::Store) {
        eprintln!(
            "ceilings: store ({} writers × {} documents)…",
            opts.sink_writers, opts.batch_size
        );
        ceilings.push(store::measure(opts, seconds).await?);
    }
    for &m in &opts.middlewares {
        for stage in [StageKind::Middleware, StageKind::Ingress] {
            if opts.stages.contains(&stage) {
                eprintln!(
                    "ceilings: {m} {}…",
                    brokerbench_common::settings::value_name(&stage)
                );
                ceilings.push(stages::measure(opts, stage, m, seconds).await?);
            }
        }
    }
    Ok(Ceilings {
        message_bytes: sample_envelope(1).to_bytes().len(),
        concurrency: opts.concurrency,
        cases_per_request: opts.cases_per_request.max(1),
        sink_writers: opts.sink_writers,
        batch_size: opts.batch_size,
        ceilings,
    })
}

/// Boxed so that its code is compiled once, in this crate (see [`crate::run`]).
pub fn run(opts: CeilingsOpts) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(measure_and_write(opts))
}

/// `brokerbench ceilings`.
async fn measure_and_write(opts: CeilingsOpts) -> anyhow::Result<()> {
    let dir = match &opts.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => files::run_dir(&opts.results_dir, "ceilings")?,
    };
    let ceilings = measure(&opts).await?;
    files::write_json(&dir.join("ceilings.json"), &ceilings)?;
    println!(
        "{}\n{}",
        crate::report::terminal::CEILINGS_CAPTION,
        crate::report::terminal::ceilings_table(&ceilings, &[])
    );
    println!(
        "message size {} B; results: {}",
        ceilings.message_bytes,
        dir.join("ceilings.json").display()
    );
    Ok(())
}
