//! The control token: a component started with `--control-token` serves `/stats`, `/phases` and
//! `/diag/*` only to a request bearing it, while `/healthz`, `/metrics` and the cases go on
//! unchanged; and `run` with `BB_CONTROL_TOKEN` set hands it to the processes it starts and sends
//! it to them, so a whole run works behind the token.

use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;
use tokio::time::Instant;

use crate::support::{self, Pipeline, new_ns};

const TOKEN: &str = "it-control-token-0123456789";

async fn status(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("the subscriber answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoints_answer_only_the_bearer_of_the_token() {
    let token_arg = format!("--control-token={TOKEN}");
    let pipeline = Pipeline::start_with(
        &new_ns(),
        &[Middleware::Grpc],
        "single",
        &[],
        &[token_arg.as_str(), "--diagnostics"],
    )
    .await;
    let subscriber = pipeline.subscriber(Middleware::Grpc);
    let client = reqwest::Client::new();
    let stats = || client.get(format!("{subscriber}/stats"));
    let phases = || client.post(format!("{subscriber}/phases")).body("{}");
    let hold = || client.post(format!("{subscriber}/diag/hold?ms=0"));
    for (what, request) in [
        ("/stats without a token", stats()),
        (
            "/stats with another token",
            stats().bearer_auth("it-control-token-0123456780"),
        ),
        (
            "/stats with the token as Basic",
            stats().basic_auth(TOKEN, None::<&str>),
        ),
        ("/phases without a token", phases()),
        ("/diag/hold without a token", hold()),
    ] {
        let (code, body) = status(request).await;
        assert_eq!(code, 401, "{what}: {body}");
        assert!(body.contains("--control-token"), "{what}: {body}");
    }
    assert_eq!(status(hold().bearer_auth(TOKEN)).await.0, 200);
    for open in ["healthz", "metrics"] {
        let (code, body) = status(client.get(format!("{subscriber}/{open}"))).await;
        assert_eq!(code, 200, "/{open} stays open: {body}");
    }

    let response = pipeline.post(&support::case(1)).await;
    assert_eq!(response.status(), 202, "the cases do not need the token");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = stats().bearer_auth(TOKEN).send().await.expect("stats");
        assert_eq!(response.status(), 200, "the bearer reads /stats");
        let read: Stats = response.json().await.expect("stats JSON");
        if read.counter(CounterMetric::Stored, Some(Middleware::Grpc)) == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the case was not stored: {read:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, body) = status(client.get(format!("{}/stats", pipeline.ingress))).await;
    assert_eq!(
        code, 200,
        "an ingress on loopback without a token is open: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_works_behind_the_token_it_hands_to_its_processes() {
    let db = support::OwnDb::new();
    let dir = std::env::temp_dir().join(format!("bb-control-{}", new_ns()));
    let binary = std::env::var("BROKERBENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into());
    let run = |token: &str| {
        let mut command = tokio::process::Command::new(&binary);
        command
            .args([
                "run",
                "--middlewares=grpc",
                "--rate=100",
                "--duration=2",
                "--warmup=1",
            ])
            .arg(format!("--results-dir={}", dir.display()))
            .arg(db.arg())
            .env("BB_CONTROL_TOKEN", token)
            .kill_on_drop(true);
        command.output()
    };
    let refused = run("short").await.expect("run starts");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a bad token is refused");
    assert!(said.contains("BB_CONTROL_TOKEN"), "{said}");

    let ran = run(TOKEN).await.expect("run starts");
    let said = String::from_utf8_lossy(&ran.stderr);
    assert!(
        ran.status.success(),
        "the run failed behind the token: {said}"
    );
    assert!(!said.contains(TOKEN), "the token was printed: {said}");
    let run_dir = std::fs::read_dir(&dir)
        .expect("results")
        .flatten()
        .find(|e| e.path().join("summary.json").exists())
        .expect("a run folder")
        .path();
    let summary = brokerbench::results::files::read_summary(&run_dir).expect("summary");
    let _ = std::fs::remove_dir_all(&dir);
    let a = &summary.paths[0].accounting;
    assert!(a.stored > 0 && a.consistent, "{a:?}");
}
