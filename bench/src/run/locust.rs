//! `run --generator locust`: Locust, headless with one worker process per core, drives the
//! ingress instead of the built-in generator. Locust is a closed-loop generator (a user waits for
//! each answer before sending the next), so its HTTP latencies are *not* corrected for
//! coordinated omission; results are labelled so, and carry only the uncorrected HTTP
//! distribution. Each user keeps a schedule (`--throughput-per-user`) and stamps every request
//! with its intended send time (`x-intended-send-ns`), so e2e is measured from it, corrected.

use brokerbench_common::latency::LatencyMetric;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use serde::Deserialize;
use tokio::process::{Child, Command};

use super::RunOpts;
use crate::analysis::compute::check_accounting;
use crate::results::summary::{LatencySummary, PathResult};

pub struct LocustRun {
    child: Child,
    prefix: PathBuf,
    log: PathBuf,
}

/// The Locust executable: `--locust-bin`, else the project's venv, else `locust` on PATH.
fn executable(opts: &RunOpts) -> PathBuf {
    if let Some(bin) = &opts.locust_bin {
        return bin.clone();
    }
    let venv = PathBuf::from(".stack/venv/bin/locust");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("locust")
    }
}

/// Who sends: local worker processes (`--locust-workers`, default one per core), or a master
/// that waits for workers started elsewhere (`--locust-expect-workers`).
fn worker_args(opts: &RunOpts) -> Vec<String> {
    match (opts.locust_expect_workers, opts.locust_workers) {
        (Some(n), _) => vec![
            "--master".into(),
            format!("--expect-workers={n}"),
            "--expect-workers-max-wait=120".into(),
            format!("--master-bind-host={}", opts.locust_master_bind.ip()),
            format!("--master-bind-port={}", opts.locust_master_bind.port()),
        ],
        (None, Some(n)) => vec![format!("--processes={n}")],
        (None, None) => vec!["--processes=-1".into()],
    }
}

/// Starts Locust against `url` for `seconds`, writing its CSV files under `dir`.
pub fn spawn(
    opts: &RunOpts,
    url: &str,
    seconds: u64,
    dir: &Path,
    tag: &str,
) -> anyhow::Result<LocustRun> {
    let prefix = dir.join(format!("{tag}-locust"));
    // An attached run starts no other process, so nothing else made the folder.
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join(format!("{tag}-locust.log"));
    let out =
        std::fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    let users = opts.connections.max(1);
    let per_user = opts.rate / opts.cases_per_request.max(1) as f64 / users as f64;
    let exe = executable(opts);
    let child = Command::new(&exe)
        .arg("-f")
        .arg(&opts.locustfile)
        .args([
            "--headless",
            "--only-summary",
            "--stop-timeout",
            "10",
            "--loglevel",
            "WARNING",
        ])
        .args(worker_args(opts))
        .args([
            "-u",
            &users.to_string(),
            "-r",
            &users.to_string(),
            "-t",
            &format!("{seconds}s"),
            "-H",
            url,
        ])
        .arg("--csv")
        .arg(&prefix)
        .args([
            "--seed",
            &opts.seed.to_string(),
            "--cases-per-request",
            &opts.cases_per_request.to_string(),
        ])
        .args(["--throughput-per-user", &format!("{per_user:.6}")])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start Locust ({}); run `locust/venv.sh` or pass --locust-bin",
                exe.display()
            )
        })?;
    Ok(LocustRun { child, prefix, log })
}

/// What Locust's CSV files say about the whole run.
#[derive(Debug, Clone, Default)]
pub struct LocustStats {
    pub requests: u64,
    /// Requests per second over Locust's whole run (its warm-up included).
    pub requests_per_s: f64,
    pub http_4xx: u64,
    pub http_5xx: u64,
    pub transport_errors: u64,
    pub latency: LatencySummary,
}

impl LocustRun {
    pub async fn wait(mut self) -> anyhow::Result<LocustStats> {
        let status = self.child.wait().await?;
        // Locust exits 1 when any request failed; the CSV still holds the figures.
        anyhow::ensure!(
            status.code().is_some_and(|c| c <= 1),
            "Locust failed ({status}); see {}",
            self.log.display()
        );
        read_stats(&self.prefix)
    }
}

