//! Loss counted case by case, as `summary.json` records it (`run::loss` counts it).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossById {
    /// Cases answered 2xx (whole run).
    pub accepted: u64,
    /// Accepted ids found in the path's collection.
    pub stored: u64,
    /// Accepted ids in neither the collection nor the dead letters: lost after a 2xx.
    pub lost: u64,
    /// The first lost ids (at most 20).
    pub lost_ids: Vec<String>,
    /// Accepted ids in `dead_<path>`: refused by the store up to the delivery limit.
    pub dead_lettered: u64,
    /// Ids in the collection that were never answered 2xx (a request that timed out or failed
    /// after the middleware took it, never retried to success).
    pub unexpected: u64,
    pub unexpected_ids: Vec<String>,
    /// Redeliveries found already stored, as the subscriber counted them (a restarted
    /// subscriber counts from zero, so this is a lower bound when one was killed).
    pub duplicates: u64,
}

/// Every case accepted in the measure phase, in the end-to-end latency's terms: the stored ones
/// at their e2e, the ones still unstored when the drain ended at how long they had waited by
/// then (their e2e is at least that), the dead-lettered ones counted beside (they have no e2e).
/// Without it the e2e figures describe only the survivors, and the slowest cases are the ones
/// that never made it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E2eCensus {
    /// Cases with an e2e sample.
    pub stored: u64,
    /// Accepted, neither stored nor dead-lettered when the drain ended (lost or late).
    pub unstored: u64,
    /// The shortest of their waits, µs: any census value from here up may be a lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unstored_min_wait_us: Option<u64>,
    pub dead_lettered: u64,
    pub p50: CensusValue,
    pub p99: CensusValue,
    pub p999: CensusValue,
}

/// A percentile of the census, µs; `at_least` when an unstored case may sit at it, so the true
/// value can only be higher ("≥ X").
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CensusValue {
    pub us: u64,
    pub at_least: bool,
}

impl CensusValue {
    /// In milliseconds, with "≥ " when censored.
    pub fn ms(self) -> String {
        let value = format!("{:.2}", self.us as f64 / 1000.0);
        if self.at_least {
            format!("≥ {value}")
        } else {
            value
        }
    }
}
