//! `brokerbench subscriber`: one middleware's consumer, storing into MongoDB, with its own
//! `/healthz`, `/metrics` and `/stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use brokerbench_common::metrics::{Registry, Serves};
use brokerbench_common::settings::{BrokerSettings, Middleware, MongoSettings};
use brokerbench_subscribers::sink::{self, SinkConfig, Store};
use brokerbench_subscribers::{Health, Source, SubscriberMetrics};
use clap::{Args, ValueEnum};
use mongodb::options::{Acknowledgment, WriteConcern};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::diag::{Hold, parse_hold_ms};

/// Most cases per insert by default.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// Concurrent writers by default: on FerretDB/PostgreSQL here, 4 writers of 500 documents stored
/// 26.5k docs/s against 13.8k with one and 26.6k with 8 (README, "The subscriber").
pub const DEFAULT_SINK_WRITERS: u16 = 4;

/// Where a subscriber puts its cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Store every case in MongoDB, then acknowledge it.
    Mongodb,
    /// Store nothing; acknowledge on receipt (middleware-only measurement).
    None,
}

/// How far MongoDB must have taken a write before it answers (and the case is acknowledged to
/// its middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteConcernKind {
    /// On a majority of the replica set, in its journal (w: majority, j: true).
    Majority,
    /// In the server's journal (w: 1, j: true).
    Journaled,
    /// In the server's memory (w: 1): a server crash can lose acknowledged cases.
    Acknowledged,
}

impl WriteConcernKind {
    pub fn write_concern(self) -> WriteConcern {
        let (w, journal) = match self {
            Self::Majority => (Acknowledgment::Majority, Some(true)),
            Self::Journaled => (Acknowledgment::Nodes(1), Some(true)),
            Self::Acknowledged => (Acknowledgment::Nodes(1), None),
        };
        WriteConcern::builder().w(w).journal(journal).build()
    }
}

#[derive(Debug, Clone, Args)]
pub struct SubscriberOpts {
    /// Which middleware to consume from.
    #[arg(long, env = "BB_MIDDLEWARE", value_enum)]
    pub middleware: Middleware,
    /// HTTP address of /healthz, /metrics and /stats.
    #[arg(long, env = "BB_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: String,
    /// Write the address actually listened on to this file once listening (for `--listen` with
    /// port 0).
    #[arg(long)]
    pub address_file: Option<std::path::PathBuf>,
    /// Serve on this inherited listening socket (an open file descriptor) instead of binding
    /// `--listen`: how `run` starts its children, keeping each socket open across a restart.
    #[arg(long)]
    pub listen_fd: Option<std::os::fd::RawFd>,
    /// gRPC path only: serve gRPC on this inherited listening socket instead of binding
    /// `--grpc-addr` (which must name its address, for the ingress).
    #[arg(long)]
    pub grpc_listen_fd: Option<std::os::fd::RawFd>,
    /// Where cases go: `mongodb` stores each (acknowledged after its write); `none` stores
    /// nothing and acknowledges on receipt, to measure the middleware alone.
    #[arg(long, env = "BB_SINK", value_enum, default_value_t = SinkKind::Mongodb)]
    pub sink: SinkKind,
    /// Batches written to MongoDB concurrently, each acknowledged after its own write. One writer
    /// leaves the store idle during each round trip.
    #[arg(long, env = "BB_SINK_WRITERS", default_value_t = DEFAULT_SINK_WRITERS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sink_writers: u16,
    /// Most cases written to MongoDB in one insert. A batch never waits to fill: it closes as
    /// soon as a writer is free, with whatever arrived while every writer was busy.
    /// At most 100,000: MongoDB's largest write batch.
    #[arg(long, env = "BB_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub batch_size: usize,
    /// Diagnostic: hold every batch this many milliseconds before writing it. Calibrates the
    /// instrument: end-to-end p50 must grow by exactly this much. Never use it for real numbers.
    #[arg(long, env = "BB_HOLD_BATCH_MS", default_value_t = 0.0, value_parser = parse_hold_ms)]
    pub hold_batch_ms: f64,
    /// Accept `POST /diag/hold` (changes the diagnostic hold while running). Off by default: the
    /// endpoint can slow the writer down for anyone who reaches the port.
    #[arg(long, env = "BB_DIAGNOSTICS")]
    pub diagnostics: bool,
    #[command(flatten)]
    pub clock: crate::diag::ClockDiagOpts,
    /// Longest wait for one MongoDB write, in milliseconds. A write that takes longer counts as
    /// the store being away: its cases are redelivered after a backoff.
    #[arg(long, env = "BB_STORE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub store_timeout_ms: u64,
    /// Refusals of a case's document by the store after which the case is set aside in the
    /// `dead_<middleware>` collection and acknowledged (a store that is away refuses nothing).
    #[arg(long, env = "BB_DELIVERY_LIMIT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub delivery_limit: u32,
    /// MongoDB write concern of every write.
    #[arg(long, env = "BB_WRITE_CONCERN", value_enum, default_value_t = WriteConcernKind::Majority)]
    pub write_concern: WriteConcernKind,
    #[command(flatten)]
    pub mongo: MongoSettings,
    #[command(flatten)]
    pub brokers: BrokerSettings,
    #[command(flatten)]
    pub access: crate::access::AccessOpts,
    #[command(flatten)]
    pub control: crate::control::ControlOpts,
    #[command(flatten)]
    pub connections: crate::http_server::ConnectionOpts,
}

