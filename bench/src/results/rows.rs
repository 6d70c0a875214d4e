//! The rows of a run's CSV files, one serde type each, written with `csv::Writer` by the run and
//! read back with `csv::Reader` by the report: the header is the type, so the two cannot drift.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use brokerbench_common::host::HostSource;
use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};

use super::resources::UsageSource;
use super::role::Role;

/// One row of `timeseries.csv`: a path's rates and p99s over the second before a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRow {
    pub repeat: u32,
    pub middleware: Middleware,
    pub t_s: f64,
    pub offered_per_s: f64,
    pub accepted_per_s: f64,
    pub stored_per_s: f64,
    pub e2e_p99_us: Option<u64>,
    pub http_corrected_p99_us: Option<u64>,
    /// Backlogs at the sample, in cases (see `attribution::Backlog`).
    pub client_queue: f64,
    pub ingress_in_flight: f64,
    pub broker_backlog: f64,
    /// Of `broker_backlog`, what the broker itself counted as ready to deliver; empty where it
    /// was not read.
    #[serde(default)]
    pub broker_ready: Option<f64>,
    pub sink_backlog: f64,
    /// Share of the second the sink's writers spent writing; empty with `--sink none`.
    pub store_busy: Option<f64>,
}

/// One row of `resources.csv`: one process at one sample, with the host's RAM at that sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub repeat: u32,
    /// The paths measured together, e.g. `grpc+nats`.
    pub paths: String,
    pub t_s: f64,
    pub role: Role,
    pub pid: u32,
    pub name: String,
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub host_used_kib: Option<u64>,
    pub host_total_kib: Option<u64>,
    pub host_source: Option<HostSource>,
    /// Where `cpu_seconds` and `rss_kib` were read: `cgroup` (then `rss_kib` is its working set)
    /// or `processes` (/proc).
    pub read_from: UsageSource,
    /// Cumulative bytes and operations written to disk (from the cgroup; empty from /proc).
    pub disk_write_bytes: Option<u64>,
    pub disk_write_ops: Option<u64>,
}

/// One row of `sweep.csv`: one rate step of one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub middleware: String,
    pub repeat: u32,
    pub offered_per_s: f64,
    pub achieved_per_s: f64,
    pub stored_per_s: f64,
    pub e2e_p50_us: u64,
    pub e2e_p99_us: u64,
    pub e2e_p999_us: u64,
    pub http_corrected_p99_us: u64,
    pub unanswered_requests: u64,
    pub unstored_at_deadline: i64,
    pub consistent: bool,
    /// The stage that limited this step's run, or `kept up`.
    pub limited_by: String,
}

/// Appends `rows` to the CSV file at `path`, writing the header first if the file is new (a run
/// of several groups or repeats appends each in turn).
pub fn append<T: Serialize>(path: &Path, rows: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    let fresh = !path.exists();
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(fresh)
        .from_writer(file);
    for row in rows {
        writer
            .serialize(row)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Every row of the CSV file at `path`.
pub fn read<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("{} has an unexpected row", path.display()))
}

/// Seconds rounded to the millisecond, as the files carry them.
pub fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_rows_read_back_with_one_header() {
        let dir = std::env::temp_dir().join(format!("bb-rows-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("timeseries.csv");
        let _ = fs::remove_file(&path);
        let row = |t_s, p99| SeriesRow {
            repeat: 0,
            middleware: Middleware::Redis,
            t_s,
            offered_per_s: 100.0,
            accepted_per_s: 99.5,
            stored_per_s: 99.0,
            e2e_p99_us: p99,
            http_corrected_p99_us: None,
            client_queue: 0.0,
            ingress_in_flight: 2.0,
            broker_backlog: 10.0,
            broker_ready: p99.map(|_| 4.0),
            sink_backlog: 3.0,
            store_busy: Some(0.25),
        };
        append(&path, [row(1.0, Some(7))]).expect("first append");
        append(&path, [row(2.0, None)]).expect("second append");
        let back: Vec<SeriesRow> = read(&path).expect("reads");
        assert_eq!(back, vec![row(1.0, Some(7)), row(2.0, None)]);
        let text = fs::read_to_string(&path).expect("text");
        assert_eq!(text.matches("middleware").count(), 1, "one header: {text}");
        let _ = fs::remove_dir_all(&dir);
    }
}
