//! What the built-in generator saw: its counters and histograms (one `Registry`, snapshotted by
//! the sampler every second), the requests answered 2xx and every attempt's answer.

use std::sync::Arc;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::idempotent_id;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::{Counter, Latency, PhaseWindow, Registry, Stats};

use crate::analysis::tick::AnswerLog;

/// What the generator saw, shared with the sampler that snapshots it every second. Histograms
/// are filed by the phase of each request's intended time, like every other component's.
#[derive(Debug)]
pub struct LoadStats {
    registry: Registry,
    pub sent_requests: Arc<Counter>,
    pub sent_cases: Arc<Counter>,
    pub http_2xx: Arc<Counter>,
    pub http_4xx: Arc<Counter>,
    pub http_5xx: Arc<Counter>,
    pub transport_errors: Arc<Counter>,
    /// Requests with no answer by the deadline (recorded in `http_errors` as at least that long).
    pub unanswered: Arc<Counter>,
    /// 2xx only: intended → answered.
    pub corrected: Arc<Latency>,
    /// 2xx only: sent → answered.
    pub uncorrected: Arc<Latency>,
    /// Everything that was not a 2xx: intended → answered, failed or given up on.
    pub errors: Arc<Latency>,
    /// intended → dispatched: the generator's own error.
    pub lateness: Arc<Latency>,
    /// Re-sends (a request re-sent twice counts 2).
    pub retries: Arc<Counter>,
    /// Failed attempts that were re-sent, by class (the final answer is in `http_*`).
    pub retried_5xx: Arc<Counter>,
    pub retried_transport: Arc<Counter>,
    /// The requests answered 2xx, by number and intended send time (ns since the Unix epoch):
    /// their case ids are `idempotent_id("<key_prefix>-<n>", i)`.
    pub(super) accepted_requests: std::sync::Mutex<Vec<(u64, i64)>>,
    /// Every attempt's answer, in the order they came: what a fault's window is read from.
    pub(super) answers: std::sync::Mutex<Vec<AnswerLog>>,
}

impl Default for LoadStats {
    fn default() -> Self {
        let registry = Registry::new("generator");
        Self {
            sent_requests: registry.counter(CounterMetric::SentRequests, None),
            sent_cases: registry.counter(CounterMetric::SentCases, None),
            http_2xx: registry.counter(CounterMetric::Http2xx, None),
            http_4xx: registry.counter(CounterMetric::Http4xx, None),
            http_5xx: registry.counter(CounterMetric::Http5xx, None),
            transport_errors: registry.counter(CounterMetric::TransportErrors, None),
            unanswered: registry.counter(CounterMetric::Unanswered, None),
            corrected: registry.latency(LatencyMetric::HttpCorrected, None),
            uncorrected: registry.latency(LatencyMetric::HttpUncorrected, None),
            errors: registry.latency(LatencyMetric::HttpErrors, None),
            lateness: registry.latency(LatencyMetric::GeneratorLateness, None),
            retries: registry.counter(CounterMetric::Retries, None),
            retried_5xx: registry.counter(CounterMetric::Retried5xx, None),
            retried_transport: registry.counter(CounterMetric::RetriedTransport, None),
            accepted_requests: Default::default(),
            answers: Default::default(),
            registry,
        }
    }
}

impl LoadStats {
    /// The generator's measure window (set before the load starts, like the processes').
    pub fn window(&self) -> &Arc<PhaseWindow> {
        self.registry.window()
    }

    pub fn stats(&self) -> Stats {
        self.registry.stats()
    }

    /// Every attempt's answer so far.
    pub fn answer_log(&self) -> Vec<AnswerLog> {
        self.answers.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The case ids of every request answered 2xx so far.
    pub fn accepted_ids(&self, key_prefix: &str, cases_per_request: usize) -> Vec<String> {
        self.accepted_cases(key_prefix, cases_per_request)
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    /// Every case of every request answered 2xx so far, with its request's intended send time.
    pub fn accepted_cases(&self, key_prefix: &str, cases_per_request: usize) -> Vec<AcceptedCase> {
        let requests = self
            .accepted_requests
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        requests
            .iter()
            .flat_map(|&(n, intended_ns)| {
                let key = request_key(key_prefix, n);
                (0..cases_per_request).map(move |i| AcceptedCase {
                    id: idempotent_id(&key, i),
                    intended_ns,
                })
            })
            .collect()
    }
}

/// A case the ingress accepted, and when its request was meant to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedCase {
    pub id: String,
    /// ns since the Unix epoch: where its end-to-end latency starts.
    pub intended_ns: i64,
}

pub(super) fn request_key(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n}")
}
