//! The host readings. Both sources (the `bb_ram`/`bb_procs` kernel modules
//! and plain `/proc`) produce these exact structures, and the JSON the
//! modules print is their serde form, so one parser serves both.

use serde::{Deserialize, Serialize};

/// Where a reading came from. A report must say it: the kernel modules read
/// everything in one pass inside the kernel, the `/proc` fallback reads
/// file after file while processes come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostSource {
    /// `/proc/bb_ram` or `/proc/bb_procs` (see `kernel/README.md`).
    KernelModule,
    /// `/proc/meminfo` and `/proc/<pid>/{stat,status}`.
    Proc,
}

/// A reading together with the source it was taken from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampled<T> {
    pub source: HostSource,
    pub data: T,
}

/// Host memory in KiB, with the meanings of `/proc/meminfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RamInfo {
    /// MemTotal.
    pub total_kib: u64,
    /// MemFree.
    pub free_kib: u64,
    /// MemAvailable: what can be allocated without swapping.
    pub available_kib: u64,
    /// Buffers.
    pub buffers_kib: u64,
    /// Cached (page cache without swap cache and buffers).
    pub cached_kib: u64,
    /// `total - available`, see [`RamInfo::from_meminfo_kib`].
    pub used_kib: u64,
    /// `used * 100 / total`, truncated to two decimals.
    pub used_percent: f64,
}

impl RamInfo {
    /// Builds the reading from the five meminfo figures, deriving "used"
    /// exactly as the `bb_ram` module does.
    ///
    /// used = total - available (the definition of procps-ng `free` since
    /// 4.0.1): MemAvailable is the kernel's own estimate of reclaimable
    /// memory, whereas total - free - buffers - cached would count
    /// unreclaimable slab and other kernel memory differently from `free`
    /// versions. The percentage is computed in integer basis points first
    /// because the kernel cannot use floating point; doing the same here
    /// makes both sources agree to the last digit.
    pub fn from_meminfo_kib(
        total_kib: u64,
        free_kib: u64,
        available_kib: u64,
        buffers_kib: u64,
        cached_kib: u64,
    ) -> Self {
        let used_kib = total_kib.saturating_sub(available_kib);
        let basis_points = used_kib
            .saturating_mul(10_000)
            .checked_div(total_kib)
            .unwrap_or(0);
        Self {
            total_kib,
            free_kib,
            available_kib,
            buffers_kib,
            cached_kib,
            used_kib,
            used_percent: basis_points as f64 / 100.0,
        }
    }
}

/// One process (thread group), with the meanings of `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: i32,
    /// 0 for pid 1, kthreadd, and parents outside the reader's namespace.
    pub ppid: i32,
    /// comm: at most 15 bytes, invalid UTF-8 replaced by U+FFFD. For
    /// kernel threads, /proc (and so the fallback) shows more than comm:
    /// the full thread name ("rcu_tasks_kthread" for "rcu_tasks_kthre")
    /// and a kworker's current workqueue ("kworker/0:1-events"); the
    /// module cannot reach those and reports comm, a prefix of them.
    pub name: String,
    /// One letter as in `ps`: R, S, D, T, t, X, Z, P or I.
    pub state: char,
    /// The letter's word as in `/proc/<pid>/status`, e.g. "disk sleep".
    pub state_word: String,
    /// Real uid.
    pub uid: u32,
    /// Resident set size; 0 for kernel threads and zombies.
    pub rss_kib: u64,
    pub threads: u32,
}

/// How many of the listed processes are in each state group.
///
/// Every listed process is in exactly one group, so
/// `running + sleeping + stopped + zombie == total == processes.len()`:
/// running = R; sleeping = S, D, P, I (and any letter a future kernel
/// adds); stopped = T, t; zombie = Z, X.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub running: u64,
    pub sleeping: u64,
    pub stopped: u64,
    pub zombie: u64,
    pub total: u64,
}

impl TaskCounts {
    /// Counts `processes` with the grouping documented on the type, which
    /// is also the one `bb_procs` uses.
    pub fn tally(processes: &[ProcessInfo]) -> Self {
        let mut counts = Self::default();
        for process in processes {
            match process.state {
                'R' => counts.running += 1,
                'T' | 't' => counts.stopped += 1,
                'Z' | 'X' => counts.zombie += 1,
                _ => counts.sleeping += 1,
            }
            counts.total += 1;
        }
        counts
    }
}

/// All processes of the host at one moment, with their state counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub processes: Vec<ProcessInfo>,
    pub counts: TaskCounts,
}

/// The word `/proc/<pid>/status` shows for a state letter (the table of
/// fs/proc/array.c), or None for a letter this kernel generation lacks.
pub fn state_word(state: char) -> Option<&'static str> {
    Some(match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'X' => "dead",
        'Z' => "zombie",
        'P' => "parked",
        'I' => "idle",
        _ => return None,
    })
}
