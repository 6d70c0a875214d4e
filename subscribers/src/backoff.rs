//! Waiting between retries, and how a source goes through a lost connection.
//!
//! Every retry in the subscribers waits 100 ms after the first failure, doubling after each
//! further consecutive one up to 5 s: long enough not to spin on a broker or store that is down,
//! short enough to resume within seconds once it is back.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::metrics::Counter;
use brokerbench_common::settings::Middleware;

use crate::{Health, SubscriberMetrics};

/// The wait after the first failure.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The wait after the `n`th consecutive failure (1-based; 0 counts as the first).
pub fn delay_after(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

/// Consecutive failures of one thing (a store, a connection), and the wait each calls for.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Counts one more failure and returns how long to wait before the next try.
    pub fn fail(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        delay_after(self.failures)
    }

    /// A success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Whether the last attempt failed.
    pub fn failing(&self) -> bool {
        self.failures > 0
    }
}

/// A source's way through a lost connection: the loss is logged and counted once (not every
/// failed attempt to restore it, which would flood the log during a long outage), `/healthz`
/// says the source is reconnecting with the latest error, and attempts are spaced by [`Backoff`].
pub(crate) struct Reconnector {
    middleware: Middleware,
    reconnects: Arc<Counter>,
    health: Arc<Health>,
    backoff: Backoff,
}

impl Reconnector {
    pub(crate) fn new(
        middleware: Middleware,
        metrics: &SubscriberMetrics,
        health: Arc<Health>,
    ) -> Self {
        Self {
            middleware,
            reconnects: metrics.reconnects.clone(),
            health,
            backoff: Backoff::default(),
        }
    }

    /// Records a failure of the connection (or of an attempt to restore it) and waits before the
    /// next attempt. Returns `false` if `shutdown` completed first.
    pub(crate) async fn failed(
        &mut self,
        error: &(dyn Display + Sync),
        shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let middleware = self.middleware;
        if self.backoff.failing() {
            tracing::debug!(%error, "{middleware}: still reconnecting");
        } else {
            tracing::warn!(%error, "{middleware}: connection lost; reconnecting");
            self.reconnects.add(1);
        }
        self.health.source_reconnecting(error);
        let wait = self.backoff.fail();
        tokio::select! {
            () = shutdown => false,
            () = tokio::time::sleep(wait) => true,
        }
    }

    /// What a source that retries a failed read in place does with `read`: takes what it read
    /// (the source consumes again), or counts the failure in `errors` and waits before the next
    /// try ([`Settled::Retry`]), or stops once `shutdown` completed first.
    pub(crate) async fn settle<T, E: Display + Sync>(
        &mut self,
        read: Result<T, E>,
        errors: &Counter,
        shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Settled<T> {
        match read {
            Ok(value) => {
                self.recovered();
                Settled::Read(value)
            }
            Err(e) => {
                errors.add(1);
                if self.failed(&e, shutdown).await {
                    Settled::Retry
                } else {
                    Settled::Stop
                }
            }
        }
    }

    /// The source consumes again.
    pub(crate) fn recovered(&mut self) {
        if self.backoff.failing() {
            tracing::info!("{}: reconnected", self.middleware);
            self.backoff.reset();
            self.health.source_ok();
        }
    }

    /// Every source's way back after it was lost with `why`: wait (backing off), try `restore`,
    /// again until it succeeds. The restored value, or `None` if `shutdown` completed first.
    pub(crate) async fn restore<T, E: Display, F: Future<Output = Result<T, E>>>(
        &mut self,
        why: impl Display,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
        mut restore: impl FnMut() -> F,
    ) -> Option<T> {
        let mut why = why.to_string();
        loop {
            if !self.failed(&why, shutdown.as_mut()).await {
                return None;
            }
            match restore().await {
                Ok(restored) => {
                    self.recovered();
                    return Some(restored);
                }
                Err(e) => why = e.to_string(),
            }
        }
    }
}

/// What became of one read (see [`Reconnector::settle`]).
pub(crate) enum Settled<T> {
    Read(T),
    /// It failed and the wait before the next try is over.
    Retry,
    /// Shut down while waiting.
    Stop,
}

/// Why a source stopped consuming.
pub(crate) enum Stop {
    /// Shut down, or the sink is gone: the source is done.
    Done,
    /// The connection, subscription or stream failed or ended: restore it.
    Lost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_100_ms_up_to_5_s() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| backoff.fail().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        backoff.reset();
        assert!(!backoff.failing());
        assert_eq!(backoff.fail(), Duration::from_millis(100));
    }

    #[test]
    fn delay_after_never_overflows() {
        assert_eq!(delay_after(0), FIRST_DELAY);
        assert_eq!(delay_after(1), FIRST_DELAY);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }
}
