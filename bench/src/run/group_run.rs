//! One measured run of a group of paths, phase by phase: start the processes, tell them the
//! measure window, offer load while sampling, drain until quiet, collect, stop. The run's own
//! stream, queue, topic and subscription are removed afterwards whatever happened.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::settings::Middleware;
use mongodb::bson::{Document, doc};

use super::measure::{Measured, measure};
use super::{RunOpts, RunRouting, loss, output};
use crate::analysis::attribution::{Evidence, attribute};
use crate::analysis::calibration;
use crate::analysis::compute::{PathContext, SeriesContext, path_result};
use crate::analysis::resilience::{Timeline, assess};
use crate::processes::brokers;
use crate::processes::children::RoleProcess;
use crate::results::files;
use crate::results::summary::PathResult;
use crate::subscriber::SinkKind;

/// What every group of one invocation shares: the binary to run roles with and the folder.
pub struct Context {
    pub binary: PathBuf,
    pub dir: PathBuf,
}

impl Context {
    pub fn new(opts: &RunOpts) -> anyhow::Result<Self> {
        let binary = crate::processes::children::binary(opts.binary.as_ref())?;
        let dir = files::run_dir(&opts.results_dir, &opts.label)?;
        eprintln!("brokerbench {} → {}", opts.label, dir.display());
        Ok(Self { binary, dir })
    }
}

/// The processes of one group run.
pub(super) struct Processes {
    pub subscribers: Vec<(Middleware, RoleProcess)>,
    pub ingress: RoleProcess,
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
    let run = brokers::RunBrokers::new(&opts.brokers)?;
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
        for name in [m.collection(), loss::dead_letters(*m)] {
            db.collection::<Document>(&name)
                .drop()
                .await
                .with_context(|| format!("cannot clear {name}"))?;
        }
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
            load,
            faults,
            hold_toggles,
            restarted,
        }) => {
            for p in restarted {
                p.stop().await;
            }
            let mut results = Vec::new();
            let series = SeriesContext {
                repeat,
                cases_per_request: opts.cases_per_request as u64,
                writers: (opts.sink == SinkKind::Mongodb).then_some(opts.sink_writers),
            };
            for &m in group {
                let documents = match opts.sink {
                    SinkKind::Mongodb => Some(
                        db.collection::<Document>(&m.collection())
                            .count_documents(doc! {})
                            .await
                            .context("cannot count the stored documents")?,
                    ),
                    SinkKind::None => None,
                };
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
                result.attribution = Some(attribute(
                    &ticks,
                    bounds,
                    m,
                    &Evidence {
                        result: &result,
                        cases_per_request: series.cases_per_request,
                        writers: series.writers,
                    },
                ));
                match brokers::guarantee(m, &ticks) {
                    Ok(g) => result.guarantee = Some(g),
                    Err(problem) => {
                        result.accounting.consistent = false;
                        result.accounting.problems.push(problem);
                    }
                }
                if let Some(period) = opts.hold_toggle_s {
                    result.hold_calibration = (opts.hold_batch_ms > 0.0)
                        .then(|| {
                            calibration::e2e_hold(&ticks, m, bounds, period, opts.hold_batch_ms)
                        })
                        .flatten();
                    result.answer_hold_calibration = match (&load, opts.hold_answer_ms > 0.0) {
                        (Some((load, _)), true) => calibration::answer_hold(
                            &load.answer_log(),
                            &hold_toggles,
                            period,
                            opts.hold_answer_ms,
                        ),
                        _ => None,
                    };
                }
                if let Some(stats) = &locust {
                    super::locust::apply(stats, &mut result, opts.cases_per_request as u64);
                }
                if let (Some((load, key_prefix)), SinkKind::Mongodb) = (&load, opts.sink) {
                    let accepted = load.accepted_ids(key_prefix, opts.cases_per_request);
                    let duplicates = crate::analysis::compute::counter(
                        crate::analysis::compute::subscriber(&ticks[bounds.last], m),
                        CounterMetric::Duplicates,
                        Some(m),
                    );
                    result.loss = Some(loss::count(&db, m, &accepted, duplicates).await?);
                }
                if !faults.is_empty() {
                    let answers = load
                        .as_ref()
                        .map(|(l, _)| l.answer_log())
                        .unwrap_or_default();
                    let line = Timeline {
                        ticks: &ticks,
                        load_end: bounds.measure_end,
                        offered: opts.rate,
                    };
                    result.resilience = faults
                        .iter()
                        .map(|f| assess(m, f, &answers, &line))
                        .collect();
                    result.warnings.push(format!(
                        "{} fault(s) injected: errors, restarts and an inconsistent accounting are expected; loss is counted by id",
                        faults.len()
                    ));
                }
                results.push(result);
            }
            output::write_ticks(&ctx.dir, group, series, &ticks, bounds, started)?;
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
            format!(
                "--sink={}",
                brokerbench_common::settings::value_name(&opts.sink)
            ),
            format!("--sink-writers={}", opts.sink_writers),
            format!(
                "--write-concern={}",
                brokerbench_common::settings::value_name(&opts.write_concern)
            ),
            format!("--delivery-limit={}", opts.delivery_limit),
        ];
        args.extend(hold_args("--hold-batch-ms", opts.hold_batch_ms, 0.0, opts));
        args.extend(run.args.iter().cloned());
        let sockets = run.subscriber_sockets(m);
        let spawned = RoleProcess::spawn(&ctx.binary, "subscriber", &args, &log, sockets).await;
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
    ];
    args.extend(hold_args(
        "--hold-answer-ms",
        opts.hold_answer_ms,
        calibration::ANSWER_HOLD_BASE_MS,
        opts,
    ));
    args.extend(run.args.iter().cloned());
    let ingress = match RoleProcess::spawn(&ctx.binary, "ingress", &args, &log, Vec::new()).await {
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

/// A role's diagnostic hold options: `flag` at `ms` from the start, or at `base` with
/// `--diagnostics` when `--hold-toggle-s` switches it during the run; nothing when there is no
/// hold.
fn hold_args(flag: &str, ms: f64, base: f64, opts: &RunOpts) -> Vec<String> {
    match (ms > 0.0, opts.hold_toggle_s.is_some()) {
        (false, _) => Vec::new(),
        (true, false) => vec![format!("{flag}={ms}")],
        (true, true) => vec![format!("{flag}={base}"), "--diagnostics".into()],
    }
}

async fn stop_all(subscribers: Vec<(Middleware, RoleProcess)>) {
    for (_, p) in subscribers {
        p.stop().await;
    }
}

/// The routing of a group, as the ingress of its run is started.
pub fn groups(opts: &RunOpts) -> Vec<Vec<Middleware>> {
    match opts.routing {
        RunRouting::Single => opts.middlewares.iter().map(|m| vec![*m]).collect(),
        RunRouting::All => vec![opts.middlewares.clone()],
    }
}
