//! `POST /diag/hold` changes the writer's diagnostic hold only on a subscriber started with
//! `--diagnostics`, and only to a finite hold from 0 to 10 s: `?ms=1e300` once stopped the writer
//! for good.

use crate::support;

use brokerbench_common::settings::Middleware;
use support::{Pipeline, new_ns};

async fn hold(pipeline: &Pipeline, ms: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/diag/hold?ms={ms}",
            pipeline.subscriber(Middleware::Grpc)
        ))
        .send()
        .await
        .expect("subscriber answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diag_hold_is_refused_without_diagnostics() {
    let pipeline = Pipeline::start(&[Middleware::Grpc], "single", &[]).await;
    let (status, body) = hold(&pipeline, "50").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--diagnostics"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diag_hold_takes_only_a_bounded_finite_hold() {
    let pipeline = Pipeline::start_with(
        &new_ns(),
        &[Middleware::Grpc],
        "single",
        &[],
        &["--diagnostics"],
    )
    .await;
    for ms in ["1e300", "-1", "20000", "NaN", "inf", "ten", ""] {
        let (status, body) = hold(&pipeline, ms).await;
        assert_eq!(status, 400, "ms={ms}: {body}");
        assert!(body.contains("ms"), "ms={ms}: the reason: {body}");
    }
    let (status, body) = hold(&pipeline, "50").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = hold(&pipeline, "0").await;
    assert_eq!(status, 200, "{body}");
    // The writer still writes.
    let response = pipeline.post(&support::case(1)).await;
    assert_eq!(response.status(), 202);
    pipeline.wait_stored(Middleware::Grpc, 1).await;
    assert_eq!(pipeline.documents(Middleware::Grpc).await.len(), 1);
}
