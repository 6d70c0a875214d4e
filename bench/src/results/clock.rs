//! How far a component's clock was from the runner's, as `summary.json` records it (estimated
//! by `run::clocks`).

use serde::{Deserialize, Serialize};

use super::role::Role;

/// e2e is not ranked when the clocks it spans may be off by more than this share of its p50.
pub const RANKABLE_SHARE_OF_E2E_P50: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentClock {
    pub role: Role,
    /// The component's clock minus the runner's, µs (positive: it reads ahead).
    pub offset_us: f64,
    /// Half the round trip of the probe the estimate rests on, µs: the true offset lies within
    /// `offset_us` ± this.
    pub uncertainty_us: f64,
}

impl ComponentClock {
    /// Whether the run corrected the component's latencies by this offset: only when it is
    /// measurably there (beyond its uncertainty; on one host the estimate is a few µs either side
    /// of 0, and correcting by it would add error, not remove it).
    pub fn corrected(&self) -> bool {
        self.offset_us.abs() > self.uncertainty_us
    }

    /// What the run took off the latencies that end on this clock, µs.
    pub fn correction_us(&self) -> f64 {
        if self.corrected() {
            self.offset_us
        } else {
            0.0
        }
    }

    /// The most this clock can still be off the runner's once corrected, µs: a bound, not a
    /// measurement. Corrected, the true offset lies within the uncertainty of the correction;
    /// uncorrected, within the uncertainty of the estimate, which is beside 0.
    pub fn bound_us(&self) -> f64 {
        if self.corrected() {
            self.uncertainty_us
        } else {
            self.offset_us.abs() + self.uncertainty_us
        }
    }
}

/// The most a path's e2e can be off because of its clocks, µs: e2e starts at the intended send
/// time, on the runner's clock (Locust's users stamp it too), and ends at the subscriber's write,
/// on the subscriber's, corrected by its offset where it had one. `None` without the subscriber's
/// clock.
pub fn e2e_bound_us(clocks: &[ComponentClock]) -> Option<f64> {
    clocks
        .iter()
        .find(|c| matches!(c.role, Role::Subscriber(_)))
        .map(ComponentClock::bound_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_common::settings::Middleware;

    fn clock(role: Role, offset_us: f64, uncertainty_us: f64) -> ComponentClock {
        ComponentClock {
            role,
            offset_us,
            uncertainty_us,
        }
    }

    #[test]
    fn the_e2e_bound_is_the_subscribers_clock_against_the_runners() {
        let subscriber = clock(Role::Subscriber(Middleware::Nats), -30.0, 40.0);
        let ingress = clock(Role::Ingress, 500.0, 60.0);
        assert_eq!(e2e_bound_us(&[ingress, subscriber]), Some(70.0));
        assert_eq!(e2e_bound_us(&[ingress]), None);
    }

    #[test]
    fn only_an_offset_beyond_its_uncertainty_is_corrected_and_then_bounded_by_it() {
        let ahead = clock(Role::Subscriber(Middleware::Nats), 50_000.0, 40.0);
        assert!(ahead.corrected());
        assert_eq!((ahead.correction_us(), ahead.bound_us()), (50_000.0, 40.0));
        let beside_zero = clock(Role::Ingress, -12.0, 40.0);
        assert!(!beside_zero.corrected());
        assert_eq!(
            (beside_zero.correction_us(), beside_zero.bound_us()),
            (0.0, 52.0)
        );
    }
}
