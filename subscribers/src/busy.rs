//! How long the sink's writers were busy, summed over writers (a held batch counts: the hold
//! stands for a slower store).
//!
//! The counter is kept current while a write is under way, not only when it ends: the runner
//! reads it once a second, and a counter that grew only when a write ended read a store held 2 s
//! a batch over an 8 s measure phase as 75 % or 100 % busy depending on where the phase's edges
//! fell between write ends (`a_held_store_is_named_the_limit` failed on it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brokerbench_common::metrics::Counter;

/// How often the time of writes under way is added to the counter.
pub(crate) const ACCRUE_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct BusyClock {
    busy_us: Arc<Counter>,
    state: Mutex<State>,
}

struct State {
    /// Writers writing now.
    writing: u32,
    /// Up to when their time is in the counter.
    accounted_until: Instant,
}

impl BusyClock {
    pub(crate) fn new(busy_us: Arc<Counter>) -> Arc<Self> {
        Arc::new(Self {
            busy_us,
            state: Mutex::new(State {
                writing: 0,
                accounted_until: Instant::now(),
            }),
        })
    }

    /// One writer starts writing; it is busy until the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Writing {
        self.change(1);
        Writing(self.clone())
    }

    /// Adds the time of the writes under way up to now.
    pub(crate) fn accrue(&self) {
        self.change(0);
    }

    fn change(&self, by: i32) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.accounted_until);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.busy_us
            .add(us.saturating_mul(u64::from(state.writing)));
        state.accounted_until = now;
        state.writing = state.writing.saturating_add_signed(by);
    }

    /// Keeps the counter current while writes are under way, until the clock has no other owner.
    pub(crate) async fn keep_current(self: Arc<Self>) {
        let mut every = tokio::time::interval(ACCRUE_EVERY);
        while Arc::strong_count(&self) > 1 {
            every.tick().await;
            self.accrue();
        }
    }
}

/// A writer writing; its time stops counting when this drops.
pub(crate) struct Writing(Arc<BusyClock>);

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.change(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_under_way_counts_before_it_ends_and_stops_counting_when_it_ends() {
        let counter = Arc::new(Counter::default());
        let clock = BusyClock::new(counter.clone());
        let idle = Duration::from_millis(20);
        std::thread::sleep(idle);
        clock.accrue();
        assert_eq!(counter.get(), 0, "no writer: no busy time");
        let writing = clock.begin();
        let second = clock.begin();
        std::thread::sleep(idle);
        clock.accrue();
        let during = counter.get();
        assert!(
            during >= 2 * 20_000,
            "two writers for ≥ 20 ms each: {during} µs"
        );
        drop(writing);
        drop(second);
        let ended = counter.get();
        std::thread::sleep(idle);
        clock.accrue();
        assert_eq!(counter.get(), ended, "no busy time after the writes ended");
    }
}
