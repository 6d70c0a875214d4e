//! `brokerbench serve`: the dashboard (runs, stored cases, host) on loopback.
//!
//! Server-rendered pages with a JSON endpoint behind each (listed in `README-section.md`); the
//! only script is the host page's few lines that refresh it. Pages share the reports' CSS.

mod cases;
mod cases_page;
mod host;
mod runs;
mod stored_pages;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use brokerbench_common::settings::MongoSettings;
use clap::Args;
use maud::{Markup, html};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args)]
pub struct ServeOpts {
    /// Address of the dashboard.
    #[arg(long, env = "BB_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Write the address actually listened on to this file once listening (for `--listen`
    /// with port 0).
    #[arg(long)]
    pub address_file: Option<PathBuf>,
    /// Folder holding the runs.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    #[command(flatten)]
    pub mongo: MongoSettings,
    #[command(flatten)]
    pub access: crate::access::AccessOpts,
    #[command(flatten)]
    pub connections: crate::http_server::ConnectionOpts,
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    results_dir: PathBuf,
    db: mongodb::Database,
    host: Arc<host::HostState>,
}

/// The dashboard until `shutdown`; boxed so that its code is compiled once, in this crate
/// (see [`crate::run`]).
pub fn run(
    opts: ServeOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(serve_dashboard(opts, listener, shutdown))
}

async fn serve_dashboard(
    opts: ServeOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut mongo = mongodb::options::ClientOptions::parse(&opts.mongo.uri).await?;
    // A dashboard page should fail fast with a message, not hang for the driver's default 30 s.
    mongo.server_selection_timeout = Some(Duration::from_secs(5));
    mongo.app_name = Some("brokerbench-serve".into());
    let db = mongodb::Client::with_options(mongo)?.database(&opts.mongo.db);
    let host = Arc::new(host::HostState::new());
    let sampler = tokio::spawn(host::sample_ram(host.clone(), shutdown.clone()));
    let state = AppState {
        results_dir: opts.results_dir,
        db,
        host,
    };
    let app = Router::new()
        .route("/", get(runs::page))
        .route("/api/runs", get(runs::api))
        .route("/runs/{name}/report.html", get(runs::report))
        .route("/compare", get(runs::compare))
        .route("/cases", get(cases_page::page))
        .route("/api/cases/summary", get(cases_page::api_summary))
        .route("/api/cases", get(cases_page::api_cases))
        .route("/host", get(host::page))
        .route("/host/ram.svg", get(host::ram_svg))
        .route("/api/host/ram", get(host::api_ram))
        .route("/api/host/processes", get(host::api_processes))
        .with_state(state);
    let app = crate::access::Access::new(&opts.access, listener.local_addr().ok()).guard(app);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("dashboard on http://{addr}/");
    }
    crate::http_server::serve(listener, app, &opts.connections, shutdown.cancelled()).await;
    shutdown.cancel();
    let _ = sampler.await;
    Ok(())
}

/// The dashboard's bar; `here` is the page shown.
fn nav(here: &str) -> Markup {
    let link = |href: &str, name: &str| html! { a.here[name == here] href=(href) { (name) } };
    html! {
        header.top {
            strong { "brokerbench" }
            (link("/", "Runs")) (link("/cases", "Cases")) (link("/host", "Host"))
        }
    }
}

/// A failed request: its status and a message a person can act on.
struct AppError(StatusCode, String);

impl AppError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, message.into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

impl From<mongodb::error::Error> for AppError {
    fn from(e: mongodb::error::Error) -> Self {
        Self(StatusCode::BAD_GATEWAY, format!("MongoDB: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::warn!(status = %self.0, "{}", self.1);
        (self.0, self.1).into_response()
    }
}
