//! Serving HTTP/1.1 with the limits every brokerbench server needs against slow or idle clients
//! (slowloris): a deadline for a request's headers, which also closes a keep-alive connection
//! left idle that long, and a cap on open connections. `axum::serve` gives hyper no timer, so
//! hyper's header timeout never fires there and a client sending a byte every few seconds holds
//! its connection, task and descriptor for ever.
//!
//! Only HTTP/1.1 is served: every client of these servers (the runner, Locust, browsers, curl,
//! Prometheus) speaks it, and an HTTP/2 connection may idle legitimately, which a header
//! deadline could not tell from an attack.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Args;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Args)]
pub struct ConnectionOpts {
    /// Longest wait for a request's headers, and for the next request on an idle keep-alive
    /// connection; the connection is closed after it (a number is seconds, or `500ms`, `1m`).
    #[arg(long, env = "BB_HEADER_TIMEOUT", default_value = "10s", value_parser = crate::units::positive_duration)]
    pub header_timeout: Duration,
    /// Most connections open at once; beyond it, new ones wait in the listen backlog until one
    /// closes. Each costs a file descriptor: keep it under `ulimit -n`.
    #[arg(long, env = "BB_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

impl Default for ConnectionOpts {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets every open connection finish
/// the request it is serving and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: &ConnectionOpts,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(opts.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: wait a
                    // little rather than spin, and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // An error here is the client's (reset, timed out, malformed): nothing to report.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
