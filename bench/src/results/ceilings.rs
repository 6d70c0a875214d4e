//! `ceilings.json`: each stage of the pipeline measured alone (`brokerbench ceilings`).

use brokerbench_common::settings::Middleware;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// A stage of the pipeline measured alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Store,
    Middleware,
    Ingress,
}

impl StageKind {
    pub const ALL: [Self; 3] = [Self::Store, Self::Middleware, Self::Ingress];
}

/// One stage's ceiling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceiling {
    pub stage: StageKind,
    /// The path, for the middleware and ingress stages.
    pub middleware: Option<Middleware>,
    /// Cases per second the stage sustained, saturated.
    pub rate_per_s: f64,
    /// Latency of one operation while saturated (a store batch, a publish, a request), µs.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub seconds: f64,
    /// What limited it, when the measurement can tell (e.g. "consuming: the broker's backlog
    /// grew").
    pub note: String,
}

/// What `ceilings.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceilings {
    /// One envelope on the wire, bytes (what the native tools are given as message size).
    pub message_bytes: usize,
    pub concurrency: usize,
    pub cases_per_request: usize,
    pub sink_writers: u16,
    pub batch_size: usize,
    pub ceilings: Vec<Ceiling>,
}

impl Ceilings {
    /// The ceiling of `stage` (for `m`, except the store's), if it was measured.
    pub fn get(&self, stage: StageKind, m: Middleware) -> Option<&Ceiling> {
        self.ceilings
            .iter()
            .find(|c| c.stage == stage && (stage == StageKind::Store || c.middleware == Some(m)))
    }

    /// The lowest ceiling on path `m`'s way: what the whole pipeline can sustain at most.
    pub fn pipeline(&self, m: Middleware) -> Option<(StageKind, f64)> {
        StageKind::ALL
            .into_iter()
            .filter_map(|s| self.get(s, m).map(|c| (s, c.rate_per_s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}
