//! The load phases of one group run: announce the measure window, offer load while sampling
//! every process once a second, then drain until quiet.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use brokerbench_common::envelope::now_ns;
use brokerbench_common::metrics::PhaseBounds;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use tokio::time::Instant;

use super::diagnostics::{schedule_stall, toggle_holds};
use super::faults::FaultTargets;
use super::group_processes::{Context, Endpoints, Pipeline};
use super::loadgen::{LoadStats, LoadWindow};
use super::loss::StoreIds;
use super::offered_load::RunLoad;
use super::phases::{Progress, StoreBacklog, activity, drain};
use super::sampler::Sampler;
use super::{Generator, RunOpts};
use crate::analysis::calibration::HoldToggle;
use crate::analysis::compute::Bounds;
use crate::analysis::tick::Tick;
use crate::processes::children::RoleProcess;
use crate::results::clock::ComponentClock;
use crate::results::faults::FaultRecord;
use crate::subscriber::SinkKind;

const TICK: Duration = Duration::from_secs(1);
/// Time between telling the processes the measure window and the first intended send.
const LEAD: Duration = Duration::from_millis(500);

/// What the load phases produced.
pub(super) struct Measured {
    pub ticks: Vec<Tick>,
    pub bounds: Bounds,
    pub drained_quietly: bool,
    /// The drain's last reading of the store, when it still held at the last tick.
    pub store_ids: Option<StoreIds>,
    pub locust: Option<super::locust::LocustStats>,
    pub started: SystemTime,
    /// The built-in generator's record (none with Locust) and its requests' key prefix.
    pub load: Option<(Arc<LoadStats>, String)>,
    pub faults: Vec<FaultRecord>,
    /// When `--hold-toggle-s` switched the holds, in order.
    pub hold_toggles: Vec<HoldToggle>,
    /// Processes a fault killed and started again: the runner stops them at the end.
    pub restarted: Vec<RoleProcess>,
    /// Every component's clock against the runner's, checked before the load.
    pub clocks: Vec<ComponentClock>,
    /// Per path, what its subscribers killed by faults held at their last readings (see
    /// [`super::carry::Carry::in_hand_at_kills`]).
    pub in_hand_at_kills: Vec<(Middleware, u64)>,
}

