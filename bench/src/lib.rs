//! The `brokerbench` command line: one binary, a subcommand per role.
//!
//! `main` only parses [`Opts`] and calls [`run`], so tests build options with
//! `Opts::parse_from` and run the very same code in-process.

pub mod access;
pub mod analysis;
pub mod ceilings;
pub mod compare;
pub mod control;
pub mod diag;
pub mod http_server;
pub mod ingress;
pub mod listener;
mod observe;
mod precise;
pub mod processes;
pub mod report;
pub mod results;
pub mod run;
pub mod serve;
pub mod subscriber;
mod units;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The one-line description of `brokerbench --help`, naming every middleware.
fn about() -> String {
    format!(
        "Compare messaging middlewares on a real pipeline: HTTP ingress → {} → MongoDB.",
        brokerbench_common::middleware::Middleware::names(" / ")
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "brokerbench",
    version,
    about = about()
)]
pub struct Opts {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Accept cases over HTTP and publish them through one or more middlewares.
    Ingress(ingress::IngressOpts),
    /// Consume one middleware's cases and store them in MongoDB.
    Subscriber(subscriber::SubscriberOpts),
    /// Measure each path in turn: warm-up, fixed-rate measure, drain; results under results/.
    Run(Box<run::RunOpts>),
    /// Step the offered rate up per path until it saturates; writes the latency-vs-rate curve.
    Sweep(Box<run::sweep::SweepOpts>),
    /// Measure each stage alone (store, middleware, ingress): the most each sustains here.
    Ceilings(Box<ceilings::CeilingsOpts>),
    /// Compare run folders: a table per path and metric with deltas, and a comparison page.
    Compare(compare::CompareOpts),
    /// Write (or rewrite) report.html of a run folder.
    Report(report::ReportOpts),
    /// Serve the dashboard: runs, stored cases and the host, on loopback.
    Serve(serve::ServeOpts),
}

/// The whole command, boxed: an `async fn` body is compiled in the crate that polls it, so
/// `main.rs` and every test binary that awaited it compiled this crate's async code again. Behind
/// `dyn Future` it is compiled once, here (release, 2 cores, 2026-12-04: library + binary 52.8 s +
/// 64.7 s before, 92.9 s + 1.5 s after; the `it` and `measure` test binaries 167 s and 162 s
/// before, 121 s and 51 s after boxing this and the other entry points tests await).
pub fn run(opts: Opts) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    futures::FutureExt::boxed(dispatch(opts))
}

async fn dispatch(opts: Opts) -> anyhow::Result<()> {
    // Servers log their life at info; the measuring commands keep the terminal for their table.
    let server = matches!(
        opts.command,
        Command::Ingress(_) | Command::Subscriber(_) | Command::Serve(_)
    );
    init_tracing(if server { "info" } else { "warn" });
    if matches!(
        opts.command,
        Command::Run(_) | Command::Sweep(_) | Command::Ceilings(_)
    ) {
        // The components it starts inherit the token: a bad one is said once, here.
        control::runner_token()?;
    }
    let shutdown = shutdown_on_signal();
    match opts.command {
        Command::Ingress(opts) => {
            opts.clock.apply();
            let listener = listener::open(&opts.listen, opts.listen_fd).await?;
            announce(&listener, opts.address_file.as_deref())?;
            ingress::run(opts, listener, shutdown).await
        }
        Command::Subscriber(opts) => {
            opts.clock.apply();
            let listener = listener::open(&opts.listen, opts.listen_fd).await?;
            announce(&listener, opts.address_file.as_deref())?;
            subscriber::run(opts, listener, shutdown).await
        }
        Command::Run(opts) => run::run(*opts).await.map(drop),
        Command::Sweep(opts) => run::sweep::run(*opts).await,
        Command::Ceilings(opts) => ceilings::run(*opts).await,
        Command::Compare(opts) => compare::run(&opts),
        Command::Report(opts) => {
            println!("{}", report::write_report(&opts.run_dir)?.display());
            Ok(())
        }
        Command::Serve(opts) => {
            let listener = listener::open(&opts.listen, None).await?;
            announce(&listener, opts.address_file.as_deref())?;
            serve::run(opts, listener, shutdown).await
        }
    }
}

/// Writes the address a server role actually listens on to `file`, so that a parent can start it
/// on port 0 (no port reserved and released, which another process could take in between).
fn announce(listener: &TcpListener, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let Some(file) = file else { return Ok(()) };
    let addr = listener.local_addr()?;
    let partial = file.with_extension("partial");
    std::fs::write(&partial, addr.to_string())?;
    std::fs::rename(&partial, file)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))
}

fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A token cancelled on Ctrl-C or SIGTERM, so every role drains and exits cleanly.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_input_out_of_range_is_refused_with_a_message() {
        let refused: &[&[&str]] = &[
            &["run", "--rate", "inf"],
            &["run", "--rate", "0"],
            &["run", "--sweep-to", "NaN"],
            &["run", "--cases-per-request", "0"],
            &["run", "--cases-per-request", "1001"],
            &["run", "--connections", "0"],
            &["run", "--hold-answer-ms", "inf"],
            &["run", "--duration", "1500ms"],
            &["sweep", "--max-rate=-5"],
            &["subscriber", "--middleware", "nats", "--batch-size", "0"],
            &[
                "subscriber",
                "--middleware",
                "nats",
                "--batch-size",
                "10000000",
            ],
            &[
                "subscriber",
                "--middleware",
                "redis",
                "--redis-claim-idle-ms",
                "0",
            ],
            &["ingress", "--max-in-flight", "10"],
            &["ingress", "--max-body-bytes", "0"],
        ];
        for args in refused {
            let all = std::iter::once("brokerbench").chain(args.iter().copied());
            let e = Opts::try_parse_from(all).expect_err(&args.join(" "));
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{}: {e}",
                args.join(" ")
            );
        }
        let fine = ["brokerbench", "run", "--rate", "2000", "--duration", "1m"];
        let Command::Run(opts) = Opts::try_parse_from(fine).expect("valid").command else {
            panic!("run");
        };
        assert_eq!((opts.rate, opts.duration), (2_000.0, 60));
    }

    /// The drain waits 2 s for redeliveries only where something redelivers soon after the load.
    #[test]
    fn the_quiet_period_defaults_to_what_the_run_redelivers() {
        let quiet = |args: &[&str]| {
            let all = ["brokerbench", "run"].iter().chain(args).copied();
            let Command::Run(opts) = Opts::try_parse_from(all).expect("valid").command else {
                panic!("run");
            };
            opts.quiet_period_ms()
        };
        assert_eq!(quiet(&[]), 500);
        assert_eq!(quiet(&["--fault", "broker-kill@5+2"]), 2_000);
        assert_eq!(quiet(&["--duplicate-every", "50"]), 2_000);
        assert_eq!(quiet(&["--stall-at", "3"]), 2_000);
        assert_eq!(
            quiet(&["--fault", "broker-kill@5", "--quiet-period-ms", "700"]),
            700
        );
        assert_eq!(quiet(&["--quiet-period-ms", "3000"]), 3_000);
    }
}
