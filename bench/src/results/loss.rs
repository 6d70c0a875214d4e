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
