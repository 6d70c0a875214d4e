//! `compare` on real repeated runs: a 10 ms hold in the subscriber shows in the end-to-end p50, and
//! runs whose configurations differ are refused unless the user asks to compare them anyway.
//! What identical or too few repeats are called is unit-tested on synthetic runs
//! (`analysis::comparison`): two real identical runs could only show that chance did not strike.

use crate::support;

use std::path::{Path, PathBuf};

use brokerbench::analysis::comparison::Judging;
use brokerbench::analysis::significance::Verdict;
use brokerbench::results::files::read_summary;
use brokerbench::results::summary::Summary;
use brokerbench::{Command, Opts};
use brokerbench_common::settings::Middleware;
use clap::Parser;
use support::OwnDb;

async fn run(results: &Path, db: &OwnDb, extra: &[&str]) -> PathBuf {
    let binary = std::env::var("BROKERBENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into());
    let mut all = vec![
        "brokerbench".to_string(),
        "run".into(),
        format!("--results-dir={}", results.display()),
        format!("--binary={binary}"),
        db.arg(),
    ];
    all.extend(
        [
            "--middlewares=nats",
            "--rate=100",
            "--duration=2",
            "--warmup=1",
            "--repeat=5",
        ]
        .map(String::from),
    );
    all.extend(extra.iter().map(|s| s.to_string()));
    let Command::Run(opts) = Opts::parse_from(all).command else {
        panic!("parsed a run")
    };
    brokerbench::run::run(*opts).await.expect("run completes")
}

async fn compare(runs: &[&Path], extra: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["brokerbench".to_string(), "compare".into()];
    all.extend(extra.iter().map(|s| s.to_string()));
    all.extend(runs.iter().map(|r| r.display().to_string()));
    brokerbench::run(Opts::parse_from(all)).await
}

fn e2e_p50(judging: &Judging, a: &Summary, b: &Summary) -> Option<Verdict> {
    judging
        .judge(&[a, b])
        .get(Middleware::Nats, "e2e_p50_us", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_finds_a_real_difference_and_refuses_unlike_runs() {
    let _exclusive = crate::EXCLUSIVE.lock().await;
    let results = std::env::temp_dir().join(format!(
        "brokerbench-significance-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let db = OwnDb::new();
    let a = run(&results, &db, &["--label=a"]).await;
    let held = run(&results, &db, &["--label=held", "--hold-batch-ms=10"]).await;
    let (a_s, held_s) = (
        read_summary(&a).expect("a"),
        read_summary(&held).expect("held"),
    );

    let one = Judging {
        figures: vec!["e2e_p50_us".into()],
        alpha: 0.05,
    };
    match e2e_p50(&one, &a_s, &held_s) {
        Some(Verdict::Tested { p, significant }) => assert!(
            significant,
            "a 10 ms hold is significant in e2e p50 (p = {p})"
        ),
        other => panic!("e2e p50 was not tested: {other:?}"),
    }

    let refused = compare(
        &[&a, &held],
        &[&format!("--out={}", results.join("refused").display())],
    )
    .await;
    let message = format!(
        "{:#}",
        refused.expect_err("a hold is a configuration difference")
    );
    assert!(
        message.contains("hold_batch_ms"),
        "names the difference: {message}"
    );
    let out = results.join("cmp");
    compare(
        &[&a, &held],
        &[
            "--allow-config-differences",
            "--figures=e2e_p50_us",
            &format!("--out={}", out.display()),
        ],
    )
    .await
    .expect("compare completes");
    let page = std::fs::read_to_string(out.join("compare.html")).expect("compare.html");
    assert!(
        page.contains("config-differences") && page.contains("SIGNIFICANT"),
        "the page flags the differences and the verdict"
    );
    let _ = std::fs::remove_dir_all(&results);
}