#[derive(Debug, Deserialize)]
struct StatsRow {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Request Count")]
    requests: u64,
    #[serde(rename = "Requests/s")]
    requests_per_s: f64,
    #[serde(rename = "Average Response Time")]
    mean_ms: f64,
    #[serde(rename = "Min Response Time")]
    min_ms: f64,
    #[serde(rename = "Max Response Time")]
    max_ms: f64,
    #[serde(rename = "50%")]
    p50: String,
    #[serde(rename = "90%")]
    p90: String,
    #[serde(rename = "99%")]
    p99: String,
    #[serde(rename = "99.9%")]
    p999: String,
    #[serde(rename = "99.99%")]
    p9999: String,
}

#[derive(Debug, Deserialize)]
struct FailureRow {
    #[serde(rename = "Error")]
    error: String,
    #[serde(rename = "Occurrences")]
    occurrences: u64,
}

fn us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

/// Reads `<prefix>_stats.csv` (the Aggregated row) and `<prefix>_failures.csv`.
pub fn read_stats(prefix: &Path) -> anyhow::Result<LocustStats> {
    let stats_path = PathBuf::from(format!("{}_stats.csv", prefix.display()));
    let mut reader = csv::Reader::from_path(&stats_path)
        .with_context(|| format!("cannot read {}", stats_path.display()))?;
    let row = reader
        .deserialize::<StatsRow>()
        .filter_map(Result::ok)
        .find(|r| r.name == "Aggregated")
        .with_context(|| format!("no Aggregated row in {}", stats_path.display()))?;
    let pct = |s: &str| s.parse::<f64>().map(us).unwrap_or(0);
    let mut stats = LocustStats {
        requests: row.requests,
        requests_per_s: row.requests_per_s,
        latency: LatencySummary {
            count: row.requests,
            min: us(row.min_ms),
            mean: row.mean_ms * 1000.0,
            stddev: 0.0,
            p50: pct(&row.p50),
            p90: pct(&row.p90),
            p99: pct(&row.p99),
            p999: pct(&row.p999),
            p9999: pct(&row.p9999),
            max: us(row.max_ms),
        },
        ..Default::default()
    };
    let failures_path = PathBuf::from(format!("{}_failures.csv", prefix.display()));
    if let Ok(mut reader) = csv::Reader::from_path(&failures_path) {
        for f in reader.deserialize::<FailureRow>().filter_map(Result::ok) {
            let counter = if f.error.contains("HTTP 5") {
                &mut stats.http_5xx
            } else if f.error.contains("HTTP 4") {
                &mut stats.http_4xx
            } else {
                &mut stats.transport_errors
            };
            *counter += f.occurrences;
        }
    }
    Ok(stats)
}

/// Replaces the generator side of a path's result with what Locust measured.
pub fn apply(stats: &LocustStats, result: &mut PathResult, cases_per_request: u64) {
    for unmeasured in [
        LatencyMetric::HttpCorrected,
        LatencyMetric::HttpErrors,
        LatencyMetric::GeneratorLateness,
    ] {
        result.latencies.remove(&unmeasured);
    }
    result
        .latencies
        .insert(LatencyMetric::HttpUncorrected, stats.latency.clone());
    let failed = stats.http_4xx + stats.http_5xx + stats.transport_errors;
    // Locust gives only whole-run averages: achieved is its 2xx share of requests/s, in cases.
    let answered_2xx = stats.requests.saturating_sub(failed) as f64 / stats.requests.max(1) as f64;
    result.rates.achieved = stats.requests_per_s * answered_2xx * cases_per_request as f64;
    let a = &mut result.accounting;
    a.sent_requests = stats.requests;
    a.sent = stats.requests * cases_per_request;
    a.http_2xx = stats.requests.saturating_sub(failed);
    a.http_4xx = stats.http_4xx;
    a.http_5xx = stats.http_5xx;
    a.transport_errors = stats.transport_errors;
    check_accounting(a, cases_per_request, None);
}
