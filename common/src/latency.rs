//! The latency metrics brokerbench records, by name: one enum instead of strings, so that a run,
//! its summary, the report, compare and sweep cannot disagree on what a metric is called or means.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who records a metric: which process's `/stats` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// The runner's own load generator.
    Generator,
    /// The ingress, per path.
    Ingress,
    /// The path's subscriber.
    Subscriber,
}

/// Every metric is in microseconds and holds exactly the cases (or requests) whose intended send
/// time fell in the phase it is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMetric {
    HttpCorrected,
    HttpUncorrected,
    HttpErrors,
    GeneratorLateness,
    Publish,
    PublishErrors,
    Delivery,
    Store,
    E2e,
}

impl LatencyMetric {
    /// In the order reports show them.
    pub const ALL: [Self; 9] = [
        Self::HttpCorrected,
        Self::HttpUncorrected,
        Self::HttpErrors,
        Self::GeneratorLateness,
        Self::Publish,
        Self::PublishErrors,
        Self::Delivery,
        Self::Store,
        Self::E2e,
    ];

    /// The name in `/stats`, `summary.json`, CSV files and tables.
    pub fn key(self) -> &'static str {
        match self {
            Self::HttpCorrected => "http_corrected",
            Self::HttpUncorrected => "http_uncorrected",
            Self::HttpErrors => "http_errors",
            Self::GeneratorLateness => "generator_lateness",
            Self::Publish => "publish",
            Self::PublishErrors => "publish_errors",
            Self::Delivery => "delivery",
            Self::Store => "store",
            Self::E2e => "e2e",
        }
    }

    /// What a person reads for the metric.
    pub fn title(self) -> &'static str {
        match self {
            Self::HttpCorrected => {
                "HTTP request, 2xx only (intended send → answered: corrected for coordinated omission)"
            }
            Self::HttpUncorrected => "HTTP request, 2xx only (actual send → answered)",
            Self::HttpErrors => {
                "HTTP requests without a 2xx (intended send → error answer, transport error, or the deadline for unanswered ones)"
            }
            Self::GeneratorLateness => "the generator's own lateness (intended send → dispatched)",
            Self::Publish => "publish (ingress → middleware acknowledged)",
            Self::PublishErrors => {
                "publishes that failed (ingress → refused, or given up on at the publish timeout)"
            }
            Self::Delivery => "delivery (accepted at the ingress → subscriber received)",
            Self::Store => "store (subscriber received → MongoDB acknowledged the write)",
            Self::E2e => "end to end (intended send → stored in MongoDB)",
        }
    }

    /// The unit every value of the metric is recorded in.
    pub fn unit(self) -> &'static str {
        "µs"
    }

    pub fn recorder(self) -> Recorder {
        match self {
            Self::HttpCorrected | Self::HttpUncorrected | Self::HttpErrors => Recorder::Generator,
            Self::GeneratorLateness => Recorder::Generator,
            Self::Publish | Self::PublishErrors => Recorder::Ingress,
            Self::Delivery | Self::Store | Self::E2e => Recorder::Subscriber,
        }
    }
}

impl fmt::Display for LatencyMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialized_name_is_the_key() {
        for m in LatencyMetric::ALL {
            let json = serde_json::to_string(&m).expect("serializes");
            assert_eq!(json, format!("\"{}\"", m.key()));
            let back: LatencyMetric = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, m);
        }
    }
}
