//! What the runner samples of a run: once a second a [`Tick`] (cumulative counters and
//! histograms of the generator, the ingress and every subscriber, CPU and memory of every
//! process on the path), and every attempt's answer as the generator saw it. Every figure of a
//! run is computed from these.

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::host::{HostSource, RamInfo};
use brokerbench_common::metrics::Stats;
use brokerbench_common::middleware::depth::BrokerDepth;
use brokerbench_common::settings::Middleware;

use crate::results::attribution::Backlog;
use crate::results::resources::{DiskWrites, UsageSource};
use crate::results::role::Role;

#[derive(Debug, Clone)]
pub struct ProcSample {
    pub role: Role,
    pub pid: u32,
    pub name: String,
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub accounted_by: UsageSource,
    /// Cumulative, where the process's cgroup counts them.
    pub disk_writes: Option<DiskWrites>,
}

/// CPU time of the whole host since boot, from /proc/stat.
#[derive(Debug, Clone, Copy)]
pub struct HostCpu {
    pub busy_s: f64,
    pub total_s: f64,
}

#[derive(Debug, Clone)]
pub struct Tick {
    /// Seconds since the measure phase began (negative during warm-up).
    pub at_s: f64,
    /// The generator's counters and histograms (component `generator`).
    pub load: Stats,
    pub ingress: Option<Stats>,
    /// Each path's subscribers' figures, summed over its replicas; `None` unless every replica
    /// was read.
    pub subscribers: Vec<(Middleware, Option<Stats>)>,
    /// Cases each replica of a path's subscribers had received (in the order they were started).
    pub replica_received: Vec<(Middleware, Vec<Option<u64>>)>,
    /// Each path's broker depth as the broker itself told it, for the paths where it can be read
    /// (`None`: the reading failed at this tick).
    pub broker_depth: Vec<(Middleware, Option<BrokerDepth>)>,
    pub procs: Vec<ProcSample>,
    pub ram: Option<(HostSource, RamInfo)>,
    pub host_cpu: Option<HostCpu>,
}

/// One attempt's answer.
#[derive(Debug, Clone, Copy)]
pub struct AnswerLog {
    /// When it came (wall clock, ns since the Unix epoch).
    pub at_ns: i64,
    /// Sent → answered, µs.
    pub took_us: u64,
    /// The HTTP status; 0 when there was none (a transport error).
    pub status: u16,
}

pub fn counter(stats: &Option<Stats>, metric: CounterMetric, m: Option<Middleware>) -> u64 {
    stats
        .as_ref()
        .and_then(|s| s.counter(metric, m))
        .unwrap_or(0)
}

pub fn subscriber(tick: &Tick, m: Middleware) -> &Option<Stats> {
    static NONE: Option<Stats> = None;
    tick.subscribers
        .iter()
        .find(|(x, _)| *x == m)
        .map(|(_, s)| s)
        .unwrap_or(&NONE)
}

/// Path `m`'s broker depth at one tick, where it was read.
pub fn depth_at(tick: &Tick, m: Middleware) -> Option<BrokerDepth> {
    tick.broker_depth
        .iter()
        .find(|(x, _)| *x == m)
        .and_then(|(_, d)| *d)
}

/// The backlogs of path `m` at one tick.
pub fn backlog_at(tick: &Tick, m: Middleware, cases_per_request: u64) -> Backlog {
    let cpr = cases_per_request as f64;
    let load = |metric: CounterMetric| tick.load.counter(metric, None).unwrap_or(0);
    let ingress = |metric: CounterMetric| counter(&tick.ingress, metric, None);
    let sub = |metric: CounterMetric| counter(subscriber(tick, m), metric, Some(m));
    let answered = load(CounterMetric::Http2xx)
        + load(CounterMetric::Http4xx)
        + load(CounterMetric::Http5xx)
        + load(CounterMetric::TransportErrors)
        + load(CounterMetric::Unanswered);
    let ingress_open = ingress(CounterMetric::Requests).saturating_sub(
        ingress(CounterMetric::Responses2xx)
            + ingress(CounterMetric::Responses4xx)
            + ingress(CounterMetric::Responses5xx),
    );
    let client_open = load(CounterMetric::SentRequests).saturating_sub(answered);
    Backlog {
        client_queue: client_open.saturating_sub(ingress_open) as f64 * cpr,
        ingress_in_flight: ingress_open as f64 * cpr,
        broker: counter(&tick.ingress, CounterMetric::Published, Some(m))
            .saturating_sub(sub(CounterMetric::Received)) as f64,
        broker_ready: depth_at(tick, m).map(|d| d.ready as f64),
        sink: sub(CounterMetric::Received)
            .saturating_sub(sub(CounterMetric::Stored) + sub(CounterMetric::Duplicates))
            as f64,
    }
}

/// Share of the time between two ticks that `writers` writers spent writing.
pub fn store_busy(a: &Tick, b: &Tick, m: Middleware, writers: u16) -> f64 {
    let busy = |t: &Tick| counter(subscriber(t, m), CounterMetric::StoreBusyUs, Some(m));
    let span_us = (b.at_s - a.at_s).max(1e-9) * 1e6 * f64::from(writers.max(1));
    busy(b).saturating_sub(busy(a)) as f64 / span_us
}
