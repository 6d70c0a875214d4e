//! What the figures of a run are, computed from what the runner sampled (`tick`): phase totals
//! and accounting, attribution of a limit, calibration of the holds, resilience under a fault,
//! the verdict and the statistics it rests on. Pure functions over samples and results, no I/O,
//! so each rule is unit-tested on synthetic samples.

pub mod attribution;
pub mod calibration;
pub mod census;
pub mod comparison;
pub mod compute;
mod cost;
pub mod resilience;
pub mod significance;
#[cfg(test)]
pub mod synthetic;
pub mod tick;
pub mod verdict;
