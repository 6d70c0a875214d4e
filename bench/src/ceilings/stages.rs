//! The middleware and ingress ceilings of one path: its own subscriber process (`--sink none`)
//! with fresh topology names, fed either by the path's publisher in this process or through an
//! ingress process over HTTP, closed loop.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::metrics::new_histogram;
use brokerbench_common::settings::Middleware;
use brokerbench_publishers::Publisher;
use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{CeilingsOpts, sample_envelope};
use crate::processes::brokers::RunBrokers;
use crate::processes::children::fetch_stats;
use crate::processes::children::{self, Inherited, RoleProcess};
use crate::results::ceilings::{Ceiling, StageKind};

const WARMUP: Duration = Duration::from_secs(1);
/// The broker's backlog grew by more than this share of what was published: consuming limited.
const BACKLOG_SHARE: f64 = 0.05;

pub async fn measure(
    opts: &CeilingsOpts,
    stage: StageKind,
    m: Middleware,
    seconds: Duration,
) -> anyhow::Result<Ceiling> {
    let run = RunBrokers::new(&opts.brokers, 1)?;
    let logs = std::env::temp_dir().join(format!("brokerbench-ceilings-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let result = measure_path(opts, stage, m, seconds, &run, &logs).await;
    run.remove_topology(&[m]).await;
    result
}

/// Starts `brokerbench <role> <args>` on the runner's sockets and waits until it is healthy.
async fn start(
    binary: &Path,
    role: &str,
    args: Vec<String>,
    log: &Path,
    sockets: Vec<Inherited>,
) -> anyhow::Result<RoleProcess> {
    let mut p = RoleProcess::spawn(binary, role, &args, log, sockets).await?;
    if let Err(e) = p.wait_healthy(Duration::from_secs(60), log).await {
        p.stop().await;
        return Err(e);
    }
    Ok(p)
}

async fn measure_path(
    opts: &CeilingsOpts,
    stage: StageKind,
    m: Middleware,
    seconds: Duration,
    run: &RunBrokers,
    logs: &Path,
) -> anyhow::Result<Ceiling> {
    let (subscriber, ingress) = start_path(opts, stage, m, run, logs).await?;
    let measured = drive_stage(opts, m, seconds, run, &subscriber.url, ingress.as_ref()).await;
    if let Some(p) = ingress {
        p.stop().await;
    }
    subscriber.stop().await;
    let (window, received) = measured?;
    Ok(ceiling_of(opts, stage, m, &window, received))
}

/// Starts the path's subscriber (storing nothing) and, for the ingress stage, an ingress
/// publishing to this path only.
async fn start_path(
    opts: &CeilingsOpts,
    stage: StageKind,
    m: Middleware,
    run: &RunBrokers,
    logs: &Path,
) -> anyhow::Result<(RoleProcess, Option<RoleProcess>)> {
    let binary = children::binary(opts.binary.as_ref())?;
    let mut args = vec![
        "subscriber".to_string(),
        format!("--middleware={m}"),
        "--sink=none".to_string(),
        format!("--mongodb-uri={}", opts.mongo.uri),
    ];
    args.extend(run.args.iter().cloned());
    let subscriber_log = logs.join(format!("{m}-subscriber.log"));
    let sockets = run.subscriber_sockets(m, 0);
    let subscriber = start(&binary, "subscriber", args, &subscriber_log, sockets).await?;
    if stage != StageKind::Ingress {
        return Ok((subscriber, None));
    }
    let mut args = vec![
        "ingress".to_string(),
        format!("--middlewares={m}"),
        "--routing=single".to_string(),
    ];
    args.extend(run.args.iter().cloned());
    let ingress_log = logs.join(format!("{m}-ingress.log"));
    match start(&binary, "ingress", args, &ingress_log, Vec::new()).await {
        Ok(p) => Ok((subscriber, Some(p))),
        Err(e) => {
            subscriber.stop().await;
            Err(e)
        }
    }
}

/// The stage's ceiling from its window: what the ingress accepted, or what the subscriber
/// received, and what limited it.
fn ceiling_of(
    opts: &CeilingsOpts,
    stage: StageKind,
    m: Middleware,
    window: &Window,
    received: u64,
) -> Ceiling {
    let cpr = opts.cases_per_request.max(1) as f64;
    let sent = window.ok as f64 * cpr;
    let (rate, note) = match stage {
        StageKind::Ingress => (
            sent / window.seconds,
            format!(
                "{} HTTP requests in flight, {} failed",
                opts.concurrency, window.failed
            ),
        ),
        _ if sent - received as f64 > BACKLOG_SHARE * sent => (
            received as f64 / window.seconds,
            format!(
                "consuming limited: published {:.0}/s, the broker's backlog grew",
                sent / window.seconds
            ),
        ),
        _ => (
            received as f64 / window.seconds,
            format!(
                "publishing limited: {} publishes outstanding",
                opts.concurrency
            ),
        ),
    };
    let h = &window.latency;
    Ceiling {
        stage,
        middleware: Some(m),
        rate_per_s: rate,
        p50_us: (!h.is_empty()).then(|| h.value_at_quantile(0.5)),
        p99_us: (!h.is_empty()).then(|| h.value_at_quantile(0.99)),
        seconds: window.seconds,
        note,
    }
}

/// Drives the stage and returns the window's figures and what the subscriber received in it.
async fn drive_stage(
    opts: &CeilingsOpts,
    m: Middleware,
    seconds: Duration,
    run: &RunBrokers,
    subscriber_url: &str,
    ingress: Option<&RoleProcess>,
) -> anyhow::Result<(Window, u64)> {
    let client = crate::control::client()?;
    let received = {
        let client = client.clone();
        let url = subscriber_url.to_string();
        move || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                fetch_stats(&client, &url)
                    .await
                    .and_then(|s| s.counter(CounterMetric::Received, Some(m)))
                    .unwrap_or(0)
            }
        }
    };
    let cpr = opts.cases_per_request.max(1);
    let window = match ingress {
        Some(p) => {
            let url = format!("{}/cases", p.url);
            let body = brokerbench_common::casegen::CaseGenerator::new(7).next_body(cpr);
            drive(opts.concurrency, seconds, received.clone(), move || {
                let request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
            })
            .await
        }
        None => {
            let publisher = Publisher::connect(m, &run.settings).await?;
            drive(opts.concurrency, seconds, received.clone(), move || {
                let publisher = publisher.clone();
                async move {
                    let batch: Vec<_> = (0..cpr).map(|i| sample_envelope(i as u64)).collect();
                    publisher.publish(&batch).await.is_ok()
                }
            })
            .await
        }
    };
    Ok(window)
}

