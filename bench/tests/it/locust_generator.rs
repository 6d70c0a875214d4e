//! `run --generator locust` against the real stack: Locust's counts enter the accounting and the
//! result is labelled as a closed-loop run without a corrected HTTP distribution; workers started
//! apart from the run (as on other machines) send the load as well as local ones.

use crate::support;

use brokerbench::results::generator::Generator;
use brokerbench::results::summary::Summary;
use brokerbench_common::latency::LatencyMetric;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_run_accounts_for_every_request() {
    let summary = locust_run("nats", &["--cases-per-request=2"]).await;
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

/// Locust workers started apart from the run (as on other machines): the master waits for them,
/// they send the offered load, and every accepted case is accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_workers_started_elsewhere_send_the_load() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let workers: Vec<tokio::process::Child> = (0..2)
        .map(|_| {
            tokio::process::Command::new(format!("{root}/.stack/venv/bin/locust"))
                .args(["-f", &format!("{root}/locust/locustfile.py"), "--worker"])
                .args(["--master-host=127.0.0.1", &format!("--master-port={port}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("a Locust worker starts")
        })
        .collect();
    let bind = format!("--locust-master-bind=127.0.0.1:{port}");
    let summary = locust_run("grpc", &["--locust-expect-workers=2", &bind]).await;
    drop(workers);
    let path = &summary.paths[0];
    let a = &path.accounting;
    assert!(a.consistent, "{:?}", a.problems);
    assert_eq!(
        a.accepted, a.http_2xx,
        "the ingress accepted exactly the successes the master summed over its two workers"
    );
    assert!(
        path.latencies[&LatencyMetric::E2e].count > 0,
        "e2e recorded from the workers' intended send times"
    );
    let share = path.rates.achieved / path.rates.offered;
    assert!(
        (0.75..=1.1).contains(&share),
        "the remote workers sent {:.0}/s of {:.0}/s",
        path.rates.achieved,
        path.rates.offered
    );
}

/// A 4 s `run --generator locust` at 200 cases/s on `path` with `extra` options, in a database
/// and a results folder of its own; its summary.
async fn locust_run(path: &str, extra: &[&str]) -> Summary {
    let db = support::OwnDb::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut args = vec![
        "--generator=locust".to_string(),
        format!("--locustfile={root}/locust/locustfile.py"),
        format!("--locust-bin={root}/.stack/venv/bin/locust"),
        format!("--middlewares={path}"),
        "--rate=200".into(),
        "--duration=4".into(),
        "--warmup=2".into(),
        "--connections=4".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::run_in_own_db(&db, &args).await.0
}
