//! The endpoints every component serves: `/healthz`, `/metrics` (Prometheus text), `/stats`
//! (JSON counters with full HDR histograms per phase) and `POST /phases`, where the runner sets
//! the measure window before the load starts so that every sample is filed by its case's phase.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use brokerbench_common::metrics::{PhaseBounds, Registry};

pub fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/stats", get(stats))
        .route("/phases", post(set_phases))
        .with_state(registry)
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
            axum::http::StatusCode::BAD_REQUEST,
            "measure_end_ns is before measure_start_ns\n",
        );
    }
    registry.window().set(bounds);
    (axum::http::StatusCode::OK, "ok\n")
}
