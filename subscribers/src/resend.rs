//! Core NATS cannot deliver a message again, so a case whose write failed is kept here, in the
//! subscriber's memory, and handed back to the sink after the retry delay: a store that is away
//! for a while costs a core-NATS path nothing it already received.
//!
//! What is held is bounded ([`MAX_HELD`] cases, a few hundred bytes each): during a longer
//! outage the excess is dropped, logged and counted as errors, which is what core NATS itself
//! does to a slow consumer. Held cases are lost if the subscriber stops before they are stored
//! (a shutdown drops them with the sink's input).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::metrics::Counter;
use tokio::sync::mpsc;

use crate::{Acker, Delivery};

/// Most cases held for a retry at once (about 50 MB at the largest valid case).
pub const MAX_HELD: usize = 100_000;

/// A handle back into the sink's input, shared by every core-NATS delivery. It holds the input
/// weakly, so the sink still ends when the source does.
#[derive(Debug, Clone)]
pub struct Resend {
    input: mpsc::WeakSender<Delivery>,
    held: Arc<AtomicUsize>,
    errors: Arc<Counter>,
}

impl Resend {
    /// Resends into `input`, counting the cases it has to drop in `errors`.
    pub fn new(input: &mpsc::Sender<Delivery>, errors: Arc<Counter>) -> Self {
        Self {
            input: input.downgrade(),
            held: Arc::default(),
            errors,
        }
    }

    /// Hands `envelope` back to the sink once `delay` is over, as a new delivery. Returns at
    /// once; returns false (and drops the case) when [`MAX_HELD`] cases are held already.
    pub fn after(self, envelope: Envelope, delay: Duration) -> bool {
        if self.held.fetch_add(1, Ordering::Relaxed) >= MAX_HELD {
            self.held.fetch_sub(1, Ordering::Relaxed);
            self.errors.add(1);
            tracing::warn!(id = %envelope.id, "{MAX_HELD} core NATS cases wait for the store already: dropping one more");
            return false;
        }
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let held = self.held.clone();
            if let Some(input) = self.input.upgrade() {
                let id = envelope.id.clone();
                let again = Delivery::new(envelope, Acker::NatsCore(self));
                if input.send(again).await.is_err() {
                    tracing::warn!(%id, "the sink ended before a held core NATS case was stored");
                }
            }
            held.fetch_sub(1, Ordering::Relaxed);
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use brokerbench_common::envelope::Case;

    use super::*;

    fn envelope(name: &str) -> Envelope {
        let case = Case {
            name: name.into(),
            location: "Escuintla".into(),
            age: 34,
            infectedtype: "communitary".into(),
            state: "symptomatic".into(),
        };
        Envelope::accept(case, 1, None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_case_comes_back_after_its_delay_and_the_sink_can_still_end() {
        let (input, mut sink) = mpsc::channel(4);
        let resend = Resend::new(&input, Arc::default());
        assert!(
            resend
                .clone()
                .after(envelope("held"), Duration::from_secs(2))
        );
        assert_eq!(resend.held.load(Ordering::Relaxed), 1);
        tokio::time::sleep(Duration::from_millis(1_900)).await;
        assert!(sink.try_recv().is_err(), "not before its delay");
        let again = sink.recv().await.expect("handed back");
        assert_eq!(again.envelope.case.as_ref().expect("case").name, "held");
        assert!(matches!(again.ack, Acker::NatsCore(_)));
        assert_eq!(resend.held.load(Ordering::Relaxed), 0);
        drop((again, input));
        assert!(
            sink.recv().await.is_none(),
            "a held case keeps no sink open"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_bound_a_case_is_dropped_and_counted() {
        let (input, _sink) = mpsc::channel(1);
        let errors = Arc::new(Counter::default());
        let resend = Resend::new(&input, errors.clone());
        resend.held.store(MAX_HELD, Ordering::Relaxed);
        assert!(
            !resend
                .clone()
                .after(envelope("one too many"), Duration::ZERO)
        );
        assert_eq!(resend.held.load(Ordering::Relaxed), MAX_HELD);
        assert_eq!(errors.get(), 1);
    }
}
