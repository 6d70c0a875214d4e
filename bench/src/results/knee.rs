//! Where a path stops keeping up, as its own sweep measured it: the highest offered rate every
//! repeat kept up with and the lowest above it that did not. The sustainable rate lies between
//! the two; the stage ceilings, each measured alone with the machine to itself, only bound it.

use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knee {
    pub middleware: Middleware,
    /// Highest offered rate every repeat of its step kept up with; none when not even the
    /// sweep's first rate was.
    pub kept_up_per_s: Option<f64>,
    /// End-to-end p50 and p99 at that rate (µs, the worst repeat's).
    #[serde(default)]
    pub e2e_p50_us: Option<u64>,
    #[serde(default)]
    pub e2e_p99_us: Option<u64>,
    /// Lowest offered rate above it at which a repeat fell behind; none when the path kept up
    /// to the top of the sweep.
    pub failed_per_s: Option<f64>,
    /// What limited the failed step (the stage, or the accounting problem).
    #[serde(default)]
    pub failed_because: Option<String>,
}
