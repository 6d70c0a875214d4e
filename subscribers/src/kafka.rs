//! Kafka path: a consumer in the group reads the topic, holding at most the consumer window of
//! cases unstored; a case's offset is committed only once it and every case before it in its
//! partition are stored ([`Offsets`]), since Kafka acknowledges a position, not a message.
//!
//! Nothing read is lost when a subscriber dies: the group resumes at the last committed offset,
//! and what was stored after it comes again (stored once, by `_id`). A case whose write failed
//! cannot be handed back to the broker alone, so it is held here and handed to the sink again
//! after the retry delay, its offset still uncommitted.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::kafka::ensure_topic;
use brokerbench_common::settings::{Durability, KafkaSettings, Middleware};
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::backoff::{Reconnector, Settled};
use crate::{Acker, Delivery, Health, PathError, SubscriberMetrics, decode};

/// How often librdkafka commits the offsets stored after each write: what a restarted
/// subscriber is handed again is at most this much of the stream (stored once, by `_id`).
const COMMIT_EVERY_MS: &str = "1000";
/// How long the group waits for a consumer that stopped answering before it hands its partitions
/// to another: the broker's lowest allowed value, so a killed subscriber's replacement is not
/// kept waiting the default 45 s.
const SESSION_TIMEOUT_MS: &str = "6000";

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Kafka, action)
}

/// The offsets of one partition handed to the sink and not yet stored, and how far the commit
/// may go.
#[derive(Debug, Default)]
struct PartitionOffsets {
    unstored: BTreeSet<i64>,
    highest_received: Option<i64>,
    /// The offset through which every case is stored and the commit has been asked for.
    committed_through: Option<i64>,
}

/// Per partition, which received offsets are not stored yet.
#[derive(Debug, Default)]
pub struct Offsets(HashMap<i32, PartitionOffsets>);

impl Offsets {
    fn received(&mut self, partition: i32, offset: i64) {
        let p = self.0.entry(partition).or_default();
        p.unstored.insert(offset);
        p.highest_received = p.highest_received.max(Some(offset));
        p.committed_through.get_or_insert(offset - 1);
    }

    /// `offset` is stored: the offset through which the partition may now be committed, if that
    /// moved on (every offset up to it stored).
    fn stored(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let p = self.0.get_mut(&partition)?;
        p.unstored.remove(&offset);
        let through = match p.unstored.first() {
            Some(&first) => first - 1,
            None => p.highest_received?,
        };
        if Some(through) <= p.committed_through {
            return None;
        }
        p.committed_through = Some(through);
        Some(through)
    }
}

type SharedOffsets = Arc<Mutex<Offsets>>;

/// At most this much (KiB) fetched ahead of the sink per partition: 16 MiB, about 130,000
/// cases, seconds of work at any rate the sink sustains (librdkafka's default is 64 MiB).
const PREFETCH_KBYTES: &str = "16384";
/// How long the last handle's drop waits for the consumer to close (commit what was stored,
/// leave the group) before it leaves the closing to a thread of its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer, closed and destroyed on a thread of its own once its last handle goes, waited
/// for at most [`CLOSE_TIMEOUT`]. librdkafka's destroy can block for good after the group was
/// left (seen in the freeze test, after a subscriber that received cases and stored none of them
/// was stopped): on a runtime's thread that would hold the runtime's shutdown, and the process,
/// with it; without the wait, a process ending at once would not commit or leave the group.
struct ClosingConsumer(Option<StreamConsumer>);

impl std::ops::Deref for ClosingConsumer {
    type Target = StreamConsumer;

    fn deref(&self) -> &StreamConsumer {
        self.0.as_ref().expect("taken only by drop")
    }
}

impl Drop for ClosingConsumer {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        let (closed, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
        if wait.recv_timeout(CLOSE_TIMEOUT).is_err() {
            tracing::warn!("the Kafka consumer did not close within {CLOSE_TIMEOUT:?}");
        }
    }
}

/// The handle that acknowledges one case; it holds one place of the consumer window.
pub struct KafkaAck {
    consumer: Arc<ClosingConsumer>,
    offsets: SharedOffsets,
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    input: mpsc::WeakSender<Delivery>,
    _window: OwnedSemaphorePermit,
}

impl KafkaAck {
    /// Stores the partition's new commit position, if this case moved it (librdkafka commits
    /// stored positions every [`COMMIT_EVERY_MS`] and when the consumer closes).
    pub fn ack(self) -> Result<(), BoxError> {
        let through = self
            .offsets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stored(self.partition, self.offset);
        if let Some(offset) = through {
            // The legacy per-topic call stores `offset + 1`: the next offset to read.
            self.consumer
                .store_offset(&self.topic, self.partition, offset)?;
        }
        Ok(())
    }

