//! One measured run of a group of paths: start their processes, offer load, drain, collect.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use brokerbench_common::settings::Middleware;
use indicatif::{ProgressBar, ProgressStyle};
use mongodb::bson::{Document, doc};
use tokio::time::Instant;

use super::children::{RoleProcess, signal};
use super::compute::{Bounds, hold_calibration, path_result};
use super::loadgen::{LoadConfig, LoadStats, generate};
use super::sampler::{ProcessTarget, Sampler, Tick, server_processes};
use super::summary::PathResult;
use super::{Generator, RunOpts, output};

const TICK: Duration = Duration::from_secs(1);

/// Whoever offers the load in this run.
enum Load {
    Builtin(tokio::task::JoinHandle<()>),
    Locust(super::locust::LocustRun),
}

/// Options naming this run's own stream, queue, topic and subscription: fresh names per run are
/// how a run starts from an empty queue without touching anyone else's.
fn broker_args(opts: &RunOpts, ns: &str, grpc_port: u16) -> Vec<String> {
    let b = &opts.brokers;
    let mut args = vec![
        format!("--grpc-addr=127.0.0.1:{grpc_port}"),
        format!("--nats-url={}", b.nats.url),
        format!("--nats-mode={}", if opts.nats_mode == brokerbench_common::settings::NatsMode::Core { "core" } else { "jetstream" }),
        format!("--nats-subject=brokerbench.run.{ns}"),
        format!("--nats-stream=BB_RUN_{ns}"),
        format!("--nats-consumer=bb-run-{ns}"),
        format!("--amqp-url={}", b.rabbitmq.url),
        format!("--rabbitmq-queue=brokerbench.run.{ns}"),
        format!("--pubsub-project={}", b.pubsub.project),
        format!("--pubsub-topic=bb-run-{ns}"),
        format!("--pubsub-subscription=bb-run-{ns}-sub"),
    ];
    if let Some(host) = &b.pubsub.emulator_host {
        args.push(format!("--pubsub-emulator-host={host}"));
    }
    args
}

/// The settings the child processes parse from `args`, parsed the same way.
fn parse_brokers(args: &[String]) -> brokerbench_common::settings::BrokerSettings {
    #[derive(clap::Parser)]
    struct Brokers {
        #[command(flatten)]
        brokers: brokerbench_common::settings::BrokerSettings,
    }
    <Brokers as clap::Parser>::parse_from(std::iter::once("brokers".to_string()).chain(args.iter().cloned())).brokers
}

fn bar(len: u64, prefix: String) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos:>3}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// What every group of one invocation shares: the binary to run roles with and the folder.
pub struct Context {
    pub binary: PathBuf,
    pub dir: PathBuf,
}

impl Context {
    pub fn new(opts: &RunOpts) -> anyhow::Result<Self> {
        let binary = super::children::binary(opts.binary.as_ref())?;
        let dir = output::run_dir(&opts.results_dir, &opts.label)?;
        eprintln!("brokerbench {} → {}", opts.label, dir.display());
        Ok(Self { binary, dir })
    }
}

