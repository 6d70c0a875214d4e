//! What `summary.json` records of a run attached to a pipeline it did not start (`run --target`).

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    /// The target file the run was pointed at.
    pub target: String,
    /// The ingresses' URLs, without credentials.
    pub ingresses: Vec<String>,
    /// Each path's subscriber URL, without credentials.
    pub subscribers: BTreeMap<Middleware, String>,
    /// What the runner could not observe of the pipeline, one sentence each.
    pub not_observed: Vec<String>,
}
