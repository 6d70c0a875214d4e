//! The phases of a run (warm-up, measure, after) and the measure window each process files its
//! samples by.

use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Serialize};

/// Which phase of a run a case belongs to, decided by when the case was *meant* to be sent (its
/// intended time, else its acceptance), never by when a sample happens to be recorded or read:
/// a warm-up case still in flight when the measure phase begins stays a warm-up case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Measure,
    /// Intended after the measure phase ended (only late traffic; the generator stops at the end).
    After,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Self::Warmup, Self::Measure, Self::After];

    pub(super) fn index(self) -> usize {
        match self {
            Self::Warmup => 0,
            Self::Measure => 1,
            Self::After => 2,
        }
    }
}

/// The measure window as wall-clock nanoseconds, `[measure_start_ns, measure_end_ns)`: what the
/// runner posts to `/phases` of every process before the load starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseBounds {
    pub measure_start_ns: i64,
    pub measure_end_ns: i64,
}

/// The measure window of one process, shared by all its histograms. Until the runner sets it,
/// everything counts as measured (a process used on its own has no warm-up).
#[derive(Debug)]
pub struct PhaseWindow {
    start: AtomicI64,
    end: AtomicI64,
}

impl Default for PhaseWindow {
    fn default() -> Self {
        Self {
            start: AtomicI64::new(i64::MIN),
            end: AtomicI64::new(i64::MAX),
        }
    }
}

impl PhaseWindow {
    pub fn set(&self, bounds: PhaseBounds) {
        self.start.store(bounds.measure_start_ns, Ordering::Relaxed);
        self.end.store(bounds.measure_end_ns, Ordering::Relaxed);
    }

    /// The phase of a case whose latency origin (intended or accepted time) is `origin_ns`.
    pub fn phase_of(&self, origin_ns: i64) -> Phase {
        if origin_ns < self.start.load(Ordering::Relaxed) {
            Phase::Warmup
        } else if origin_ns < self.end.load(Ordering::Relaxed) {
            Phase::Measure
        } else {
            Phase::After
        }
    }
}