pub async fn run_group(opts: &RunOpts, ctx: &Context, group: &[Middleware], repeat: u32) -> anyhow::Result<Vec<PathResult>> {
    let (binary, dir) = (ctx.binary.as_path(), ctx.dir.as_path());
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let title = format!("{} r{repeat}", names.join("+"));
    let ns = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let grpc_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let brokers = broker_args(opts, &ns, grpc_port);
    let mongo = mongodb::Client::with_uri_str(&opts.mongo.uri).await.context("cannot reach MongoDB")?;
    let db = mongo.database(&opts.mongo.db);
    for m in group {
        db.collection::<Document>(&m.collection()).drop().await.with_context(|| format!("cannot clear {}", m.collection()))?;
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut subscribers = Vec::new();
    for &m in group {
        let log = logs.join(format!("{m}-r{repeat}-subscriber.log"));
        let mut args = vec!["subscriber".to_string(), format!("--middleware={m}"), format!("--mongodb-uri={}", opts.mongo.uri), format!("--mongodb-db={}", opts.mongo.db)];
        let initial_hold = if opts.hold_toggle_s.is_some() { 0.0 } else { opts.hold_batch_ms };
        args.push(format!("--hold-batch-ms={initial_hold}"));
        args.extend(brokers.iter().cloned());
        let mut p = RoleProcess::spawn(binary, "subscriber", &args, &log).await?;
        p.wait_healthy(Duration::from_secs(60), &log).await?;
        subscribers.push((m, p));
    }
    let log = logs.join(format!("{}-r{repeat}-ingress.log", names.join("+")));
    let routing = if group.len() == 1 { "single" } else { "all" };
    let mut args = vec!["ingress".to_string(), format!("--middlewares={}", names.join(",")), format!("--routing={routing}"), format!("--duplicate-every={}", opts.duplicate_every)];
    args.extend(brokers.iter().cloned());
    let mut ingress = RoleProcess::spawn(binary, "ingress", &args, &log).await?;
    ingress.wait_healthy(Duration::from_secs(60), &log).await?;

    let mut targets: Vec<ProcessTarget> = ingress.pid().map(|pid| ProcessTarget { role: "ingress".into(), pid }).into_iter().collect();
    targets.extend(subscribers.iter().filter_map(|(_, p)| p.pid().map(|pid| ProcessTarget { role: "subscriber".into(), pid })));
    for &m in group {
        for t in server_processes(m) {
            if !targets.iter().any(|x| x.pid == t.pid) {
                targets.push(t);
            }
        }
    }
    let load = Arc::new(LoadStats::default());
    let start = Instant::now() + Duration::from_millis(200);
    let warmup = Duration::from_secs(opts.warmup);
    let measure = Duration::from_secs(opts.duration);
    let sampler = Sampler {
        client: reqwest::Client::new(),
        ingress_url: ingress.url.clone(),
        subscribers: subscribers.iter().map(|(m, p)| (*m, p.url.clone())).collect(),
        targets,
        load: load.clone(),
        measure_start: start + warmup,
    };
    let config = LoadConfig { url: ingress.url.clone(), rate: opts.rate, cases_per_request: opts.cases_per_request, connections: opts.connections, seed: opts.seed + u64::from(repeat) };
    let generator = match opts.generator {
        Generator::Builtin => Load::Builtin(tokio::spawn(generate(config, load.clone(), start, start + warmup + measure, Duration::from_secs(35)))),
        Generator::Locust => Load::Locust(super::locust::spawn(opts, &ingress.url, opts.warmup + opts.duration, dir, &format!("{}-r{repeat}", names.join("+")))?),
    };
    if let (Some(at), Some(pid)) = (opts.stall_at, ingress.pid()) {
        let stall = Duration::from_millis(opts.stall_ms);
        let when = start + warmup + Duration::from_secs_f64(at.max(0.0));
        tokio::spawn(async move {
            tokio::time::sleep_until(when).await;
            signal(pid, "STOP");
            tokio::time::sleep(stall).await;
            signal(pid, "CONT");
        });
    }
    let started_wall = SystemTime::now();
    let mut ticks: Vec<Tick> = Vec::new();
    let warm_bar = bar(opts.warmup, format!("{title} warm-up"));
    let measure_bar = bar(opts.duration, format!("{title} measure"));
    let total = opts.warmup + opts.duration;
    for k in 0..=total {
        tokio::time::sleep_until(start + TICK * u32::try_from(k).unwrap_or(u32::MAX)).await;
        let tick = sampler.tick().await;
        let msg = format!("{:.0} cases/s sent", load.sent_cases.get() as f64 / (Instant::now() - start).as_secs_f64().max(1e-3));
        if k <= opts.warmup { warm_bar.set_position(k); warm_bar.set_message(msg); } else { measure_bar.set_position(k - opts.warmup); measure_bar.set_message(msg); }
        ticks.push(tick);
        if let Some(period) = opts.hold_toggle_s
            && k >= opts.warmup
            && k < total
            && (k - opts.warmup) % period == 0
        {
            let ms = if ((k - opts.warmup) / period) % 2 == 1 { opts.hold_batch_ms } else { 0.0 };
            for (_, p) in &subscribers {
                sampler.client.post(format!("{}/diag/hold?ms={ms}", p.url)).send().await.context("cannot toggle the hold")?;
            }
        }
    }
    warm_bar.finish();
    measure_bar.finish();
    let measure_end = ticks.len() - 1;
    let drain_bar = bar(opts.drain_timeout, format!("{title} drain"));
    let locust = match generator {
        Load::Builtin(task) => {
            let _ = task.await;
            None
        }
        Load::Locust(run) => Some(run.wait().await?),
    };
    let drain_deadline = Instant::now() + Duration::from_secs(opts.drain_timeout);
    loop {
        let tick = sampler.tick().await;
        let accepted = tick.ingress.as_ref().and_then(|s| s.counter("accepted", None)).unwrap_or(0);
        let behind: u64 = tick.subscribers.iter().map(|(m, s)| {
            let stored = s.as_ref().and_then(|s| s.counter("stored", Some(m.name()))).unwrap_or(0);
            accepted.saturating_sub(stored)
        }).sum();
        drain_bar.set_message(format!("{behind} cases not yet stored"));
        drain_bar.set_position((opts.drain_timeout - (drain_deadline - Instant::now().min(drain_deadline)).as_secs()).min(opts.drain_timeout));
        ticks.push(tick);
        if behind == 0 || Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    drain_bar.finish();
    let bounds = Bounds { measure_start: opts.warmup as usize, measure_end, last: ticks.len() - 1 };
    let mut results = Vec::new();
    for &m in group {
        let documents = db.collection::<Document>(&m.collection()).count_documents(doc! {}).await.unwrap_or(0);
        let mut result = path_result(m, repeat, &ticks, bounds, opts.rate, opts.cases_per_request as u64, documents);
        if let Some(period) = opts.hold_toggle_s {
            result.hold_calibration = hold_calibration(&ticks, m, bounds, period, opts.hold_batch_ms);
        }
        if let Some(stats) = &locust {
            super::locust::apply(stats, &mut result, opts.cases_per_request as u64);
        }
        results.push(result);
    }
    ingress.stop().await;
    for (_, p) in subscribers {
        p.stop().await;
    }
    let settings = parse_brokers(&brokers);
    for &m in group {
        if let Err(e) = brokerbench_publishers::Publisher::remove_topology(m, &settings).await {
            eprintln!("note: could not remove this run's {m} topology: {e}");
        }
    }
    output::write_ticks(dir, group, repeat, &ticks, bounds, started_wall)?;
    Ok(results)
}
