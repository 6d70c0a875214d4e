//! One measured run of a group of paths, phase by phase: start the processes, tell them the
//! measure window, offer load while sampling, drain until quiet, collect, stop. The run's own
//! stream, queue, topic and subscription are removed afterwards whatever happened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use brokerbench_common::envelope::now_ns;
use brokerbench_common::metrics::PhaseBounds;
use brokerbench_common::settings::Middleware;
use mongodb::bson::{Document, doc};
use tokio::time::Instant;

use super::children::{RoleProcess, signal};
use super::compute::{Bounds, PathContext, hold_calibration, path_result};
use super::loadgen::{LoadConfig, LoadStats, LoadWindow, generate};
use super::phases::{Progress, drain};
use super::sampler::{ProcessTarget, Sampler, Tick, server_processes, subscriber_role};
use super::summary::PathResult;
use super::{Generator, RunOpts, RunRouting, brokers, output};

const TICK: Duration = Duration::from_secs(1);
/// Time between telling the processes the measure window and the first intended send.
const LEAD: Duration = Duration::from_millis(500);

/// Whoever offers the load in this run.
enum Load {
    Builtin(tokio::task::JoinHandle<()>),
    Locust(super::locust::LocustRun),
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

/// What the load phases produced.
struct Measured {
    ticks: Vec<Tick>,
    bounds: Bounds,
    drained_quietly: bool,
    locust: Option<super::locust::LocustStats>,
    started: SystemTime,
}

/// The processes of one group run.
struct Processes {
    subscribers: Vec<(Middleware, RoleProcess)>,
    ingress: RoleProcess,
}

impl Processes {
    async fn stop(self) {
        self.ingress.stop().await;
        for (_, p) in self.subscribers {
            p.stop().await;
        }
    }
}

pub async fn run_group(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
) -> anyhow::Result<Vec<PathResult>> {
    let run = brokers::RunBrokers::new(opts)?;
    let result = measure_group(opts, ctx, group, repeat, &run).await;
    run.remove_topology(group).await;
    result
}

async fn measure_group(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    run: &brokers::RunBrokers,
) -> anyhow::Result<Vec<PathResult>> {
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let title = format!("{} r{repeat}", names.join("+"));
    let mongo = mongodb::Client::with_uri_str(&opts.mongo.uri)
        .await
        .context("cannot reach MongoDB")?;
    let db = mongo.database(&opts.mongo.db);
    for m in group {
        db.collection::<Document>(&m.collection())
            .drop()
            .await
            .with_context(|| format!("cannot clear {}", m.collection()))?;
    }
    let processes = start_processes(opts, ctx, group, repeat, run).await?;
    let measured = measure(opts, ctx, group, repeat, &title, &processes).await;
    let outcome = match measured {
        Ok(Measured {
            ticks,
            bounds,
            drained_quietly,
            locust,
            started,
        }) => {
            let mut results = Vec::new();
            for &m in group {
                let documents = db
                    .collection::<Document>(&m.collection())
                    .count_documents(doc! {})
                    .await
                    .context("cannot count the stored documents")?;
                let path_ctx = PathContext {
                    repeat,
                    offered: opts.rate,
                    measure_seconds: opts.duration as f64,
                    cases_per_request: opts.cases_per_request as u64,
                    documents,
                    shared_ingress: group.len() > 1,
                    drained_quietly,
                };
                let mut result = path_result(m, &ticks, bounds, path_ctx);
                match brokers::guarantee(m, &ticks) {
                    Ok(g) => result.guarantee = Some(g),
                    Err(problem) => {
                        result.accounting.consistent = false;
                        result.accounting.problems.push(problem);
                    }
                }
                if let Some(period) = opts.hold_toggle_s {
                    result.hold_calibration =
                        hold_calibration(&ticks, m, bounds, period, opts.hold_batch_ms);
                }
                if let Some(stats) = &locust {
                    super::locust::apply(stats, &mut result, opts.cases_per_request as u64);
                }
                results.push(result);
            }
            output::write_ticks(&ctx.dir, group, repeat, &ticks, bounds, started)?;
            Ok(results)
        }
        Err(e) => Err(e),
    };
    processes.stop().await;
    outcome
}

async fn start_processes(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    run: &brokers::RunBrokers,
) -> anyhow::Result<Processes> {
    let logs = ctx.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut subscribers = Vec::new();
    for &m in group {
        let log = logs.join(format!("{m}-r{repeat}-subscriber.log"));
        let mut args = vec![
            "subscriber".to_string(),
            format!("--middleware={m}"),
            format!("--mongodb-uri={}", opts.mongo.uri),
            format!("--mongodb-db={}", opts.mongo.db),
        ];
        let initial_hold = if opts.hold_toggle_s.is_some() {
            0.0
        } else {
            opts.hold_batch_ms
        };
        args.push(format!("--hold-batch-ms={initial_hold}"));
        args.extend(run.args.iter().cloned());
        let spawned = RoleProcess::spawn(&ctx.binary, "subscriber", &args, &log).await;
        let mut p = match spawned {
            Ok(p) => p,
            Err(e) => {
                stop_all(subscribers).await;
                return Err(e);
            }
        };
        if let Err(e) = p.wait_healthy(Duration::from_secs(60), &log).await {
            p.stop().await;
            stop_all(subscribers).await;
            return Err(e);
        }
        subscribers.push((m, p));
    }
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let log = logs.join(format!("{}-r{repeat}-ingress.log", names.join("+")));
    let routing = if group.len() == 1 { "single" } else { "all" };
    let mut args = vec![
        "ingress".to_string(),
        format!("--middlewares={}", names.join(",")),
        format!("--routing={routing}"),
        format!("--duplicate-every={}", opts.duplicate_every),
        format!("--hold-answer-ms={}", opts.hold_answer_ms),
    ];
    args.extend(run.args.iter().cloned());
    let ingress = match RoleProcess::spawn(&ctx.binary, "ingress", &args, &log).await {
        Ok(mut p) => match p.wait_healthy(Duration::from_secs(60), &log).await {
            Ok(()) => p,
            Err(e) => {
                p.stop().await;
                stop_all(subscribers).await;
                return Err(e);
            }
        },
        Err(e) => {
            stop_all(subscribers).await;
            return Err(e);
        }
    };
    Ok(Processes {
        subscribers,
        ingress,
    })
}

async fn stop_all(subscribers: Vec<(Middleware, RoleProcess)>) {
    for (_, p) in subscribers {
        p.stop().await;
    }
}

/// Warm-up, measure and drain.
async fn measure(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    title: &str,
    processes: &Processes,
) -> anyhow::Result<Measured> {
    let (ingress, subscribers) = (&processes.ingress, &processes.subscribers);
    let mut targets: Vec<ProcessTarget> = ingress
        .pid()
        .map(|pid| ProcessTarget {
            role: "ingress".into(),
            pid,
        })
        .into_iter()
        .collect();
    targets.extend(subscribers.iter().filter_map(|(m, p)| {
        p.pid().map(|pid| ProcessTarget {
            role: subscriber_role(*m),
            pid,
        })
    }));
    for &m in group {
        for t in server_processes(m) {
            if !targets.iter().any(|x| x.pid == t.pid) {
                targets.push(t);
            }
        }
    }
    let load = Arc::new(LoadStats::default());
    let warmup = Duration::from_secs(opts.warmup);
    let span = warmup + Duration::from_secs(opts.duration);
    let (start, wall_start_ns) = (
        Instant::now() + LEAD,
        now_ns() + i64::try_from(LEAD.as_nanos()).unwrap_or(0),
    );
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let bounds = PhaseBounds {
        measure_start_ns: wall_start_ns + nanos(warmup),
        measure_end_ns: wall_start_ns + nanos(span),
    };
    let sampler = Sampler {
        client: reqwest::Client::new(),
        ingress_url: ingress.url.clone(),
        subscribers: subscribers
            .iter()
            .map(|(m, p)| (*m, p.url.clone()))
            .collect(),
        targets,
        load: load.clone(),
        measure_start: start + warmup,
    };
    load.window().set(bounds);
    for url in std::iter::once(&ingress.url).chain(subscribers.iter().map(|(_, p)| &p.url)) {
        let answer = sampler
            .client
            .post(format!("{url}/phases"))
            .json(&bounds)
            .send()
            .await
            .context("cannot set the measure window")?;
        anyhow::ensure!(
            answer.status().is_success(),
            "{url}/phases answered {}",
            answer.status()
        );
    }
    let config = LoadConfig {
        url: ingress.url.clone(),
        rate: opts.rate,
        cases_per_request: opts.cases_per_request,
        connections: opts.connections,
        seed: opts.seed + u64::from(repeat),
    };
    let window = LoadWindow {
        start,
        wall_start_ns,
        span,
        answer_deadline: Duration::from_secs(opts.answer_deadline),
    };
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let generator = match opts.generator {
        Generator::Builtin => Load::Builtin(tokio::spawn(generate(config, load.clone(), window))),
        Generator::Locust => Load::Locust(super::locust::spawn(
            opts,
            &ingress.url,
            opts.warmup + opts.duration,
            &ctx.dir,
            &format!("{}-r{repeat}", names.join("+")),
        )?),
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
    let started = SystemTime::now();
    let mut ticks: Vec<Tick> = Vec::new();
    let progress = Progress::new(title, opts);
    let total = opts.warmup + opts.duration;
    for k in 0..=total {
        tokio::time::sleep_until(start + TICK * u32::try_from(k).unwrap_or(u32::MAX)).await;
        let tick = sampler.tick().await;
        progress.load_tick(
            k,
            load.sent_cases.get() as f64 / (Instant::now() - start).as_secs_f64().max(1e-3),
        );
        ticks.push(tick);
        if let Some(period) = opts.hold_toggle_s
            && k >= opts.warmup
            && k < total
            && (k - opts.warmup) % period == 0
        {
            let ms = if ((k - opts.warmup) / period) % 2 == 1 {
                opts.hold_batch_ms
            } else {
                0.0
            };
            for (_, p) in subscribers {
                sampler
                    .client
                    .post(format!("{}/diag/hold?ms={ms}", p.url))
                    .send()
                    .await
                    .context("cannot toggle the hold")?;
            }
        }
    }
    let measure_end = ticks.len() - 1;
    progress.answers();
    let locust = match generator {
        Load::Builtin(task) => {
            task.await.context("the load generator failed")?;
            None
        }
        Load::Locust(run) => Some(run.wait().await?),
    };
    let quiet = Duration::from_millis(opts.quiet_period_ms);
    let drained_quietly = drain(
        &sampler,
        &mut ticks,
        Duration::from_secs(opts.drain_timeout),
        quiet,
        &progress,
    )
    .await;
    ticks.push(sampler.complete_tick(Duration::from_secs(30)).await?);
    let bounds = Bounds {
        measure_start: usize::try_from(opts.warmup).unwrap_or(0),
        measure_end,
        last: ticks.len() - 1,
    };
    Ok(Measured {
        ticks,
        bounds,
        drained_quietly,
        locust,
        started,
    })
}

/// The routing of a group, as the ingress of its run is started.
pub fn groups(opts: &RunOpts) -> Vec<Vec<Middleware>> {
    match opts.routing {
        RunRouting::Single => opts.middlewares.iter().map(|m| vec![*m]).collect(),
        RunRouting::All => vec![opts.middlewares.clone()],
    }
}
