//! What the runner samples of a run: once a second a [`Tick`] (cumulative counters and
//! histograms of the generator, the ingress and every subscriber, CPU and memory of every
//! process on the path), and every attempt's answer as the generator saw it. Every figure of a
//! run is computed from these.

use brokerbench_common::host::{HostSource, RamInfo};
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;

use crate::results::role::Role;

#[derive(Debug, Clone)]
pub struct ProcSample {
    pub role: Role,
    pub pid: u32,
    pub name: String,
    pub cpu_seconds: f64,
    pub rss_kib: u64,
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
    pub subscribers: Vec<(Middleware, Option<Stats>)>,
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
