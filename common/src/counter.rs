//! The counters brokerbench's processes keep, by name: one enum shared by the processes that
//! count and the runner that reads `/stats`, like [`crate::latency::LatencyMetric`], so a misspelt
//! name is a compile error instead of a counter that silently reads 0.

use std::fmt;

use crate::latency::Recorder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CounterMetric {
    // The runner's load generator.
    SentRequests,
    SentCases,
    Http2xx,
    Http4xx,
    Http5xx,
    TransportErrors,
    /// Requests with no answer by the deadline.
    Unanswered,
    /// Re-sends (a request re-sent twice counts 2).
    Retries,
    Retried5xx,
    RetriedTransport,
    // The ingress.
    Requests,
    /// Cases answered 202.
    Accepted,
    /// Requests turned away with 503 because too many cases were in flight.
    Saturated,
    Responses2xx,
    Responses4xx,
    Responses5xx,
    /// Per path: cases the middleware acknowledged.
    Published,
    /// Per path: publishes that failed or timed out.
    PublishErrors,
    // A subscriber, per path.
    Received,
    Stored,
    /// Redeliveries found already stored.
    Duplicates,
    Errors,
    Reconnects,
    DeadLettered,
    /// Envelopes that decoded but could not have come from the ingress (no UUID id, no case, a
    /// case that breaks its rules): set aside in the dead letters, never stored as cases.
    Invalid,
    /// Microseconds the sink's writers spent writing (summed over writers).
    StoreBusyUs,
}

impl CounterMetric {
    /// The name in `/stats` and (as `brokerbench_<component>_<name>_total`) in Prometheus.
    pub fn key(self) -> &'static str {
        match self {
            Self::SentRequests => "sent_requests",
            Self::SentCases => "sent_cases",
            Self::Http2xx => "http_2xx",
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::TransportErrors => "transport_errors",
            Self::Unanswered => "unanswered",
            Self::Retries => "retries",
            Self::Retried5xx => "retried_5xx",
            Self::RetriedTransport => "retried_transport",
            Self::Requests => "requests",
            Self::Accepted => "accepted",
            Self::Saturated => "saturated",
            Self::Responses2xx => "responses_2xx",
            Self::Responses4xx => "responses_4xx",
            Self::Responses5xx => "responses_5xx",
            Self::Published => "published",
            Self::PublishErrors => "publish_errors",
            Self::Received => "received",
            Self::Stored => "stored",
            Self::Duplicates => "duplicates",
            Self::Errors => "errors",
            Self::Reconnects => "reconnects",
            Self::DeadLettered => "dead_lettered",
            Self::Invalid => "invalid",
            Self::StoreBusyUs => "store_busy_us",
        }
    }

    /// Which process keeps it.
    pub fn recorder(self) -> Recorder {
        match self {
            Self::SentRequests
            | Self::SentCases
            | Self::Http2xx
            | Self::Http4xx
            | Self::Http5xx
            | Self::TransportErrors
            | Self::Unanswered
            | Self::Retries
            | Self::Retried5xx
            | Self::RetriedTransport => Recorder::Generator,
            Self::Requests
            | Self::Accepted
            | Self::Saturated
            | Self::Responses2xx
            | Self::Responses4xx
            | Self::Responses5xx
            | Self::Published
            | Self::PublishErrors => Recorder::Ingress,
            Self::Received
            | Self::Stored
            | Self::Duplicates
            | Self::Errors
            | Self::Reconnects
            | Self::DeadLettered
            | Self::Invalid
            | Self::StoreBusyUs => Recorder::Subscriber,
        }
    }
}

impl fmt::Display for CounterMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
