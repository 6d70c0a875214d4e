//! `brokerbench ingress`: accepts cases over HTTP and publishes them through the chosen
//! middleware(s), answering 202 only once every middleware acknowledged every case.

mod body;
mod handler;
mod headers;
mod keys;
mod routing;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::post;
use brokerbench_common::case::MAX_BATCH;
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::metrics::{Counter, Registry, Serves};
use brokerbench_common::settings::{BrokerSettings, Middleware};
use brokerbench_publishers::Publisher;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::diag::{Hold, parse_hold_ms};
pub use headers::{IDEMPOTENCY_KEY_HEADER, INTENDED_SEND_HEADER};
use routing::Routes;
pub use routing::RoutingMode;

#[derive(Debug, Clone, Args)]
pub struct IngressOpts {
    /// HTTP address to accept cases on (POST / or /cases) and serve /healthz, /metrics, /stats.
    #[arg(long, env = "BB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Write the address actually listened on to this file once listening (for `--listen` with
    /// port 0).
    #[arg(long)]
    pub address_file: Option<std::path::PathBuf>,
    /// Serve on this inherited listening socket (an open file descriptor) instead of binding
    /// `--listen`: how `run` starts its children, keeping each socket open across a restart.
    #[arg(long)]
    pub listen_fd: Option<std::os::fd::RawFd>,
    /// Middlewares to publish through (comma separated).
    #[arg(
        long,
        env = "BB_MIDDLEWARES",
        value_enum,
        value_delimiter = ',',
        default_values_t = Middleware::ALL
    )]
    pub middlewares: Vec<Middleware>,
    /// single: exactly one middleware; split: round robin per request across them;
    /// all: every case to every middleware, so they see identical traffic.
    #[arg(long, env = "BB_ROUTING", value_enum, default_value_t = RoutingMode::Split)]
    pub routing: RoutingMode,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "BB_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 30))]
    pub max_body_bytes: usize,
    /// Most bytes of request bodies read or parsed at once; beyond it requests get 503 with
    /// Retry-After. Each body counts as its Content-Length (or `--max-body-bytes` when sent
    /// chunked) from before it is read until it is parsed: a flood of large bodies cannot take
    /// more memory than this (and the small parse overhead on top).
    #[arg(long, env = "BB_MAX_BODY_BYTES_IN_FLIGHT", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 32))]
    pub max_body_bytes_in_flight: usize,
    /// Most cases being published at once; beyond it requests get 503 with Retry-After. At least
    /// one full batch (1,000).
    #[arg(long, env = "BB_MAX_IN_FLIGHT", default_value_t = 20_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(MAX_BATCH as u64..=1_000_000))]
    pub max_in_flight: usize,
    /// Longest a publish may wait for its middleware's acknowledgement, in milliseconds; then
    /// the request gets 504 with Retry-After and its place in flight is freed.
    #[arg(long, env = "BB_PUBLISH_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub publish_timeout_ms: u64,
    /// Longest a client may take to send its body, in milliseconds; then 408.
    #[arg(long, env = "BB_BODY_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Diagnostic: publish every Nth case twice, a forced redelivery that subscribers must
    /// store once and count as a duplicate (checks the accounting). 0 = off.
    #[arg(long, env = "BB_DUPLICATE_EVERY", default_value_t = 0)]
    pub duplicate_every: u64,
    /// Diagnostic: hold every answer this many milliseconds once it is ready, before it goes
    /// out. Calibrates the HTTP measurement: its p50 must grow by exactly this much. 0 = off.
    /// Never use it for real numbers.
    #[arg(long, env = "BB_HOLD_ANSWER_MS", default_value_t = 0.0, value_parser = parse_hold_ms)]
    pub hold_answer_ms: f64,
    /// Accept `POST /diag/hold` (changes the answer hold while running). Off by default: the
    /// endpoint can slow every answer down for anyone who reaches the port.
    #[arg(long, env = "BB_DIAGNOSTICS")]
    pub diagnostics: bool,
    #[command(flatten)]
    pub clock: crate::diag::ClockDiagOpts,
    #[command(flatten)]
    pub brokers: BrokerSettings,
    #[command(flatten)]
    pub access: crate::access::AccessOpts,
    #[command(flatten)]
    pub control: crate::control::ControlOpts,
    #[command(flatten)]
    pub connections: crate::http_server::ConnectionOpts,
}

/// The ingress's own counters, registered once (a request only increments them).
struct IngressCounters {
    requests: Arc<Counter>,
    accepted: Arc<Counter>,
    saturated: Arc<Counter>,
    responses_2xx: Arc<Counter>,
    responses_4xx: Arc<Counter>,
    responses_5xx: Arc<Counter>,
}

