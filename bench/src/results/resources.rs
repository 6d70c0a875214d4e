//! What a run charges a path for: each process's (or each service's) CPU, memory and disk
//! writes over the measure phase, and where those figures were read.

use serde::{Deserialize, Serialize};

use super::role::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessCost {
    /// `ingress`, `subscriber:<path>`, `broker:<path>` or `store`.
    pub role: Role,
    pub name: String,
    pub pid: u32,
    /// CPU (user + system) used during the measure phase.
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// Where the figures were read: the process's (or service's) own cgroup, or `/proc`.
    #[serde(default)]
    pub accounted_by: UsageSource,
    /// Written to disk during the measure phase (from the cgroup; none from `/proc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_writes: Option<DiskWrites>,
}

/// Where a process's usage is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageSource {
    /// A cgroup made for this service or child alone: CPU of exited processes included, memory
    /// is the working set (page cache the kernel may drop left out), disk writes counted.
    Cgroup,
    /// `/proc`: the live processes at each sample (their CPU, RSS summed; no disk writes).
    #[default]
    Processes,
    /// The process's own `/stats` (its `/proc/self`): how a run attached to components on other
    /// hosts (`run --target`) reads them.
    #[serde(rename = "own-stats")]
    OwnStats,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cgroup => "cgroup",
            Self::Processes => "processes",
            Self::OwnStats => "own /stats",
        }
    }
}

/// Bytes and operations written to block devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskWrites {
    pub bytes: u64,
    pub ops: u64,
}

impl DiskWrites {
    /// What was written between an earlier reading and this one.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            ops: self.ops.saturating_sub(earlier.ops),
        }
    }
}
