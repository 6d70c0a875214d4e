//! Waiting for an instant more precisely than tokio's timer, which rounds up to whole
//! milliseconds: both the load generator's send schedule and the ingress's diagnostic answer hold
//! are measured against their due times, so a millisecond of timer slack would be charged to the
//! system under test.

use std::time::{Duration, Instant};

/// The last stretch before the due time is spun rather than slept: an OS sleep may overshoot by
/// tens of µs, more on a busy machine.
const SPIN: Duration = Duration::from_micros(200);

/// Blocks the calling OS thread until `due`, to within a few µs on an idle core: a coarse sleep to
/// about 200 µs before, then a spin.
pub fn wait_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// [`wait_until`] for async code: tokio's timer to about 2 ms before, the rest on a blocking
/// thread, so no runtime worker spins.
pub async fn wait_until_async(due: tokio::time::Instant) {
    tokio::time::sleep_until(due - Duration::from_millis(2)).await;
    if tokio::time::Instant::now() < due {
        let _ = tokio::task::spawn_blocking(move || wait_until(due.into_std())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_precise_wait_is_never_early() {
        for micros_ahead in [0u64, 50, 300, 1_500] {
            let due = Instant::now() + Duration::from_micros(micros_ahead);
            wait_until(due);
            assert!(
                Instant::now() >= due,
                "woke before the due time ({micros_ahead} µs ahead)"
            );
        }
    }
}