/// Boxed so that its code is compiled once, in this crate (see [`crate::run`]).
pub fn run(
    opts: SubscriberOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(serve(opts, listener, shutdown))
}

/// Runs until `shutdown` is cancelled, then stops consuming, stores what it holds and returns.
async fn serve(
    opts: SubscriberOpts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let middleware = opts.middleware;
    let registry = Arc::new(
        Registry::with_settings("subscriber", opts.brokers.to_reported_args())
            .serving(Serves::Subscriber { middleware }),
    );
    let metrics = SubscriberMetrics::register(&registry, middleware);
    let store = match opts.sink {
        SinkKind::Mongodb => {
            let write_concern = opts.write_concern.write_concern();
            tracing::info!(write_concern = ?opts.write_concern, ?write_concern, "MongoDB write concern");
            Store::Mongodb(
                sink::open(&opts.mongo.uri, &opts.mongo.db, middleware, write_concern).await?,
            )
        }
        SinkKind::None => Store::Discard,
    };
    let grpc_listener = match opts.grpc_listen_fd {
        Some(fd) => Some(crate::listener::inherited("--grpc-listen-fd", fd)?),
        None => None,
    };
    let source = Source::connect(middleware, &opts.brokers, grpc_listener).await?;
    let hold = Hold::new("subscriber", opts.hold_batch_ms, opts.diagnostics);
    let config = SinkConfig {
        batch_size: opts.batch_size.max(1),
        writers: usize::from(opts.sink_writers),
        hold_us: hold.cell(),
        write_timeout: Duration::from_millis(opts.store_timeout_ms),
        delivery_limit: opts.delivery_limit,
        frozen: Arc::new(AtomicBool::new(false)),
    };
    let freeze = freeze_route(config.frozen.clone());
    let health = Arc::new(Health::default());
    let (tx, rx) = mpsc::channel(config.batch_size * 4);
    let sink_task = tokio::spawn(sink::run(
        store,
        middleware,
        config,
        metrics.clone(),
        health.clone(),
        rx,
    ));
    let stop = shutdown.clone();
    let source_task = tokio::spawn(source.run(metrics, health.clone(), tx, async move {
        stop.cancelled().await
    }));
    tracing::info!(%middleware, sink = ?opts.sink, writers = opts.sink_writers, addr = ?listener.local_addr().ok(), "subscriber ready");
    let app = hold.routes().merge(freeze).merge(crate::observe::routes(
        registry,
        Arc::new(move || health.not_ready(middleware)),
    ));
    let app = crate::access::Access::new(&opts.access, listener.local_addr().ok())
        .with_control(&opts.control)
        .guard(app);
    let stop = shutdown.clone();
    let served = crate::http_server::serve(listener, app, &opts.connections, stop.cancelled());
    let ((), sourced) = tokio::join!(served, async {
        let result = source_task.await;
        shutdown.cancel();
        result
    });
    sourced.context("source task panicked")??;
    sink_task.await.context("sink task panicked")?;
    Ok(())
}

/// `POST /freeze`: no write starts from now on ([`SinkConfig::frozen`]). The runner sends it just
/// before it reads a subscriber's last figures and kills it (`--fault subscriber-kill`); the
/// process is of no further use after it.
fn freeze_route<S>(frozen: Arc<AtomicBool>) -> Router<S> {
    async fn freeze(State(frozen): State<Arc<AtomicBool>>) -> StatusCode {
        frozen.store(true, Ordering::SeqCst);
        tracing::warn!("frozen: no write starts from now on (a kill follows)");
        StatusCode::NO_CONTENT
    }
    Router::new()
        .route("/freeze", post(freeze))
        .with_state(frozen)
}
