//! The processes of one group run: a subscriber per path, then the ingress, each started on the
//! sockets the runner holds and waited on until healthy; on any failure the ones already started
//! are stopped.

use std::path::PathBuf;
use std::time::Duration;

use brokerbench_common::settings::{Middleware, value_name};

use super::RunOpts;
use super::target::AttachedPipeline;
use crate::analysis::calibration;
use crate::processes::brokers;
use crate::processes::children::RoleProcess;
use crate::results::files;

/// What every group of one invocation shares: the binary to run roles with, the folder, and
/// the pipeline it is attached to, if it starts none (`--target`).
pub struct Context {
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub attached: Option<AttachedPipeline>,
}

impl Context {
    pub fn new(opts: &RunOpts, attached: Option<AttachedPipeline>) -> anyhow::Result<Self> {
        let binary = crate::processes::children::binary(opts.binary.as_ref())?;
        let dir = files::run_dir(&opts.results_dir, &opts.label)?;
        eprintln!("brokerbench {} → {}", opts.label, dir.display());
        Ok(Self {
            binary,
            dir,
            attached,
        })
    }
}

/// The processes of one group run.
pub(super) struct Processes {
    pub subscribers: Vec<(Middleware, RoleProcess)>,
    pub ingress: RoleProcess,
}

impl Processes {
    pub async fn stop(self) {
        self.ingress.stop().await;
        for (_, p) in self.subscribers {
            p.stop().await;
        }
    }
}

/// Where a group run's ingress and subscribers answer.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// Never empty: one started, or every one of an attached pipeline.
    pub ingresses: Vec<String>,
    pub subscribers: Vec<(Middleware, String)>,
}

/// The components of one group run: the processes it started, or those it attached to.
pub(super) struct Pipeline {
    pub endpoints: Endpoints,
    /// None when attached: nothing to signal, restart or stop.
    pub started: Option<Processes>,
}

impl Pipeline {
    pub fn started(processes: Processes) -> Self {
        let endpoints = Endpoints {
            ingresses: vec![processes.ingress.url.clone()],
            subscribers: (processes.subscribers.iter())
                .map(|(m, p)| (*m, p.url.clone()))
                .collect(),
        };
        Self {
            endpoints,
            started: Some(processes),
        }
    }

    /// The attached pipeline's components that serve `group`.
    pub fn attached(pipeline: &AttachedPipeline, group: &[Middleware]) -> Self {
        let subscribers = (pipeline.subscribers.iter())
            .filter(|(m, _)| group.contains(m))
            .cloned()
            .collect();
        Self {
            endpoints: Endpoints {
                ingresses: pipeline.ingresses.clone(),
                subscribers,
            },
            started: None,
        }
    }

    pub async fn stop(self) {
        if let Some(p) = self.started {
            p.stop().await;
        }
    }
}

/// Starts every subscriber of `group` (`--subscribers` of each path), then the ingress.
pub(super) async fn start_processes(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    run: &brokers::RunBrokers,
) -> anyhow::Result<Processes> {
    let logs = ctx.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut subscribers = Vec::new();
    let replicas = opts.subscribers;
    for (m, replica) in group
        .iter()
        .flat_map(|&m| (0..replicas).map(move |i| (m, i)))
    {
        let name = match replicas {
            1 => format!("{m}-r{repeat}-subscriber"),
            _ => format!("{m}-r{repeat}-subscriber{replica}"),
        };
        let log = logs.join(format!("{name}.log"));
        let mut args = subscriber_args(opts, m, run);
        args.extend(run.replica_args(m, replica.into(), replicas));
        let sockets = run.subscriber_sockets(m, replica.into());
        match start_healthy(ctx, "subscriber", &args, &log, sockets).await {
            Ok(p) => subscribers.push((m, p)),
            Err(e) => {
                stop_all(subscribers).await;
                return Err(e);
            }
        }
    }
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let log = logs.join(format!("{}-r{repeat}-ingress.log", names.join("+")));
    let args = ingress_args(opts, group, run);
    match start_healthy(ctx, "ingress", &args, &log, Vec::new()).await {
        Ok(ingress) => Ok(Processes {
            subscribers,
            ingress,
        }),
        Err(e) => {
            stop_all(subscribers).await;
            Err(e)
        }
    }
}

/// Spawns one role and waits until it answers `/healthz`; stopped again if it never does.
async fn start_healthy(
    ctx: &Context,
    role: &str,
    args: &[String],
    log: &std::path::Path,
    sockets: Vec<crate::processes::children::Inherited>,
) -> anyhow::Result<RoleProcess> {
    let mut p = RoleProcess::spawn(&ctx.binary, role, args, log, sockets).await?;
    if let Err(e) = p.wait_healthy(Duration::from_secs(60), log).await {
        p.stop().await;
        return Err(e);
    }
    Ok(p)
}

fn subscriber_args(opts: &RunOpts, m: Middleware, run: &brokers::RunBrokers) -> Vec<String> {
    let mut args = vec![
        "subscriber".to_string(),
        format!("--middleware={m}"),
        format!("--mongodb-uri={}", opts.mongo.uri),
        format!("--mongodb-db={}", opts.mongo.db),
        format!("--sink={}", value_name(&opts.sink)),
        format!("--sink-writers={}", opts.sink_writers),
        format!("--write-concern={}", value_name(&opts.write_concern)),
        format!("--delivery-limit={}", opts.delivery_limit),
    ];
    args.extend(hold_args("--hold-batch-ms", opts.hold_batch_ms, 0.0, opts));
    if opts.diag_subscriber_clock_offset_ms != 0.0 {
        let ms = opts.diag_subscriber_clock_offset_ms;
        args.push(format!("--diag-clock-offset-ms={ms}"));
    }
    args.extend(run.args.iter().cloned());
    args
}

fn ingress_args(opts: &RunOpts, group: &[Middleware], run: &brokers::RunBrokers) -> Vec<String> {
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
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
    args
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