/// Tells the ingress and the subscribers the measure window, so that they file each case under
/// the phase of its intended send time.
async fn announce_window(
    sampler: &Sampler,
    endpoints: &Endpoints,
    bounds: PhaseBounds,
) -> anyhow::Result<()> {
    let urls = (endpoints.ingresses.iter()).chain(endpoints.subscribers.iter().map(|(_, u)| u));
    for url in urls {
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
    Ok(())
}

/// Samples every process once a second while the load runs (warm-up and measure), toggling
/// the diagnostic holds when asked to; returns the ticks and when each toggle took effect.
async fn sample_load(
    opts: &RunOpts,
    sampler: &Sampler,
    subscribers: &[(Middleware, String)],
    start: Instant,
    load: &LoadStats,
    progress: &Progress,
) -> anyhow::Result<(Vec<Tick>, Vec<HoldToggle>)> {
    let mut ticks: Vec<Tick> = Vec::new();
    let mut toggles = Vec::new();
    let total = opts.warmup_s() + opts.duration;
    for k in 0..=total {
        tokio::time::sleep_until(start + TICK * u32::try_from(k).unwrap_or(u32::MAX)).await;
        let tick = sampler.tick().await;
        progress.load_tick(
            k,
            load.sent_cases.get() as f64 / (Instant::now() - start).as_secs_f64().max(1e-3),
        );
        ticks.push(tick);
        if let Some(period) = opts.hold_toggle_s
            && k >= opts.warmup_s()
            && k < total
            && (k - opts.warmup_s()).is_multiple_of(period)
        {
            let on = ((k - opts.warmup_s()) / period) % 2 == 1;
            toggles.push(toggle_holds(opts, sampler, subscribers, on).await?);
        }
    }
    Ok((ticks, toggles))
}

/// When the load phases happen: fixed before the first send, told to every process.
struct Schedule {
    /// The first intended send.
    start: Instant,
    wall_start_ns: i64,
    warmup: Duration,
    /// Warm-up and measure together.
    span: Duration,
    bounds: PhaseBounds,
}

impl Schedule {
    fn new(opts: &RunOpts) -> Self {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let warmup = Duration::from_secs(opts.warmup_s());
        let span = warmup + Duration::from_secs(opts.duration);
        let wall_start_ns = now_ns() + nanos(LEAD);
        Self {
            start: Instant::now() + LEAD,
            wall_start_ns,
            warmup,
            span,
            bounds: PhaseBounds {
                measure_start_ns: wall_start_ns + nanos(warmup),
                measure_end_ns: wall_start_ns + nanos(span),
            },
        }
    }

    fn measure_start(&self) -> Instant {
        self.start + self.warmup
    }

    fn load_window(&self, opts: &RunOpts) -> LoadWindow {
        LoadWindow {
            start: self.start,
            wall_start_ns: self.wall_start_ns,
            span: self.span,
            answer_deadline: Duration::from_secs(opts.answer_deadline),
        }
    }
}

/// The sampler of the group's processes, once each process was told the measure window.
async fn sampler_with_window(
    paths: (&[Middleware], &[super::cluster::Cluster]),
    pipeline: &Pipeline,
    brokers: &BrokerSettings,
    clocks: &[ComponentClock],
    load: &Arc<LoadStats>,
    schedule: &Schedule,
) -> anyhow::Result<Sampler> {
    let measure_start = schedule.measure_start();
    let sampler = Sampler::for_group(paths, pipeline, brokers, clocks, load, measure_start).await?;
    load.window().set(schedule.bounds);
    announce_window(&sampler, &pipeline.endpoints, schedule.bounds).await?;
    Ok(sampler)
}

/// Warm-up, measure and drain.
pub(super) async fn measure(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    title: &str,
    pipeline: &Pipeline,
    brokers: &BrokerSettings,
) -> anyhow::Result<Measured> {
    let endpoints = &pipeline.endpoints;
    // Before the schedule is fixed: a slow probe must not eat the lead before the first send.
    let clocks = super::clocks::check_group(&crate::control::client()?, endpoints).await?;
    let load = Arc::new(LoadStats::default());
    let schedule = Schedule::new(opts);
    let paths = (group, opts.clusters.as_slice());
    let sampler = sampler_with_window(paths, pipeline, brokers, &clocks, &load, &schedule).await?;
    let run_load = RunLoad {
        opts,
        ctx,
        group,
        repeat,
    };
    let key_prefix = run_load.key_prefix();
    let generator = run_load.start(
        &endpoints.ingresses,
        &key_prefix,
        &load,
        schedule.load_window(opts),
    )?;
    if let Some(started) = &pipeline.started {
        schedule_stall(opts, &started.ingress, schedule.measure_start());
    }
    let started = SystemTime::now();
    let progress = Progress::new(title, opts);
    let under_load = UnderLoad {
        opts,
        brokers,
        sampler: &sampler,
        pipeline,
        load: &load,
        progress: &progress,
    };
    let (sampled, faults, restarted) = under_load.run(group, &schedule).await;
    super::faults::report(&faults);
    let (mut ticks, hold_toggles) = match sampled {
        Ok(sampled) => sampled,
        Err(e) => {
            for p in restarted {
                p.stop().await;
            }
            return Err(e);
        }
    };
    let measure_end = ticks.len() - 1;
    progress.answers();
    let locust = generator.finish().await?;
    let (drained_quietly, store_ids) = under_load.drain(group, &key_prefix, &mut ticks).await?;
    Ok(Measured {
        bounds: Bounds {
            measure_start: usize::try_from(opts.warmup_s()).unwrap_or(0),
            measure_end,
            last: ticks.len() - 1,
        },
        ticks,
        drained_quietly,
        store_ids,
        load: locust.is_none().then_some((load, key_prefix)),
        locust,
        started,
        faults,
        hold_toggles,
        restarted,
        clocks,
        in_hand_at_kills: (endpoints.subscribers.iter())
            .map(|(m, url)| (*m, sampler.carry.in_hand_at_kills(url)))
            .collect(),
    })
}

/// What the phases under load share: the run's options, its sampler and processes, the
/// generator's record and the progress line.
struct UnderLoad<'a> {
    opts: &'a RunOpts,
    brokers: &'a BrokerSettings,
    sampler: &'a Sampler,
    pipeline: &'a Pipeline,
    load: &'a Arc<LoadStats>,
    progress: &'a Progress,
}