impl IngressCounters {
    fn register(registry: &Registry) -> Self {
        Self {
            requests: registry.counter(CounterMetric::Requests, None),
            accepted: registry.counter(CounterMetric::Accepted, None),
            saturated: registry.counter(CounterMetric::Saturated, None),
            responses_2xx: registry.counter(CounterMetric::Responses2xx, None),
            responses_4xx: registry.counter(CounterMetric::Responses4xx, None),
            responses_5xx: registry.counter(CounterMetric::Responses5xx, None),
        }
    }
}

/// Shared by every request.
struct Ingress {
    routes: Routes,
    in_flight: Semaphore,
    max_in_flight: usize,
    max_body_bytes: usize,
    /// Bytes of request bodies being read or parsed (see `--max-body-bytes-in-flight`).
    body_bytes: Semaphore,
    body_timeout: Duration,
    publish_timeout: Duration,
    duplicate_every: u64,
    hold_answer: Hold,
    accepted_total: std::sync::atomic::AtomicU64,
    counters: IngressCounters,
    /// Each recent `Idempotency-Key` with its body's fingerprint.
    keys: keys::KeyLedger,
}

/// The ingress until `shutdown`; boxed so that its code is compiled once, in this crate
/// (see [`crate::run`]).
pub fn run(
    opts: IngressOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(serve(opts, listener, shutdown))
}

async fn serve(
    opts: IngressOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.max_in_flight >= MAX_BATCH,
        "--max-in-flight must hold at least one full batch ({MAX_BATCH} cases)"
    );
    anyhow::ensure!(
        opts.max_body_bytes_in_flight >= opts.max_body_bytes,
        "--max-body-bytes-in-flight ({}) must hold at least one body of --max-body-bytes ({})",
        opts.max_body_bytes_in_flight,
        opts.max_body_bytes
    );
    body::give_large_blocks_back_when_freed();
    let mut publishers = Vec::new();
    for middleware in dedup(&opts.middlewares) {
        let publisher = Publisher::connect(middleware, &opts.brokers)
            .await
            .with_context(|| format!("cannot start the {middleware} publisher"))?;
        publishers.push(publisher);
    }
    let middlewares: Vec<Middleware> = publishers.iter().map(Publisher::middleware).collect();
    let serves = Serves::Ingress {
        every_case_to_each: opts.routing != RoutingMode::Split || middlewares.len() == 1,
        middlewares,
    };
    let registry = Arc::new(
        Registry::with_settings("ingress", opts.brokers.to_reported_args()).serving(serves),
    );
    let routes = Routes::new(opts.routing, publishers, &registry)?;
    let hold = Hold::new("ingress", opts.hold_answer_ms, opts.diagnostics);
    let ingress = Arc::new(Ingress {
        routes,
        in_flight: Semaphore::new(opts.max_in_flight),
        max_in_flight: opts.max_in_flight,
        max_body_bytes: opts.max_body_bytes,
        body_bytes: Semaphore::new(opts.max_body_bytes_in_flight),
        body_timeout: Duration::from_millis(opts.body_timeout_ms),
        publish_timeout: Duration::from_millis(opts.publish_timeout_ms),
        duplicate_every: opts.duplicate_every,
        hold_answer: hold.clone(),
        accepted_total: Default::default(),
        counters: IngressCounters::register(&registry),
        keys: keys::KeyLedger::default(),
    });
    let ready = ingress.clone();
    let readiness: crate::observe::Readiness = Arc::new(move || ready.routes.not_ready());
    // A safety net over the handler's own body and publish timeouts: no request outlives both.
    let longest = Duration::from_millis(opts.body_timeout_ms + opts.publish_timeout_ms + 1_000);
    let app = Router::new()
        .route("/", post(handler::post_cases))
        .route("/cases", post(handler::post_cases))
        .with_state(ingress)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            longest,
        ))
        .merge(hold.routes())
        .merge(crate::observe::routes(registry, readiness));
    let app = crate::access::Access::new(&opts.access, listener.local_addr().ok())
        .with_control(&opts.control)
        .guard(app);
    tracing::info!(addr = ?listener.local_addr().ok(), routing = ?opts.routing, "ingress ready");
    crate::http_server::serve(listener, app, &opts.connections, shutdown.cancelled()).await;
    Ok(())
}

fn dedup(middlewares: &[Middleware]) -> Vec<Middleware> {
    let mut out: Vec<Middleware> = Vec::new();
    for m in middlewares {
        if !out.contains(m) {
            out.push(*m);
        }
    }
    out
}
