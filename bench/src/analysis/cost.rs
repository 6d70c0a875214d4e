//! What a path is charged: the CPU, memory and disk writes of the processes (or services) it
//! used over the measure phase, from the ticks' samples.

use brokerbench_common::settings::Middleware;

use super::tick::{ProcSample, Tick};
use crate::results::resources::{DiskWrites, ProcessCost};
use crate::results::role::Role;

/// The processes charged to path `m` (`own`) and, with a shared ingress, those serving every
/// path at once (`shared`), each with its CPU and disk writes between the ticks that bound the
/// measure phase (`measure`) and its peak memory; the processes are those of tick `last`.
pub(super) fn resources(
    ticks: &[Tick],
    (measure, last): ((usize, usize), usize),
    m: Middleware,
    shared_ingress: bool,
) -> (Vec<ProcessCost>, Vec<ProcessCost>) {
    let (mut own, mut shared) = (Vec::new(), Vec::new());
    for p in &ticks[last].procs {
        let is_mine = p.role.path() == Some(m);
        let is_shared = p.role.path().is_none();
        if shared_ingress && !is_mine && !is_shared {
            continue;
        }
        if !shared_ingress && matches!(p.role, Role::Subscriber(_)) && !is_mine {
            continue;
        }
        let at = |i: usize| ticks[i].procs.iter().find(|q| q.pid == p.pid);
        let (first, last) = (at(measure.0), at(measure.1));
        let start = first.map_or(0.0, |q| q.cpu_seconds);
        let end = last.map_or(p.cpu_seconds, |q| q.cpu_seconds);
        let written = |q: Option<&ProcSample>| q.and_then(|q| q.disk_writes);
        let disk_writes =
            written(last.or(Some(p))).map(|end| end.since(written(first).unwrap_or_default()));
        let peak = ticks
            .iter()
            .flat_map(|t| t.procs.iter().filter(|q| q.pid == p.pid))
            .map(|q| q.rss_kib)
            .max()
            .unwrap_or(0);
        let cost = ProcessCost {
            role: p.role,
            name: p.name.clone(),
            pid: p.pid,
            cpu_seconds: (end - start).max(0.0),
            peak_rss_kib: peak,
            accounted_by: p.accounted_by,
            disk_writes,
        };
        if shared_ingress && is_shared {
            shared.push(cost)
        } else {
            own.push(cost)
        }
    }
    (own, shared)
}

/// Bytes `procs` wrote to disk, if any of them was in a cgroup that counts them.
pub(super) fn disk_bytes(procs: &[ProcessCost]) -> Option<u64> {
    let counted: Vec<DiskWrites> = procs.iter().filter_map(|p| p.disk_writes).collect();
    (!counted.is_empty()).then(|| counted.iter().map(|w| w.bytes).sum())
}

/// The largest total RSS of `procs` at any one tick (peaks of different moments are not added).
pub(super) fn peak_rss(ticks: &[Tick], procs: &[ProcessCost]) -> u64 {
    ticks
        .iter()
        .map(|t| {
            t.procs
                .iter()
                .filter(|q| procs.iter().any(|p| p.pid == q.pid))
                .map(|q| q.rss_kib)
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}
