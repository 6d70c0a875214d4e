//! The answers a run opens with, as `summary.json` records them (`analysis::verdict` gives them).

use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub question: String,
    /// Paths best first, with their median figure.
    pub ranking: Vec<(Middleware, f64)>,
    pub unit: String,
    /// The answer in words.
    pub text: String,
}
