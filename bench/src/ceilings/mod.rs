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
use clap::{Args, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::{Deserialize, Serialize};

use crate::run::output;
use crate::subscriber::{DEFAULT_BATCH_SIZE, DEFAULT_SINK_WRITERS};

/// A stage of the pipeline measured alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Store,
    Middleware,
    Ingress,
}

impl StageKind {
    pub const ALL: [Self; 3] = [Self::Store, Self::Middleware, Self::Ingress];
}

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

/// One stage's ceiling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceiling {
    pub stage: StageKind,
    /// The path, for the middleware and ingress stages.
    pub middleware: Option<Middleware>,
    /// Cases per second the stage sustained, saturated.
    pub rate_per_s: f64,
    /// Latency of one operation while saturated (a store batch, a publish, a request), µs.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub seconds: f64,
    /// What limited it, when the measurement can tell (e.g. "consuming: the broker's backlog
    /// grew").
    pub note: String,
}

/// What `ceilings.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceilings {
    /// One envelope on the wire, bytes (what the native tools are given as message size).
    pub message_bytes: usize,
    pub concurrency: usize,
    pub cases_per_request: usize,
    pub sink_writers: u16,
    pub batch_size: usize,
    pub ceilings: Vec<Ceiling>,
}

impl Ceilings {
    /// The ceiling of `stage` (for `m`, except the store's), if it was measured.
    pub fn get(&self, stage: StageKind, m: Middleware) -> Option<&Ceiling> {
        self.ceilings
            .iter()
            .find(|c| c.stage == stage && (stage == StageKind::Store || c.middleware == Some(m)))
    }

    /// The lowest ceiling on path `m`'s way: what the whole pipeline can sustain at most.
    pub fn pipeline(&self, m: Middleware) -> Option<(StageKind, f64)> {
        StageKind::ALL
            .into_iter()
            .filter_map(|s| self.get(s, m).map(|c| (s, c.rate_per_s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
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

/// The table `ceilings` prints and the report shows.
pub fn table(c: &Ceilings, saturation: &[(Middleware, f64)]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "stage",
        "path",
        "ceiling/s",
        "p50 ms",
        "p99 ms",
        "note",
    ]);
    let ms = |us: Option<u64>| us.map_or("-".into(), |u| format!("{:.2}", u as f64 / 1e3));
    for x in &c.ceilings {
        table.add_row(vec![
            brokerbench_common::settings::value_name(&x.stage),
            x.middleware.map_or("all".into(), |m| m.to_string()),
            format!("{:.0}", x.rate_per_s),
            ms(x.p50_us),
            ms(x.p99_us),
            x.note.clone(),
        ]);
    }
    for (m, rate) in saturation {
        table.add_row(vec![
            "pipeline (run)".into(),
            m.to_string(),
            format!("{rate:.0}"),
            "-".into(),
            "-".into(),
            "stored/s of the run".into(),
        ]);
    }
    table
}

/// `brokerbench ceilings`.
pub async fn run(opts: CeilingsOpts) -> anyhow::Result<()> {
    let dir = match &opts.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => output::run_dir(&opts.results_dir, "ceilings")?,
    };
    let ceilings = measure(&opts).await?;
    output::write_json(&dir.join("ceilings.json"), &ceilings)?;
    println!("{}", table(&ceilings, &[]));
    println!(
        "message size {} B; results: {}",
        ceilings.message_bytes,
        dir.join("ceilings.json").display()
    );
    Ok(())
}
