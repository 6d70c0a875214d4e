//! The built-in open-loop load generator.
//!
//! Requests are due at fixed intended times derived from the rate, whether or not earlier ones
//! have come back, so a stalled system cannot slow the generator down and hide its own stall
//! (coordinated omission). Each request carries its intended time in `x-intended-send-ns`;
//! latency is recorded both from the intended time (corrected) and from the actual send
//! (uncorrected), so the report can show what the correction changes.
//!
//! The instrument's own error is measured, not assumed: a dedicated thread wakes for each due
//! time (an OS sleep to ~200 µs before it, then a spin, because tokio's timer rounds up to whole
//! milliseconds), and every request records its lateness, dispatched − intended. Only 2xx
//! answers enter the success histograms; error answers, transport errors and requests still
//! unanswered at the deadline go to `http_errors`, the unanswered ones as at least as long as
//! they waited, so nothing slow disappears from the record.
//!
//! Every request carries an `Idempotency-Key` (`<key_prefix>-<request number>`), so the ingress
//! derives its case ids from the key: the generator knows every accepted id without reading the
//! answers (the runner checks them against the store), and a request answered 502, 503, 504 or
//! not at all is re-sent under the same key, up to `retries` times, without storing a case twice.
//! The final answer of each request is counted once (`http_*`); each re-send also counts the
//! failure it retried (`retried_5xx`, `retried_transport`) and `retries`.

use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::casegen::CaseGenerator;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use super::load_stats::LoadStats;
use super::load_stats::request_key;
use crate::analysis::tick::AnswerLog;
use crate::ingress::IDEMPOTENCY_KEY_HEADER;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URLs of the ingresses, e.g. `http://127.0.0.1:8080`: request n goes to the
    /// (n mod count)-th, its re-sends too (each ingress keeps its own Idempotency-Key ledger).
    pub urls: Vec<String>,
    /// Offered load in cases per second.
    pub rate: f64,
    pub cases_per_request: usize,
    /// Keep-alive connections (and so requests in flight at most).
    pub connections: usize,
    pub seed: u64,
    /// Prefix of every request's `Idempotency-Key`: unique per run and repeat.
    pub key_prefix: String,
    /// Re-sends of a request answered 502/503/504 or not at all, after `Retry-After` (else
    /// 500 ms) doubling per attempt.
    pub retries: u32,
}

impl LoadConfig {
    /// Requests per second: the rate in cases over the cases each request carries.
    pub fn request_rate(&self) -> f64 {
        self.rate.max(0.001) / self.cases_per_request.max(1) as f64
    }
}

/// When the load runs: from `start` (whose wall-clock time is `wall_start_ns`) for `span`, then
/// at most `answer_deadline` more for the last answers.
#[derive(Debug, Clone, Copy)]
pub struct LoadWindow {
    pub start: Instant,
    pub wall_start_ns: i64,
    pub span: Duration,
    pub answer_deadline: Duration,
}

/// How a request ended, once its retries are spent.
enum Answer {
    Status(u16),
    Transport,
}

impl Answer {
    /// Worth sending again under the same key: the ingress or its middleware was away.
    fn retryable(&self) -> bool {
        matches!(self, Self::Transport | Self::Status(502..=504))
    }
}

/// The intended send offsets from the start at `per_second` requests a second, below `span`.
/// Request i is due at exactly i / `per_second` (rounded to the ns, never accumulated), so the
/// schedule never drifts and a span holds rate × span requests even when 1/rate has no exact
/// binary form.
pub fn schedule(per_second: f64, span: Duration) -> impl Iterator<Item = Duration> {
    let interval_ns = 1e9 / per_second;
    (0u64..)
        .map(move |i| Duration::from_nanos((i as f64 * interval_ns).round() as u64))
        .take_while(move |t| *t < span)
}

/// Offers load over `window`, then waits (until the answer deadline) for answers in flight.
pub async fn generate(config: LoadConfig, stats: Arc<LoadStats>, window: LoadWindow) {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(config.connections)
        // Below the servers' default header deadline (10 s), which closes idle connections: a
        // connection the server is closing is never picked for a request.
        .pool_idle_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .timeout(window.answer_deadline)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client");
            return;
        }
    };
    let Some(mut due) = start_schedule(config.request_rate(), &window) else {
        return;
    };
    let sender = Sender {
        client,
        urls: (config.urls.iter())
            .map(|u| format!("{}/cases", u.trim_end_matches('/')))
            .collect(),
        connections: Arc::new(Semaphore::new(config.connections.max(1))),
        retries: config.retries,
        stats,
    };
    let mut cases = CaseGenerator::new(config.seed);
    let mut in_flight = JoinSet::new();
    let mut number = 0u64;
    while let Some(offset) = due.recv().await {
        let request = Request {
            number,
            key: request_key(&config.key_prefix, number),
            intended: window.start + offset,
            intended_ns: window.wall_start_ns
                + i64::try_from(offset.as_nanos()).unwrap_or(i64::MAX),
            body: bytes::Bytes::from(cases.next_body(config.cases_per_request)),
        };
        number += 1;
        sender.stats.sent_requests.add(1);
        sender.stats.sent_cases.add(config.cases_per_request as u64);
        in_flight.spawn(sender.clone().send(request));
        while in_flight.try_join_next().is_some() {}
    }
    let deadline = Instant::now() + window.answer_deadline;
    let _ = tokio::time::timeout_at(deadline, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    in_flight.shutdown().await;
}