/// What a closed-loop window measured.
struct Window {
    ok: u64,
    failed: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

/// Runs `op` with `concurrency` outstanding for a warm-up second and then `seconds`; counts the
/// operations that ended inside the window, and what `received` rose by over it.
async fn drive<R, RF, F, Fut>(
    concurrency: usize,
    seconds: Duration,
    received: R,
    op: F,
) -> (Window, u64)
where
    R: Fn() -> RF,
    RF: Future<Output = u64>,
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let (from, until) = (start + WARMUP, start + WARMUP + seconds);
    let tally = Arc::new(Mutex::new((0u64, 0u64, new_histogram())));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, tally) = (op.clone(), tally.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let began = Instant::now();
                    let ok = op().await;
                    let done = Instant::now();
                    if began >= from && done <= until {
                        let mut t = tally.lock().await;
                        if ok {
                            t.0 += 1;
                            t.2.saturating_record((done - began).as_micros().max(1) as u64);
                        } else {
                            t.1 += 1;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep_until(from).await;
    let before = received().await;
    tokio::time::sleep_until(until).await;
    let after = received().await;
    for w in workers {
        let _ = w.await;
    }
    let (ok, failed, latency) =
        std::mem::replace(&mut *tally.lock().await, (0, 0, new_histogram()));
    let window = Window {
        ok,
        failed,
        seconds: seconds.as_secs_f64(),
        latency,
    };
    (window, after.saturating_sub(before))
}
