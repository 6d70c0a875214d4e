//! Reading a run folder back: the summary, the full latency histograms from the interval logs,
//! the per-second series and the host files. Everything but `summary.json` is optional, so a
//! report of a partial or older folder shows what there is and says what is missing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use brokerbench_common::host::{HostSource, ProcessSnapshot, RamInfo, Sampled};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::{decode_histogram, new_histogram};
use brokerbench_common::settings::Middleware;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde::Deserialize;

use crate::results::files::read_summary;
use crate::results::rows::{self, ResourceRow, SeriesRow, SweepRow};

/// Where `run --sweep-to` leaves its curve inside a run folder.
pub const SWEEP_CSV: &str = "sweep/sweep.csv";
use crate::results::summary::Summary;

/// Everything a report shows about one run.
pub struct RunData {
    pub dir: PathBuf,
    /// The folder's name: what the dashboard and the comparison call the run.
    pub name: String,
    pub summary: Summary,
    /// Per path and metric, the sum of every interval of every repeat (µs).
    pub histograms: BTreeMap<(Middleware, LatencyMetric), Histogram<u64>>,
    pub series: Vec<SeriesRow>,
    /// The latency-vs-throughput steps of `run --sweep-to` (`sweep/sweep.csv`), if any.
    pub sweep: Vec<SweepRow>,
    pub host_ram: Vec<RamRow>,
    pub host: HostFile,
    /// Files that were absent or unreadable, shown on the page rather than failing it.
    pub missing: Vec<String>,
}

/// One tick of host RAM, deduplicated from `resources.csv` (which repeats it per process).
#[derive(Debug, Clone, PartialEq)]
pub struct RamRow {
    /// The group of paths measured together and the repeat, e.g. `grpc+nats r0`.
    pub run: String,
    pub t_s: f64,
    pub used_kib: u64,
    pub total_kib: u64,
    /// None for rows written without one.
    pub source: Option<HostSource>,
}

/// `host.json`: the RAM and process snapshot taken at the end of the run.
#[derive(Debug, Default, Deserialize)]
pub struct HostFile {
    pub ram: Option<Sampled<RamInfo>>,
    pub processes: Option<Sampled<ProcessSnapshot>>,
}

impl RunData {
    /// The fault windows (seconds since the measure phase began) of path `m`'s runs, or of every
    /// path's with `None`.
    pub fn fault_bands(&self, m: Option<Middleware>) -> Vec<(f64, f64)> {
        self.summary
            .paths
            .iter()
            .filter(|p| m.is_none_or(|m| p.middleware == m))
            .flat_map(|p| {
                p.resilience
                    .iter()
                    .map(|r| (r.fault.start_s, r.fault.end_s))
            })
            .collect()
    }

    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let summary = read_summary(dir)?;
        let mut missing = Vec::new();
        let mut histograms = BTreeMap::new();
        for p in &summary.paths {
            for metric in LatencyMetric::ALL {
                let file = dir.join(format!("{}-r{}-{metric}.hlog", p.middleware, p.repeat));
                match read_hlog(&file) {
                    Ok(h) => {
                        let sum = histograms
                            .entry((p.middleware, metric))
                            .or_insert_with(new_histogram);
                        sum.add(&h)
                            .map_err(|e| anyhow::anyhow!("{}: {e:?}", file.display()))?;
                    }
                    Err(e) => missing.push(format!("{e:#}")),
                }
            }
        }
        let series = rows::read::<SeriesRow>(&dir.join("timeseries.csv")).unwrap_or_else(|e| {
            missing.push(format!("{e:#}"));
            Vec::new()
        });
        let host_ram = rows::read::<ResourceRow>(&dir.join("resources.csv"))
            .map(ram_rows)
            .unwrap_or_else(|e| {
                missing.push(format!("{e:#}"));
                Vec::new()
            });
        let host = read_host(&dir.join("host.json")).unwrap_or_else(|e| {
            missing.push(format!("{e:#}"));
            HostFile::default()
        });
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| summary.label.clone());
        Ok(Self {
            dir: dir.to_owned(),
            name,
            summary,
            histograms,
            series,
            sweep: rows::read::<SweepRow>(&dir.join(SWEEP_CSV)).unwrap_or_default(),
            host_ram,
            host,
            missing,
        })
    }

    /// The paths of the run in the order they were measured, without repeats.
    pub fn middlewares(&self) -> Vec<Middleware> {
        let mut out: Vec<Middleware> = Vec::new();
        for p in &self.summary.paths {
            if !out.contains(&p.middleware) {
                out.push(p.middleware);
            }
        }
        out
    }

    pub fn histogram(&self, m: Middleware, metric: LatencyMetric) -> Option<&Histogram<u64>> {
        self.histograms.get(&(m, metric)).filter(|h| !h.is_empty())
    }

    /// True when the run was measured more than once per path.
    pub fn repeated(&self) -> bool {
        self.summary.paths.iter().any(|p| p.repeat > 0)
    }
}

/// The sum of the interval histograms of one `.hlog` file after the warm-up (intervals tagged
/// `measure` or `drain`: cases sent while measuring settle during the drain).
pub fn read_hlog(path: &Path) -> anyhow::Result<Histogram<u64>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut sum = new_histogram();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry
            .map_err(|e| anyhow::anyhow!("{} is not an interval log: {e:?}", path.display()))?;
        if let LogEntry::Interval(interval) = entry
            && interval.tag().is_none_or(|t| t.as_str() != "warmup")
        {
            let h = decode_histogram(interval.encoded_histogram())
                .with_context(|| format!("bad histogram in {}", path.display()))?;
            sum.add(&h)
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
        }
    }
    Ok(sum)
}

fn read_host(path: &Path) -> anyhow::Result<HostFile> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a host snapshot", path.display()))
}

/// One RAM reading per tick: `resources.csv` has a row per process and tick, each carrying the
/// tick's host figures.
fn ram_rows(rows: Vec<ResourceRow>) -> Vec<RamRow> {
    let mut out: Vec<RamRow> = Vec::new();
    for r in rows {
        let (Some(used_kib), Some(total_kib)) = (r.host_used_kib, r.host_total_kib) else {
            continue;
        };
        let run = format!("{} r{}", r.paths, r.repeat);
        if out
            .last()
            .is_some_and(|last| last.run == run && last.t_s == r.t_s)
        {
            continue;
        }
        out.push(RamRow {
            run,
            t_s: r.t_s,
            used_kib,
            total_kib,
            source: r.host_source,
        });
    }
    out
}

/// The source label a person reads: which reader produced the figures.
pub fn source_label(source: Option<HostSource>) -> &'static str {
    match source {
        Some(HostSource::KernelModule) => "kernel module (/proc/bb_ram, /proc/bb_procs)",
        Some(HostSource::Proc) => "/proc (kernel modules not loaded)",
        None => "unknown source",
    }
}