/// Starts the thread that keeps the schedule: it hands each intended send offset over when it
/// falls due ([`crate::precise::wait_until`]: a coarse sleep, then a spin to within a few µs).
fn start_schedule(
    per_second: f64,
    window: &LoadWindow,
) -> Option<mpsc::UnboundedReceiver<Duration>> {
    let (due_tx, due) = mpsc::unbounded_channel::<Duration>();
    let (span, std_start) = (window.span, window.start.into_std());
    let timer = std::thread::Builder::new()
        .name("bb-schedule".into())
        .spawn(move || {
            for offset in schedule(per_second, span) {
                crate::precise::wait_until(std_start + offset);
                if due_tx.send(offset).is_err() {
                    return;
                }
            }
        });
    match timer {
        Ok(_) => Some(due),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the schedule thread");
            None
        }
    }
}

/// What every request's task shares: the client, the connection limit and the record.
#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    /// Never empty.
    urls: Arc<[String]>,
    connections: Arc<Semaphore>,
    retries: u32,
    stats: Arc<LoadStats>,
}

impl Sender {
    /// Sends one request (with its retries) and records how and when it was answered.
    async fn send(self, request: Request) {
        let (stats, intended, intended_ns) = (&self.stats, request.intended, request.intended_ns);
        stats
            .lateness
            .record_us(intended_ns, micros(Instant::now() - intended));
        let mut pending = Unanswered {
            stats: stats.clone(),
            intended,
            intended_ns,
            armed: true,
        };
        let ingress = usize::try_from(request.number).unwrap_or(0) % self.urls.len().max(1);
        let (answer, sent) = send_with_retries(
            &self.client,
            &self.urls[ingress],
            &request,
            &self.connections,
            stats,
            self.retries,
        )
        .await;
        let done = Instant::now();
        pending.armed = false;
        match answer {
            Answer::Status(200..=299) => {
                stats.http_2xx.add(1);
                if let Ok(mut accepted) = stats.accepted_requests.lock() {
                    accepted.push((request.number, intended_ns));
                }
                stats
                    .corrected
                    .record_us(intended_ns, micros(done - intended));
                stats
                    .uncorrected
                    .record_us(intended_ns, micros(done - sent));
                return;
            }
            Answer::Status(400..=499) => stats.http_4xx.add(1),
            Answer::Status(_) => stats.http_5xx.add(1),
            Answer::Transport => stats.transport_errors.add(1),
        }
        stats.errors.record_us(intended_ns, micros(done - intended));
    }
}

/// One request of the schedule: sent, and re-sent, under its own key.
struct Request {
    number: u64,
    key: String,
    intended: Instant,
    intended_ns: i64,
    body: bytes::Bytes,
}

/// Sends `request` (holding one of the `connections` per attempt, none while waiting to retry)
/// until it gets an answer that is not worth retrying or `retries` re-sends are spent; returns the
/// last answer and when its attempt was sent.
async fn send_with_retries(
    client: &reqwest::Client,
    url: &str,
    request: &Request,
    connections: &Arc<Semaphore>,
    stats: &LoadStats,
    retries: u32,
) -> (Answer, Instant) {
    let mut attempt = 0;
    loop {
        let Ok(connection) = connections.clone().acquire_owned().await else {
            return (Answer::Transport, Instant::now());
        };
        let sent = Instant::now();
        let outcome = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-intended-send-ns", request.intended_ns.to_string())
            .header(IDEMPOTENCY_KEY_HEADER, &request.key)
            .body(request.body.clone())
            .send()
            .await;
        let (answer, retry_after) = match outcome {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let code = response.status().as_u16();
                let _ = response.bytes().await;
                (Answer::Status(code), retry_after)
            }
            Err(_) => (Answer::Transport, None),
        };
        drop(connection);
        if let Ok(mut log) = stats.answers.lock() {
            log.push(AnswerLog {
                at_ns: brokerbench_common::envelope::now_ns(),
                took_us: micros(sent.elapsed()),
                status: match answer {
                    Answer::Status(code) => code,
                    Answer::Transport => 0,
                },
            });
        }
        if attempt == retries || !answer.retryable() {
            return (answer, sent);
        }
        match answer {
            Answer::Transport => stats.retried_transport.add(1),
            Answer::Status(_) => stats.retried_5xx.add(1),
        }
        stats.retries.add(1);
        let wait = retry_after.unwrap_or(FIRST_RETRY_WAIT) * 2u32.pow(attempt.min(4));
        tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
        attempt += 1;
    }
}

/// Wait before the first re-send when the answer gave no `Retry-After`.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);
/// Longest wait before a re-send.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// A request in flight: dropped before its answer (the deadline passed and the task was
/// aborted), it is counted as unanswered and recorded as taking at least as long as it waited.
struct Unanswered {
    stats: Arc<LoadStats>,
    intended: Instant,
    intended_ns: i64,
    armed: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.armed {
            self.stats.unanswered.add(1);
            self.stats
                .errors
                .record_us(self.intended_ns, micros(Instant::now() - self.intended));
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "loadgen_tests.rs"]
mod tests;
