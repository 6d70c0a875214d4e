//! The CPU and memory of the processes a run charges: which they are (its ingress and
//! subscribers, the brokers and store of its paths, or its clusters' nodes) and how each is
//! read (its own cgroup where it has one, else `/proc`).

use brokerbench_common::settings::Middleware;
use procfs::process::Process;

use super::cluster::{self, Cluster};
use super::group_processes::Processes;
use crate::analysis::tick::ProcSample;
use crate::processes::cgroup::TrackedCgroup;
use crate::processes::services::{ProcessTarget, service_targets, session_usage};
use crate::results::resources::UsageSource;
use crate::results::role::Role;

/// Every target's CPU and memory now: from its own cgroup where it has one (see
/// [`crate::processes::cgroup`]), else from `/proc` (a session's summed over its processes).
pub(super) fn sample_processes(
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
pub(super) fn tracked_cgroup(target: &ProcessTarget) -> Option<(TrackedCgroup, String)> {
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
/// its paths: scripts/stack's, or with clusters each node (the store on its simulated host is
/// not among them).
pub(super) fn process_targets(
    group: &[Middleware],
    clusters: &[Cluster],
    processes: &Processes,
) -> Vec<ProcessTarget> {
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
    if !clusters.is_empty() {
        targets.extend(node_targets(clusters));
        return targets;
    }
    for t in service_targets(group) {
        if !targets.iter().any(|x| x.pid == t.pid) {
            targets.push(t);
        }
    }
    targets
}

/// Every running node of `clusters`, read from `/proc` by its pid: the runner runs on a
/// simulated host, whose `ip netns exec` mounts a sysfs of its own without the cgroup folders, so
/// a node a fault kills is not followed into its restart (the path's warnings say so).
fn node_targets(clusters: &[Cluster]) -> Vec<ProcessTarget> {
    let mut targets = Vec::new();
    for c in clusters {
        for node in &c.nodes {
            if let Some(pid) = cluster::node_pid(node) {
                targets.push(ProcessTarget {
                    role: Role::Broker(c.middleware),
                    pid,
                    whole_session: false,
                });
            }
        }
    }
    targets
}
