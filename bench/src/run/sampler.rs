//! Once a second the runner takes a [`Tick`]: cumulative counters and histograms of the load
//! generator, the ingress and every subscriber, plus CPU and memory of every process on the path.
//! Every figure of a run (phase totals, per-second series, interval logs) is a difference of ticks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::host;
use brokerbench_common::metrics::Stats;
use brokerbench_common::middleware::depth::BrokerDepth;
use brokerbench_common::middleware::probe::DepthProbe;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use tokio::time::Instant;

use super::carry::Carry;
use super::clocks::Corrections;
use super::cluster::Cluster;
use super::group_processes::Pipeline;
use super::loadgen::LoadStats;
use super::process_usage::{process_targets, sample_processes, tracked_cgroup};
use crate::analysis::tick::{HostCpu, ProcSample, Tick};
use crate::processes::cgroup::TrackedCgroup;
use crate::processes::children::fetch_stats;
use crate::processes::services::ProcessTarget;
use crate::results::clock::ComponentClock;
use crate::results::resources::UsageSource;
use crate::results::role::Role;

pub struct Sampler {
    pub client: reqwest::Client,
    /// One, or every ingress of an attached pipeline: their figures are summed into the tick's.
    pub ingress_urls: Vec<String>,
    /// Every subscriber, several of one path with `--subscribers`: a path's are summed.
    pub subscribers: Vec<(Middleware, String)>,
    pub targets: Vec<ProcessTarget>,
    /// Each target's own cgroup and process name, found when the group started and read on
    /// after a fault replaced the process.
    cgroups: Vec<Option<(TrackedCgroup, String)>>,
    pub load: Arc<LoadStats>,
    pub measure_start: Instant,
    /// What processes killed by a fault had counted, continued by their replacements.
    pub carry: Carry,
    /// What each subscriber's clock offset takes off its latencies.
    corrections: Corrections,
    /// A reader of each path's broker depth, where the broker tells it.
    depth: Vec<(Middleware, tokio::sync::Mutex<DepthProbe>)>,
    /// Attached to components that ran before the run: each one's first reading, which every
    /// later one is taken relative to; their CPU and memory come from their own `/stats`.
    baselines: Option<HashMap<String, Stats>>,
}

/// How long one broker may take to tell its depth before the tick goes on without it.
const DEPTH_PATIENCE: Duration = Duration::from_millis(500);

impl Sampler {
    /// The sampler of one group run: the ingress, every subscriber (its latencies corrected by
    /// the `clocks` found before the load), each path's broker depth (`brokers`: the run's
    /// settings) and the processes to account; its client sends the runner's control token
    /// ([`crate::control`]). Attached to a pipeline, it reads every component once first: the
    /// baseline of its figures.
    pub(super) async fn for_group(
        (group, clusters): (&[Middleware], &[Cluster]),
        pipeline: &Pipeline,
        brokers: &BrokerSettings,
        clocks: &[ComponentClock],
        load: &Arc<LoadStats>,
        measure_start: Instant,
    ) -> anyhow::Result<Self> {
        let targets = (pipeline.started.as_ref())
            .map(|p| process_targets(group, clusters, p))
            .unwrap_or_default();
        let mut sampler = Self {
            corrections: Corrections::of(clocks),
            depth: depth_probes(group, brokers).await,
            client: crate::control::client()?,
            ingress_urls: pipeline.endpoints.ingresses.clone(),
            subscribers: pipeline.endpoints.subscribers.clone(),
            cgroups: targets.iter().map(tracked_cgroup).collect(),
            targets,
            load: load.clone(),
            measure_start,
            carry: Carry::default(),
            baselines: None,
        };
        if pipeline.started.is_none() {
            sampler.baselines = Some(sampler.baselines().await?);
        }
        Ok(sampler)
    }

    /// Every component's reading now, which later readings are taken relative to.
    async fn baselines(&self) -> anyhow::Result<HashMap<String, Stats>> {
        let urls = (self.ingress_urls.iter()).chain(self.subscribers.iter().map(|(_, u)| u));
        let mut baselines = HashMap::new();
        for url in urls {
            let read = self
                .carry
                .continued(url, fetch_stats(&self.client, url).await);
            let read = read.ok_or_else(|| anyhow::anyhow!("cannot read {url}/stats"))?;
            baselines.insert(url.clone(), read);
        }
        Ok(baselines)
    }

    pub async fn tick(&self) -> Tick {
        let mut ingresses = Vec::new();
        for url in &self.ingress_urls {
            ingresses.push(self.read(url).await);
        }
        let mut procs = sample_processes(&self.targets, &self.cgroups);
        procs.extend(self.own_usage(Role::Ingress, &ingresses));
        let ingress = summed(ingresses);
        let mut replicas: Vec<(Middleware, Vec<Option<Stats>>)> = Vec::new();
        for (m, url) in &self.subscribers {
            let stats = self.read(url).await;
            let stats = stats.map(|s| self.corrections.apply(*m, s));
            match replicas.iter_mut().find(|(x, _)| x == m) {
                Some((_, readings)) => readings.push(stats),
                None => replicas.push((*m, vec![stats])),
            }
        }
        let mut subscribers = Vec::new();
        let mut replica_received = Vec::new();
        for (m, readings) in replicas {
            procs.extend(self.own_usage(Role::Subscriber(m), &readings));
            let received = |r: &Option<Stats>| {
                (r.as_ref()).and_then(|s| s.counter(CounterMetric::Received, Some(m)))
            };
            replica_received.push((m, readings.iter().map(received).collect()));
            subscribers.push((m, summed(readings)));
        }
        let now = Instant::now();
        let at_s = if now >= self.measure_start {
            (now - self.measure_start).as_secs_f64()
        } else {
            -(self.measure_start - now).as_secs_f64()
        };
        Tick {
            at_s,
            load: self.load.stats(),
            ingress,
            subscribers,
            replica_received,
            broker_depth: self.broker_depth().await,
            procs,
            ram: host::read_ram().ok().map(|s| (s.source, s.data)),
            host_cpu: host_cpu(),
        }
    }