/// The ticks and hold toggles of the loaded phases (or why sampling failed), the faults' records
/// and the processes the faults started again.
type Sampled = (
    anyhow::Result<(Vec<Tick>, Vec<HoldToggle>)>,
    Vec<FaultRecord>,
    Vec<RoleProcess>,
);

impl UnderLoad<'_> {
    /// Samples every second through warm-up and measure while the faults are injected.
    async fn run(&self, group: &[Middleware], schedule: &Schedule) -> Sampled {
        // Faults need processes of the run's own (`validate` refuses them with `--target`).
        let own: Vec<&RoleProcess> = (self.pipeline.started.iter())
            .flat_map(|p| std::iter::once(&p.ingress).chain(p.subscribers.iter().map(|(_, s)| s)))
            .collect();
        let targets = FaultTargets {
            group,
            processes: own,
            restarted: tokio::sync::Mutex::new(Vec::new()),
            carry: &self.sampler.carry,
            clusters: &self.opts.clusters,
            brokers: self.brokers,
        };
        let measure_start = schedule.measure_start();
        let injected = futures::future::join_all(self.opts.faults.iter().map(|f| {
            let window = (measure_start, schedule.bounds);
            super::faults::inject(*f, window, &targets)
        }));
        let sampling = sample_load(
            self.opts,
            self.sampler,
            &self.pipeline.endpoints.subscribers,
            schedule.start,
            self.load,
            self.progress,
        );
        let (sampled, faults) = futures::future::join(sampling, injected).await;
        (sampled, faults, targets.restarted.into_inner())
    }

    /// Drains until quiet (or the timeout), then takes one complete tick; says whether it was
    /// quiet, and gives the drain's last reading of the store if nothing moved since it.
    async fn drain(
        &self,
        group: &[Middleware],
        key_prefix: &str,
        ticks: &mut Vec<Tick>,
    ) -> anyhow::Result<(bool, Option<StoreIds>)> {
        let store_backlog = store_backlog(self.opts, group, self.load, key_prefix).await?;
        let drained = drain(
            self.sampler,
            ticks,
            Duration::from_secs(self.opts.drain_timeout),
            Duration::from_millis(self.opts.quiet_period_ms()),
            self.progress,
            store_backlog.as_ref(),
        )
        .await;
        let last = self.sampler.complete_tick(Duration::from_secs(30)).await?;
        let store_ids = drained
            .store
            .filter(|(read_at, _)| activity(&last) == Some(*read_at))
            .map(|(_, ids)| ids);
        ticks.push(last);
        Ok((drained.quietly, store_ids))
    }
}

/// With the built-in generator (it knows every accepted id) and a store, the drain waits for
/// the accepted ids in the store, not for counters (see [`StoreBacklog`]).
async fn store_backlog(
    opts: &RunOpts,
    group: &[Middleware],
    load: &Arc<LoadStats>,
    key_prefix: &str,
) -> anyhow::Result<Option<StoreBacklog>> {
    if opts.sink != SinkKind::Mongodb || opts.generator != Generator::Builtin {
        return Ok(None);
    }
    let db = mongodb::Client::with_uri_str(&opts.mongo.uri)
        .await
        .context("cannot reach MongoDB")?
        .database(&opts.mongo.db);
    Ok(Some(StoreBacklog {
        db,
        group: group.to_vec(),
        load: load.clone(),
        key_prefix: key_prefix.to_string(),
        cases_per_request: opts.cases_per_request,
    }))
}
