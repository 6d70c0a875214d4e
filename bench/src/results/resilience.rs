//! What a fault did to a path, as `summary.json` records it (`analysis::resilience` measures it).

use serde::{Deserialize, Serialize};

use super::faults::FaultRecord;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resilience {
    pub fault: FaultRecord,
    /// Attempts answered with an error from the fault's start until the first 2xx after its
    /// end, by class (re-sends included: one request may fail more than once).
    pub failed_4xx: u64,
    pub failed_5xx: u64,
    pub failed_transport: u64,
    /// The slowest attempt answered in that window, seconds: bounded by the timeouts when
    /// nothing hangs.
    pub slowest_answer_s: Option<f64>,
    /// Fault end → the first 2xx answer after it, seconds.
    pub first_accept_after_s: Option<f64>,
    /// Attempts answered 2xx while the fault lasted: a path that kept accepting through it
    /// (e.g. a cluster that elected a new leader while the old one was down).
    #[serde(default)]
    pub accepted_during: u64,
    /// The longest stretch without a 2xx answer from the fault's start to the first 2xx after
    /// its end, seconds: how long the clients saw the path accept nothing (for a killed leader,
    /// its election as the clients see it); none if it never accepted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_s: Option<f64>,
    /// Fault end → the first second whose stored rate was back within 10 % of offered, during
    /// the load; none if it never was.
    pub stored_recovered_after_s: Option<f64>,
    /// End-to-end p99 of the cases stored before, during and after the fault (µs).
    pub e2e_p99_before_us: Option<u64>,
    pub e2e_p99_during_us: Option<u64>,
    pub e2e_p99_after_us: Option<u64>,
}
