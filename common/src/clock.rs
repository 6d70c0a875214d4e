//! The wall clock every stamp on a case is read from (the generator's intended send time, the
//! ingress's acceptance, the subscriber's receipt and write), and the reading another process
//! asks for (`GET /clock`) to tell how far this process's clock is from its own.
//!
//! e2e and delivery latency subtract the stamps of two processes. On one host they read one
//! clock; on several, the offset between their clocks enters every such figure, so the runner
//! checks it instead of assuming it is zero.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Diagnostic: how far this process's clock reads from the host's (see
/// [`set_diagnostic_offset_ns`]).
static DIAGNOSTIC_OFFSET_NS: AtomicI64 = AtomicI64::new(0);

/// Nanoseconds since the Unix epoch by this process's wall clock.
pub fn now_ns() -> i64 {
    let host = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    host.saturating_add(DIAGNOSTIC_OFFSET_NS.load(Ordering::Relaxed))
}

/// Diagnostic: makes every later [`now_ns`] of this process read `offset_ns` ahead of the host's
/// clock, as a process on a host with a wrong clock would; a test proves with it that the
/// runner's estimate finds such an offset. Process-wide, so it is set where a process starts.
pub fn set_diagnostic_offset_ns(offset_ns: i64) {
    DIAGNOSTIC_OFFSET_NS.store(offset_ns, Ordering::Relaxed);
}

/// What `GET /clock` answers: the process's clock when it read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockReading {
    pub now_ns: i64,
}

impl ClockReading {
    pub fn now() -> Self {
        Self { now_ns: now_ns() }
    }
}
