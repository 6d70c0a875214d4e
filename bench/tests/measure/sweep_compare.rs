//! `sweep` and `compare` on real (short) runs: the curve and the comparison land on disk.

use std::path::{Path, PathBuf};

use crate::support;

use brokerbench::results::files;
use brokerbench::results::rows::{self, SweepRow};
use brokerbench::{Command, Opts};
use brokerbench_common::latency::LatencyMetric;
use clap::Parser;
use support::OwnDb;

fn args(results: &Path, db: &OwnDb, sub: &str, extra: &[&str]) -> Opts {
    let binary = std::env::var("BROKERBENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into());
    let mut all = vec![
        "brokerbench".to_string(),
        sub.into(),
        format!("--results-dir={}", results.display()),
        format!("--binary={binary}"),
        db.arg(),
    ];
    all.extend(extra.iter().map(|s| s.to_string()));
    Opts::parse_from(all)
}

fn newest(results: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(results)
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.pop().expect("a run folder")
}

/// `run --sweep-to` does not run its fixed rate again: the curve's first step holds the fixed-rate
/// run's own figures, and only the steps above it ran under `sweep/`.
fn the_first_step_is_the_fixed_rate_run(run: &Path) {
    let summary = files::read_summary(run).expect("summary.json");
    let e2e = &summary.paths[0].latencies[&LatencyMetric::E2e];
    let rows: Vec<SweepRow> = rows::read(&run.join("sweep/sweep.csv")).expect("sweep.csv");
    let first = &rows[0];
    assert_eq!(first.offered_per_s, 100.0, "{rows:?}");
    assert_eq!(
        (first.e2e_p50_us, first.e2e_p99_us, first.e2e_p999_us),
        (e2e.p50, e2e.p99, e2e.p999),
        "the 100/s step is the fixed-rate run's"
    );
    let logs: Vec<String> = std::fs::read_dir(run.join("sweep/logs"))
        .expect("the steps' logs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter().all(|l| l.starts_with("nats-r1-")),
        "only the 200/s step ran in sweep/: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_writes_the_curve_and_compare_the_page() {
    let _exclusive = crate::EXCLUSIVE.lock().await;
    let results = std::env::temp_dir().join(format!(
        "brokerbench-sweep-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let db = OwnDb::new();
    let short = ["--middlewares=nats", "--duration=2", "--warmup=1"];

    let sweep = args(
        &results,
        &db,
        "sweep",
        &[
            &short[..],
            &["--start-rate=100", "--max-rate=200", "--bisect-within=100"],
        ]
        .concat(),
    );
    let Command::Sweep(opts) = sweep.command else {
        panic!("parsed a sweep")
    };
    brokerbench::run::sweep::run(*opts)
        .await
        .expect("sweep completes");
    let dir = newest(&results);
    let curve: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).expect("sweep.json"))
            .expect("JSON");
    let path = &curve["paths"][0];
    assert_eq!(path["middleware"], "nats");
    let offered: Vec<f64> = path["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["rates"]["offered"].as_f64().expect("rate"))
        .collect();
    assert_eq!(
        offered,
        vec![100.0, 200.0],
        "doubling from the start rate up to the maximum"
    );
    assert_eq!(
        path["saturation_rate"], 200.0,
        "both rates keep up: {}",
        path["points"][1]["attribution"]["evidence"]
    );
    let page = std::fs::read_to_string(dir.join("report.html")).expect("the sweep's report.html");
    assert!(
        page.contains("chart-sweep-latency"),
        "the latency-vs-throughput chart"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sweep.csv"))
            .expect("csv")
            .lines()
            .count(),
        3
    );

    // The first run also sweeps (100 → 200 cases/s): its report holds the curve.
    let mut runs = Vec::new();
    for rate in [
        &["--rate=100", "--sweep-to=200", "--sweep-step-s=2"][..],
        &["--rate=150"],
    ] {
        let Command::Run(opts) = args(&results, &db, "run", &[&short[..], rate].concat()).command
        else {
            panic!("parsed a run")
        };
        runs.push(brokerbench::run::run(*opts).await.expect("run completes"));
    }
    let swept = std::fs::read_to_string(runs[0].join("sweep/sweep.csv")).expect("the run's sweep");
    assert_eq!(swept.lines().count(), 3, "header and two steps: {swept}");
    the_first_step_is_the_fixed_rate_run(&runs[0]);
    let report = std::fs::read_to_string(runs[0].join("report.html")).expect("report.html");
    assert!(
        report.contains("chart-sweep-latency"),
        "the run's report has the curve"
    );
    let out = results.join("cmp");
    let mut compare = vec![
        "brokerbench".to_string(),
        "compare".into(),
        "--allow-config-differences".into(),
        format!("--out={}", out.display()),
    ];
    compare.extend(runs.iter().map(|r| r.display().to_string()));
    brokerbench::run(Opts::parse_from(compare))
        .await
        .expect("compare completes");
    let page = std::fs::read_to_string(out.join("compare.html")).expect("compare.html");
    assert!(page.contains("<svg"), "the comparison page has charts");
    let _ = std::fs::remove_dir_all(&results);
}
