//! `run --generator locust` against the real stack: Locust's counts enter the accounting and the
//! result is labelled as a closed-loop run without a corrected HTTP distribution.

use crate::support;

use brokerbench::results::files;
use brokerbench::results::generator::Generator;
use brokerbench::{Command, Opts};
use brokerbench_common::latency::LatencyMetric;
use clap::Parser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_run_accounts_for_every_request() {
    let db = support::OwnDb::new();
    let dir = std::env::temp_dir().join(format!(
        "brokerbench-locust-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let args = [
        "brokerbench".to_string(),
        "run".into(),
        "--generator=locust".into(),
        format!("--locustfile={root}/locust/locustfile.py"),
        format!("--locust-bin={root}/.stack/venv/bin/locust"),
        format!("--binary={}", env!("CARGO_BIN_EXE_brokerbench")),
        format!("--results-dir={}", dir.display()),
        "--middlewares=nats".into(),
        "--rate=200".into(),
        "--duration=4".into(),
        "--warmup=2".into(),
        "--connections=4".into(),
        "--cases-per-request=2".into(),
        db.arg(),
    ];
    let Command::Run(opts) = Opts::parse_from(args).command else {
        panic!("parsed a run")
    };
    let run_dir = brokerbench::run::run(*opts)
        .await
        .expect("locust run completes");
    let summary = files::read_summary(&run_dir).expect("summary");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(summary.generator, Generator::Locust);
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert!(a.sent_requests > 0, "Locust sent nothing");
    assert_eq!(a.sent, a.sent_requests * 2);
    assert_eq!(a.stored, a.http_2xx * 2, "every accepted case stored");
    assert!(a.consistent, "{:?}", a.problems);
    for unmeasured in [
        LatencyMetric::HttpCorrected,
        LatencyMetric::HttpErrors,
        LatencyMetric::GeneratorLateness,
    ] {
        assert!(
            !path.latencies.contains_key(&unmeasured),
            "Locust does not measure {unmeasured}"
        );
    }
    assert!(path.latencies[&LatencyMetric::HttpUncorrected].count > 0);
    // Achieved is in cases (2 a request), not requests: about the 200/s offered, not 100.
    let share = path.rates.achieved / path.rates.offered;
    assert!(
        (0.75..=1.1).contains(&share),
        "achieved {:.0}/s",
        path.rates.achieved
    );
}
