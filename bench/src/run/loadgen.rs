//! The built-in open-loop load generator.
//!
//! Requests are due at fixed intended times derived from the rate, whether or not earlier ones
//! have come back, so a stalled system cannot slow the generator down and hide its own stall
//! (coordinated omission). Each request carries its intended time in `x-intended-send-ns`;
//! latency is recorded both from the intended time (corrected) and from the actual send
//! (uncorrected), so the report can show what the correction changes.

use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::casegen::CaseGenerator;
use brokerbench_common::envelope::now_ns;
use brokerbench_common::metrics::{Counter, Latency};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL of the ingress, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Offered load in cases per second.
    pub rate: f64,
    pub cases_per_request: usize,
    /// Keep-alive connections (and so requests in flight at most).
    pub connections: usize,
    pub seed: u64,
}

impl LoadConfig {
    /// Time between two requests' intended send times.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.cases_per_request.max(1) as f64 / self.rate.max(0.001))
    }
}

/// What the generator saw, shared with the sampler that snapshots it every second.
#[derive(Debug, Default)]
pub struct LoadStats {
    pub sent_requests: Counter,
    pub sent_cases: Counter,
    pub http_2xx: Counter,
    pub http_4xx: Counter,
    pub http_5xx: Counter,
    pub transport_errors: Counter,
    pub corrected: Latency,
    pub uncorrected: Latency,
}

/// The intended send times from `start` (inclusive) to `until` (exclusive), one per `interval`.
/// Computed by multiplication rather than accumulation, so the schedule never drifts.
pub fn schedule(start: Instant, interval: Duration, until: Instant) -> impl Iterator<Item = Instant> {
    (0u32..).map(move |i| start + interval * i).take_while(move |t| *t < until)
}

/// Offers load from `start` until `until`, then waits (at most `grace`) for answers in flight.
pub async fn generate(config: LoadConfig, stats: Arc<LoadStats>, start: Instant, until: Instant, grace: Duration) {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(config.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client");
            return;
        }
    };
    let url = format!("{}/cases", config.url.trim_end_matches('/'));
    let connections = Arc::new(Semaphore::new(config.connections.max(1)));
    let mut cases = CaseGenerator::new(config.seed);
    let wall_start_ns = now_ns() + i64::try_from((start.saturating_duration_since(Instant::now())).as_nanos()).unwrap_or(0);
    let mut in_flight = JoinSet::new();
    for intended in schedule(start, config.interval(), until) {
        tokio::time::sleep_until(intended).await;
        let intended_ns = wall_start_ns + i64::try_from((intended - start).as_nanos()).unwrap_or(0);
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-intended-send-ns", intended_ns.to_string())
            .body(cases.next_body(config.cases_per_request));
        stats.sent_requests.add(1);
        stats.sent_cases.add(config.cases_per_request as u64);
        let (stats, connections) = (stats.clone(), connections.clone());
        in_flight.spawn(async move {
            let Ok(_connection) = connections.acquire_owned().await else { return };
            let sent = Instant::now();
            let outcome = request.send().await;
            let done = Instant::now();
            match outcome {
                Ok(response) => {
                    let counter = match response.status().as_u16() {
                        200..=299 => &stats.http_2xx,
                        400..=499 => &stats.http_4xx,
                        _ => &stats.http_5xx,
                    };
                    counter.add(1);
                    let _ = response.bytes().await;
                }
                Err(_) => stats.transport_errors.add(1),
            }
            stats.corrected.record_us(micros(done - intended));
            stats.uncorrected.record_us(micros(done - sent));
        });
        while in_flight.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(grace, async { while in_flight.join_next().await.is_some() {} }).await;
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn schedule_is_exact_under_a_paused_clock() {
        let config = LoadConfig { url: String::new(), rate: 1_000.0, cases_per_request: 10, connections: 1, seed: 1 };
        assert_eq!(config.interval(), Duration::from_millis(10));
        let start = Instant::now();
        let until = start + Duration::from_secs(2);
        let mut fired = Vec::new();
        for intended in schedule(start, config.interval(), until) {
            tokio::time::sleep_until(intended).await;
            fired.push(Instant::now() - start);
        }
        assert_eq!(fired.len(), 200, "2 s at 100 requests/s");
        for (i, at) in fired.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(10) * i as u32, "request {i} fired off schedule");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_generator_catches_up_instead_of_thinning_load() {
        let start = Instant::now();
        tokio::time::advance(Duration::from_millis(500)).await;
        let due = schedule(start, Duration::from_millis(100), start + Duration::from_secs(1))
            .filter(|t| *t <= Instant::now())
            .count();
        assert_eq!(due, 6, "requests due at 0..=500 ms are all still sent");
    }
}