    /// Each probed path's broker depth now; a reading that fails or takes longer than
    /// [`DEPTH_PATIENCE`] is `None` (the broker may be down for a fault).
    async fn broker_depth(&self) -> Vec<(Middleware, Option<BrokerDepth>)> {
        let mut depths = Vec::new();
        for (m, probe) in &self.depth {
            let mut probe = probe.lock().await;
            let read = tokio::time::timeout(DEPTH_PATIENCE, probe.read()).await;
            depths.push((*m, read.ok().and_then(Result::ok)));
        }
        depths
    }

    /// The `/stats` of the process at `url`, continued from the processes it replaced, and
    /// relative to its baseline when attached.
    async fn read(&self, url: &str) -> Option<Stats> {
        let stats = self
            .carry
            .continued(url, fetch_stats(&self.client, url).await)?;
        let Some(baseline) = self.baselines.as_ref().and_then(|b| b.get(url)) else {
            return Some(stats);
        };
        match stats.since(baseline) {
            Ok(since) => Some(since),
            Err(e) => {
                tracing::warn!(%url, error = %e, "cannot take a reading relative to its baseline");
                None
            }
        }
    }

    /// The CPU and memory of an attached role's processes (several ingresses: summed), as
    /// their own `/stats` report them; none unless every one reported.
    fn own_usage(&self, role: Role, readings: &[Option<Stats>]) -> Option<ProcSample> {
        self.baselines.as_ref()?;
        let first = readings.first()?.as_ref()?;
        let (mut cpu_seconds, mut rss_kib) = (0.0, 0);
        for reading in readings {
            let usage = reading.as_ref()?.usage?;
            cpu_seconds += usage.cpu_seconds;
            rss_kib += usage.rss_kib;
        }
        let name = match readings.len() {
            1 => format!("{} (its own /stats)", first.component),
            n => format!("{} ×{n} (their own /stats)", first.component),
        };
        Some(ProcSample {
            role,
            pid: first.pid.unwrap_or(0),
            name,
            cpu_seconds,
            rss_kib,
            accounted_by: UsageSource::OwnStats,
            disk_writes: None,
        })
    }

    /// A tick whose every `/stats` read succeeded, retried for up to `patience`: the figures of a
    /// run are read from it, so a failed read must not turn into zeros.
    pub async fn complete_tick(&self, patience: Duration) -> anyhow::Result<Tick> {
        let deadline = Instant::now() + patience;
        loop {
            let tick = self.tick().await;
            if tick.ingress.is_some() && tick.subscribers.iter().all(|(_, s)| s.is_some()) {
                return Ok(tick);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "cannot read /stats of the ingress or a subscriber (for {patience:?})"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Several processes' readings as one: every counter and histogram summed; none if one is
/// missing (a tick's figures must not silently leave a process out).
fn summed(readings: Vec<Option<Stats>>) -> Option<Stats> {
    let mut sum: Option<Stats> = None;
    for reading in readings {
        let reading = reading?;
        sum = Some(match sum {
            None => reading,
            Some(earlier) => reading.continuing(&earlier).ok()?,
        });
    }
    sum
}

/// A depth probe for each path of `group` whose broker tells its depth. One that cannot connect
/// is left out with a note: the run goes on, and its attribution says the depth was not read.
async fn depth_probes(
    group: &[Middleware],
    brokers: &BrokerSettings,
) -> Vec<(Middleware, tokio::sync::Mutex<DepthProbe>)> {
    let mut probes = Vec::new();
    for &m in group {
        match DepthProbe::connect(m, brokers).await {
            Ok(Some(probe)) => probes.push((m, tokio::sync::Mutex::new(probe))),
            Ok(None) => {}
            Err(e) => eprintln!("note: cannot read the {m} broker's depth: {e}"),
        }
    }
    probes
}

fn host_cpu() -> Option<HostCpu> {
    use procfs::CurrentSI as _;
    let cpu = procfs::KernelStats::current().ok()?.total;
    let ticks = procfs::ticks_per_second() as f64;
    let idle = cpu.idle + cpu.iowait.unwrap_or(0);
    let busy = cpu.user
        + cpu.nice
        + cpu.system
        + cpu.irq.unwrap_or(0)
        + cpu.softirq.unwrap_or(0)
        + cpu.steal.unwrap_or(0);
    Some(HostCpu {
        busy_s: busy as f64 / ticks,
        total_s: (busy + idle) as f64 / ticks,
    })
}
