//! Synthetic ticks for unit tests: every counter and histogram set by hand through the same
//! `Registry` the processes report with, so a test reads them back exactly as the runner does.

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::{LatencyMetric, Recorder};
use brokerbench_common::metrics::{Phase, PhaseBounds, Registry};
use brokerbench_common::middleware::depth::BrokerDepth;
use brokerbench_common::settings::Middleware;

use super::tick::{HostCpu, ProcSample, Tick};
use crate::results::resources::{DiskWrites, UsageSource};
use crate::results::role::Role;

/// The measure window every synthetic registry files its samples by (wall-clock ns).
const WINDOW: PhaseBounds = PhaseBounds {
    measure_start_ns: 1_000,
    measure_end_ns: 2_000,
};

/// An origin time inside `phase` of [`WINDOW`].
fn origin_in(phase: Phase) -> i64 {
    match phase {
        Phase::Warmup => WINDOW.measure_start_ns - 1,
        Phase::Measure => WINDOW.measure_start_ns,
        Phase::After => WINDOW.measure_end_ns,
    }
}

fn registry(component: &str) -> Registry {
    let r = Registry::new(component);
    r.window().set(WINDOW);
    r
}

/// One tick under construction: the generator's, the ingress's and each subscriber's figures
/// (cumulative, as a process reports them), the sampled processes and the host's CPU.
pub struct TickBuilder {
    at_s: f64,
    load: Registry,
    ingress: Option<Registry>,
    subscribers: Vec<(Middleware, Option<Registry>)>,
    broker_depth: Vec<(Middleware, Option<BrokerDepth>)>,
    procs: Vec<ProcSample>,
    host_cpu: Option<HostCpu>,
}

impl TickBuilder {
    /// A tick `at_s` seconds after the measure phase began, with a readable ingress and one
    /// readable subscriber per path of `paths`, every counter at zero.
    pub fn at(at_s: f64, paths: &[Middleware]) -> Self {
        Self {
            at_s,
            load: registry("generator"),
            ingress: Some(registry("ingress")),
            subscribers: paths
                .iter()
                .map(|m| (*m, Some(registry("subscriber"))))
                .collect(),
            broker_depth: Vec::new(),
            procs: Vec::new(),
            host_cpu: None,
        }
    }

    /// Sets one of the generator's counters.
    pub fn load(self, metric: CounterMetric, n: u64) -> Self {
        self.load.counter(metric, None).add(n);
        self
    }

    /// Sets one of the ingress's counters (per path with `m`).
    pub fn ingress(self, metric: CounterMetric, m: Option<Middleware>, n: u64) -> Self {
        if let Some(r) = &self.ingress {
            r.counter(metric, m).add(n);
        }
        self
    }

    /// Sets one of path `m`'s subscriber counters.
    pub fn subscriber(self, m: Middleware, metric: CounterMetric, n: u64) -> Self {
        if let Some(r) = self.subscriber_registry(m) {
            r.counter(metric, Some(m)).add(n);
        }
        self
    }

    /// Records `n` samples of `us` µs of `metric` on path `m`, filed under `phase`, in the
    /// process that records that metric.
    pub fn latency(
        self,
        m: Middleware,
        metric: LatencyMetric,
        phase: Phase,
        us: u64,
        n: u64,
    ) -> Self {
        let registry = match metric.recorder() {
            Recorder::Generator => Some(&self.load),
            Recorder::Ingress => self.ingress.as_ref(),
            Recorder::Subscriber => self.subscriber_registry(m),
        };
        let middleware = (metric.recorder() != Recorder::Generator).then_some(m);
        if let Some(r) = registry {
            r.latency(metric, middleware)
                .record_n_us(origin_in(phase), us, n);
        }
        self
    }

    /// Path `m`'s broker said it held `ready` cases undelivered at this tick.
    pub fn broker_ready(mut self, m: Middleware, ready: u64) -> Self {
        let depth = BrokerDepth {
            ready,
            unacked: None,
        };
        self.broker_depth.push((m, Some(depth)));
        self
    }

    /// Adds a sampled process.
    pub fn process(mut self, role: Role, pid: u32, cpu_seconds: f64, rss_kib: u64) -> Self {
        self.procs.push(ProcSample {
            role,
            pid,
            name: format!("process-{pid}"),
            cpu_seconds,
            rss_kib,
            accounted_by: UsageSource::Processes,
            disk_writes: None,
        });
        self
    }

    /// Adds a service sampled from its cgroup, which has written `written_bytes` so far (one
    /// operation per 4 KiB).
    pub fn cgroup(mut self, role: Role, pid: u32, cpu_seconds: f64, written_bytes: u64) -> Self {
        self.procs.push(ProcSample {
            role,
            pid,
            name: format!("service-{pid}"),
            cpu_seconds,
            rss_kib: 0,
            accounted_by: UsageSource::Cgroup,
            disk_writes: Some(DiskWrites {
                bytes: written_bytes,
                ops: written_bytes / 4096,
            }),
        });
        self
    }

    pub fn host_cpu(mut self, busy_s: f64, total_s: f64) -> Self {
        self.host_cpu = Some(HostCpu { busy_s, total_s });
        self
    }

    /// Path `m`'s subscriber did not answer `/stats` at this tick.
    pub fn subscriber_unreadable(mut self, m: Middleware) -> Self {
        for (x, r) in &mut self.subscribers {
            if *x == m {
                *r = None;
            }
        }
        self
    }

    /// The ingress did not answer `/stats` at this tick.
    pub fn ingress_unreadable(mut self) -> Self {
        self.ingress = None;
        self
    }

    fn subscriber_registry(&self, m: Middleware) -> Option<&Registry> {
        self.subscribers
            .iter()
            .find(|(x, _)| *x == m)
            .and_then(|(_, r)| r.as_ref())
    }

    pub fn build(self) -> Tick {
        Tick {
            at_s: self.at_s,
            load: self.load.stats(),
            ingress: self.ingress.map(|r| r.stats()),
            subscribers: self
                .subscribers
                .into_iter()
                .map(|(m, r)| (m, r.map(|r| r.stats())))
                .collect(),
            replica_received: Vec::new(),
            broker_depth: self.broker_depth,
            procs: self.procs,
            ram: None,
            host_cpu: self.host_cpu,
        }
    }
}
