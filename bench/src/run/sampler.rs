//! Once a second the runner takes a [`Tick`]: cumulative counters and histograms of the load
//! generator, the ingress and every subscriber, plus CPU and memory of every process on the path.
//! Every figure of a run (phase totals, per-second series, interval logs) is a difference of ticks.

use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::host;
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;
use procfs::process::Process;
use tokio::time::Instant;

use super::carry::Carry;
use super::group_processes::Processes;
use super::loadgen::LoadStats;
use crate::analysis::tick::{HostCpu, ProcSample, Tick};
use crate::processes::cgroup::TrackedCgroup;
use crate::processes::children::fetch_stats;
use crate::processes::services::{ProcessTarget, service_targets, session_usage};
use crate::results::resources::UsageSource;
use crate::results::role::Role;

pub struct Sampler {
    pub client: reqwest::Client,
    pub ingress_url: String,
    pub subscribers: Vec<(Middleware, String)>,
    pub targets: Vec<ProcessTarget>,
    /// Each target's own cgroup and process name, found when the group started and read on
    /// after a fault replaced the process.
    cgroups: Vec<Option<(TrackedCgroup, String)>>,
    pub load: Arc<LoadStats>,
    pub measure_start: Instant,
    /// What processes killed by a fault had counted, continued by their replacements.
    pub carry: Carry,
}

impl Sampler {
    /// The sampler of one group run: the ingress, every subscriber and the processes to account;
    /// its client sends the runner's control token ([`crate::control`]).
    pub(super) fn for_group(
        group: &[Middleware],
        processes: &Processes,
        load: &Arc<LoadStats>,
        measure_start: Instant,
    ) -> anyhow::Result<Self> {
        let targets = process_targets(group, processes);
        Ok(Self {
            client: crate::control::client()?,
            ingress_url: processes.ingress.url.clone(),
            subscribers: processes
                .subscribers
                .iter()
                .map(|(m, p)| (*m, p.url.clone()))
                .collect(),
            cgroups: targets.iter().map(tracked_cgroup).collect(),
            targets,
            load: load.clone(),
            measure_start,
            carry: Carry::default(),
        })
    }

    pub async fn tick(&self) -> Tick {
        let ingress = self.read(&self.ingress_url).await;
        let mut subscribers = Vec::new();
        for (m, url) in &self.subscribers {
            subscribers.push((*m, self.read(url).await));
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
            procs: sample_processes(&self.targets, &self.cgroups),
            ram: host::read_ram().ok().map(|s| (s.source, s.data)),
            host_cpu: host_cpu(),
        }
    }

    /// The `/stats` of the process at `url`, continued from the processes it replaced.
    async fn read(&self, url: &str) -> Option<Stats> {
        let stats = fetch_stats(&self.client, url).await;
        self.carry.continued(url, stats)
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

/// Every target's CPU and memory now: from its own cgroup where it has one (see
/// [`crate::processes::cgroup`]), else from `/proc` (a session's summed over its processes).
fn sample_processes(
    targets: &[ProcessTarget],
    cgroups: &[Option<(TrackedCgroup, String)>],
) -> Vec<ProcSample> {
    let from_cgroups: Vec<Option<ProcSample>> = targets
        .iter()
        .zip(cgroups)
        .map(|(t, c)| c.as_ref().and_then(|c| sample_cgroup(t, c)))
        .collect();
    let sessions: Vec<u32> = targets
        .iter()
        .zip(&from_cgroups)
        .filter(|(t, c)| t.whole_session && c.is_none())
        .map(|(t, _)| t.pid)
        .collect();
    let usage = session_usage(&sessions);
    targets
        .iter()
        .zip(from_cgroups)
        .filter_map(|(t, from_cgroup)| {
            if from_cgroup.is_some() {
                return from_cgroup;
            }
            if !t.whole_session {
                return sample_process(t);
            }
            let (cpu_seconds, rss_kib, count) = *usage.get(&t.pid)?;
            let leader = Process::new(i32::try_from(t.pid).ok()?).ok()?.stat().ok()?;
            Some(ProcSample {
                role: t.role,
                pid: t.pid,
                name: format!("{} ({count} processes)", leader.comm),
                cpu_seconds,
                rss_kib,
                accounted_by: UsageSource::Processes,
                disk_writes: None,
            })
        })
        .collect()
}

/// The target's own cgroup and its process's name, if it is in one.
fn tracked_cgroup(target: &ProcessTarget) -> Option<(TrackedCgroup, String)> {
    let cgroup = TrackedCgroup::of_process(target.pid)?;
    let comm = Process::new(i32::try_from(target.pid).ok()?)
        .ok()?
        .stat()
        .ok()?
        .comm;
    Some((cgroup, comm))
}

/// The target's cgroup's usage, when that cgroup measures memory too (else every figure comes
/// from `/proc`, never a mix). Filed under the pid the group started with, whatever process
/// now runs in the cgroup, so that the figures of a restarted process continue the killed one's.
fn sample_cgroup(
    target: &ProcessTarget,
    (cgroup, comm): &(TrackedCgroup, String),
) -> Option<ProcSample> {
    let usage = cgroup.usage()?;
    let memory_kib = usage.memory_kib?;
    Some(ProcSample {
        role: target.role,
        pid: target.pid,
        name: format!("{comm} (cgroup {})", cgroup.name()),
        cpu_seconds: usage.cpu_seconds,
        rss_kib: memory_kib,
        accounted_by: UsageSource::Cgroup,
        disk_writes: usage.disk_writes,
    })
}

fn sample_process(target: &ProcessTarget) -> Option<ProcSample> {
    let stat = Process::new(i32::try_from(target.pid).ok()?)
        .ok()?
        .stat()
        .ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    Some(ProcSample {
        role: target.role,
        pid: target.pid,
        name: stat.comm.clone(),
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        rss_kib: stat.rss * procfs::page_size() / 1024,
        accounted_by: UsageSource::Processes,
        disk_writes: None,
    })
}

/// The processes whose CPU and memory the run samples: its own, and the brokers and store of
/// its paths.
fn process_targets(group: &[Middleware], processes: &Processes) -> Vec<ProcessTarget> {
    let mut targets: Vec<ProcessTarget> = processes
        .ingress
        .pid()
        .map(|pid| ProcessTarget {
            role: Role::Ingress,
            pid,
            whole_session: false,
        })
        .into_iter()
        .collect();
    targets.extend(processes.subscribers.iter().filter_map(|(m, p)| {
        p.pid().map(|pid| ProcessTarget {
            role: Role::Subscriber(*m),
            pid,
            whole_session: false,
        })
    }));
    for t in service_targets(group) {
        if !targets.iter().any(|x| x.pid == t.pid) {
            targets.push(t);
        }
    }
    targets
}
