//! The three endpoints every component serves: `/healthz`, `/metrics` (Prometheus text) and
//! `/stats` (JSON counters with full HDR histograms).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use brokerbench_common::metrics::Registry;

pub fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/stats", get(stats))
        .with_state(registry)
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], registry.prometheus())
}

async fn stats(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    Json(registry.stats())
}
