//! Which stage limited a path, as `summary.json` records it (the rules that decide it are in
//! `analysis::attribution`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Store,
    Broker,
    Ingress,
    Generator,
    /// The subscriber took cases no faster than it did, with the store not to blame: its window
    /// was full, or cases the broker had delivered waited in its client.
    Subscriber,
    HostCpu,
    /// Behind, but no backlog grew and the host was not busy enough to blame: said, not guessed.
    Unexplained,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Broker => "broker",
            Self::Ingress => "ingress",
            Self::Generator => "generator",
            Self::Subscriber => "subscriber",
            Self::HostCpu => "host CPU",
            Self::Unexplained => "unexplained",
        }
    }
}

/// Cases waiting at each stage at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// Requests due but not yet on a connection (every connection busy), in cases.
    pub client_queue: f64,
    /// Requests inside the ingress (received, not yet answered), in cases.
    pub ingress_in_flight: f64,
    /// Published, not yet received by the subscriber: the broker's queue and in-flight.
    pub broker: f64,
    /// Of `broker`, what the broker itself counted as ready and not yet delivered (see
    /// `brokerbench_common::middleware::depth`); `None` where it was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_ready: Option<f64>,
    /// Received, not yet stored: the sink's batches and writes.
    pub sink: f64,
}

/// The verdict on one path run, with what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    /// `None`: the path kept up with the offered rate.
    pub limited_by: Option<Stage>,
    /// Why, in words, with the figures.
    pub evidence: String,
    /// Growth of each backlog over the measure phase, cases per second (least squares).
    pub growth_per_s: Backlog,
    /// Share of the measure phase the sink's writers spent writing (none with `--sink none`).
    pub store_busy: Option<f64>,
}
