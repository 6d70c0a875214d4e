//! The endpoints every component serves: `/healthz` (readiness), `/metrics` (Prometheus text),
//! `/stats` (JSON counters with full HDR histograms per phase), `/clock` (the process's clock, so
//! the runner can check it against its own) and `POST /phases`, where the runner sets the
//! measure window before the load starts so that every sample is filed by its case's phase.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use brokerbench_common::clock::ClockReading;
use brokerbench_common::metrics::{PhaseBounds, Registry};

/// What a component is waiting for before it can do its job (a publisher or the store that is
/// disconnected, with why); empty when ready. Called on every `/healthz`.
pub type Readiness = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

pub fn routes(registry: Arc<Registry>, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(move || healthz(readiness.clone())))
        .route("/metrics", get(metrics))
        .route("/stats", get(stats))
        .route("/clock", get(|| async { Json(ClockReading::now()) }))
        .route("/phases", post(set_phases))
        .with_state(registry)
}

/// 200 "ok" when ready, else 503 with one line per thing not ready: load balancers and the
/// runner stop sending while a broker or the store is away, and a user sees which.
async fn healthz(readiness: Readiness) -> (StatusCode, String) {
    let waiting = readiness();
    if waiting.is_empty() {
        (StatusCode::OK, "ok\n".into())
    } else {
        let lines: String = waiting
            .iter()
            .map(|w| format!("not ready: {w}\n"))
            .collect();
        (StatusCode::SERVICE_UNAVAILABLE, lines)
    }
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        registry.prometheus(),
    )
}

async fn stats(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    Json(registry.stats())
}

async fn set_phases(
    State(registry): State<Arc<Registry>>,
    Json(bounds): Json<PhaseBounds>,
) -> impl IntoResponse {
    if bounds.measure_end_ns < bounds.measure_start_ns {
        return (
            StatusCode::BAD_REQUEST,
            "measure_end_ns is before measure_start_ns\n",
        );
    }
    registry.window().set(bounds);
    (StatusCode::OK, "ok\n")
}