    /// Hands `envelope` back to the sink after `delay`, its offset still uncommitted.
    pub fn retry_after(self, envelope: Envelope, delay: Duration) {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(input) = self.input.upgrade() {
                let id = envelope.id.clone();
                if input
                    .send(Delivery::new(envelope, Acker::Kafka(self)))
                    .await
                    .is_err()
                {
                    tracing::warn!(%id, "the sink ended before a Kafka case was stored again");
                }
            }
        });
    }
}

impl std::fmt::Debug for KafkaAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KafkaAck({}@{})", self.partition, self.offset)
    }
}

pub struct KafkaSource {
    consumer: Arc<ClosingConsumer>,
    topic: Arc<str>,
    window: Arc<Semaphore>,
    offsets: SharedOffsets,
}

impl KafkaSource {
    pub async fn connect(
        settings: &KafkaSettings,
        durability: Durability,
        window: u16,
    ) -> Result<Self, PathError> {
        ensure_topic(settings, durability).await?;
        let consumer: StreamConsumer = settings
            .client_config()
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", COMMIT_EVERY_MS)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS)
            // What librdkafka fetches ahead is bounded in bytes, not by the window (which bounds
            // what the sink holds): with `queued.min.messages` at the window (1,000), one 1 MiB
            // fetch (about 6,400 cases) overfilled it and this librdkafka (2.0) then waited 1 s
            // before fetching again: the middleware ceiling stalled at about 6,400 cases/s.
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
            .create()
            .map_err(err("create consumer"))?;
        consumer
            .subscribe(&[&settings.topic])
            .map_err(err("subscribe"))?;
        Ok(Self {
            consumer: Arc::new(ClosingConsumer(Some(consumer))),
            topic: settings.topic.as_str().into(),
            window: Arc::new(Semaphore::new(window.into())),
            offsets: SharedOffsets::default(),
        })
    }

    /// Feeds deliveries into `tx` until `shutdown` completes or the sink is gone. librdkafka
    /// reconnects by itself; the errors it reports meanwhile are counted and waited out.
    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        tokio::pin!(shutdown);
        let mut reconnector = Reconnector::new(Middleware::Kafka, &metrics, health);
        loop {
            let place = tokio::select! {
                () = &mut shutdown => return Ok(()),
                place = self.window.clone().acquire_owned() => {
                    place.map_err(err("hold the consumer window"))?
                }
            };
            let received = tokio::select! {
                () = &mut shutdown => return Ok(()),
                message = self.consumer.recv() => message.map(|m| {
                    let envelope = m.payload().and_then(|bytes| decode(bytes, &metrics));
                    (m.partition(), m.offset(), envelope)
                }),
            };
            let settled = reconnector.settle(received, &metrics.errors, shutdown.as_mut());
            let (partition, offset, envelope) = match settled.await {
                Settled::Read(received) => received,
                Settled::Retry => continue,
                Settled::Stop => return Ok(()),
            };
            self.offsets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .received(partition, offset);
            let ack = KafkaAck {
                consumer: self.consumer.clone(),
                offsets: self.offsets.clone(),
                topic: self.topic.clone(),
                partition,
                offset,
                input: tx.downgrade(),
                _window: place,
            };
            let Some(envelope) = envelope else {
                // Not an envelope: it could never be stored, so its offset may pass.
                if let Err(e) = ack.ack() {
                    tracing::warn!(error = %e, "could not store a Kafka offset");
                }
                continue;
            };
            if tx
                .send(Delivery::new(envelope, Acker::Kafka(ack)))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_committed_only_through_its_first_unstored_offset() {
        let mut offsets = Offsets::default();
        for offset in 10..15 {
            offsets.received(0, offset);
        }
        offsets.received(1, 3);
        assert_eq!(offsets.stored(0, 11), None, "10 is not stored yet");
        assert_eq!(offsets.stored(0, 12), None);
        assert_eq!(offsets.stored(0, 10), Some(12), "10, 11 and 12 are");
        assert_eq!(offsets.stored(1, 3), Some(3), "partitions are apart");
        assert_eq!(offsets.stored(0, 14), None, "13 is not");
        assert_eq!(offsets.stored(0, 13), Some(14));
        assert_eq!(offsets.stored(0, 13), None, "a second ack moves nothing");
        assert_eq!(offsets.stored(7, 1), None, "a partition never received");
    }
}
