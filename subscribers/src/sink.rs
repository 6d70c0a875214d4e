//! The MongoDB side of every subscriber: batch, write, then acknowledge.
//!
//! Batching is natural (group commit): a batch closes as soon as a writer is free to take it,
//! with everything that arrived while every writer was busy (at most `batch_size`). An idle
//! writer takes a case at once, so at low rates the store adds one write's round trip and no
//! waiting; under load, batches grow by themselves while the writers are busy. The write is
//! unordered, so one duplicate `_id` (a redelivery) does not stop the
//! rest; duplicates are counted and acknowledged like stored envelopes, because the case *is*
//! stored. Anything else that fails is delivered again after a backoff, and a case the store
//! keeps refusing is set aside at the delivery limit ([`crate::store`]).
//!
//! Three stages run concurrently: batching, writing (`writers` concurrent writers, each batch
//! acknowledged only after its own write) and acknowledging. Acks go out from their own task so
//! that a slow ack round trip (JetStream, RabbitMQ) never delays the next batch's write, and the
//! `store` latency measures MongoDB, not the acks. One writer leaves the store idle during every
//! round trip; a few keep it busy (FerretDB on PostgreSQL scales to ~8 writers).
//!
//! [`Store::Discard`] stores nothing: every delivery is acknowledged on receipt, so a run
//! measures the middleware alone (`--sink none`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use brokerbench_common::settings::Middleware;
use mongodb::bson::Document;
use mongodb::options::{CollectionOptions, WriteConcern};
use mongodb::{Client, Collection};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::busy::BusyClock;
use crate::dead_letter::{self, Attempts};
pub use crate::store::to_document;
use crate::store::{Outcome, Writer};
use crate::tally::{self, Tallier};
use crate::{Delivery, Health, PathError, SubscriberMetrics};

/// Where deliveries end up.
#[derive(Debug, Clone)]
pub enum Store {
    Mongodb(Collections),
    /// Acknowledge on receipt and store nothing: the middleware alone is measured.
    Discard,
}

/// The collections of one path: its cases, and the cases the store refused up to the delivery
/// limit (`dead_<middleware>`, in the same database).
#[derive(Debug, Clone)]
pub struct Collections {
    pub cases: Collection<Document>,
    pub dead: Collection<Document>,
    /// The dashboard's tallies ([`brokerbench_common::tally`]).
    pub tallies: Collection<Document>,
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub batch_size: usize,
    /// Batches written concurrently (each acknowledged after its own write).
    pub writers: usize,
    /// Diagnostic: hold every batch this many microseconds before writing it (calibrates the
    /// instrument). Shared so it can be changed while running, for a before/after comparison
    /// inside one run.
    pub hold_us: Arc<AtomicU64>,
    /// Longest wait for any one write; a write that takes longer counts as the store being
    /// away (it may still land: its redelivery then meets a duplicate).
    pub write_timeout: Duration,
    /// Refusals of a case's document after which it is set aside as a dead letter.
    pub delivery_limit: u32,
    /// Set just before the process is killed on purpose (a fault): no write starts after it, so
    /// a reading of the counters taken after it is final — every case stored from then on was
    /// already in hand at that reading. Without it, cases received and stored between the
    /// runner's last reading and the signal were counted nowhere (0–6 at 500/s).
    pub frozen: Arc<AtomicBool>,
}

/// Opens the collections of one path in `db`, writing with `write_concern`.
pub async fn open(
    uri: &str,
    db: &str,
    middleware: Middleware,
    write_concern: WriteConcern,
) -> Result<Collections, PathError> {
    let client = Client::with_uri_str(uri)
        .await
        .map_err(PathError::during(middleware, "connect to MongoDB"))?;
    let db = client.database(db);
    let options = CollectionOptions::builder()
        .write_concern(write_concern)
        .build();
    Ok(Collections {
        cases: db.collection_with_options(&middleware.collection(), options.clone()),
        dead: db.collection_with_options(&dead_letter::collection(middleware), options),
        tallies: db.collection(brokerbench_common::tally::COLLECTION),
    })
}

/// Stores deliveries until every sender of `rx` is gone, then flushes what is left, sends the
/// last acks and returns. `health` learns whether the store takes writes.
pub async fn run(
    store: Store,
    middleware: Middleware,
    config: SinkConfig,
    metrics: SubscriberMetrics,
    health: Arc<Health>,
    rx: mpsc::Receiver<Delivery>,
) {
    match store {
        Store::Mongodb(collections) => {
            let tallier = Arc::new(Tallier::default());
            let writer = Writer {
                cases: collections.cases,
                dead: collections.dead,
                middleware,
                metrics,
                health,
                timeout: config.write_timeout,
                attempts: Attempts::new(config.delivery_limit),
                outage: std::sync::Mutex::default(),
                tallier: tallier.clone(),
            };
            let (written, all_written) = oneshot::channel::<()>();
            let writing = async move {
                write(Arc::new(writer), config, rx).await;
                drop(written);
            };
            let done = async move {
                let _ = all_written.await;
            };
            let keeping = tally::keep(&tallier, collections.tallies, middleware, done);
            tokio::join!(writing, keeping);
        }
        Store::Discard => discard(middleware, metrics, rx).await,
    }
}

/// Acknowledges every delivery on receipt; `e2e` ends at the receipt.
async fn discard(
    middleware: Middleware,
    metrics: SubscriberMetrics,
    mut rx: mpsc::Receiver<Delivery>,
) {
    let (received, to_ack) = mpsc::channel::<Vec<(Delivery, Outcome)>>(1024);
    let acker = tokio::spawn(acknowledge_all(middleware, to_ack));
    while let Some(delivery) = rx.recv().await {
        if delivery.invalid.is_some() {
            metrics.invalid.add(1);
        } else {
            let origin = delivery.envelope.latency_origin_ns();
            metrics.stored.add(1);
            metrics
                .end_to_end
                .record_between_ns(origin, origin, delivery.received_ns);
        }
        if received
            .send(vec![(delivery, Outcome::Stored)])
            .await
            .is_err()
        {
            break;
        }
    }
    drop(received);
    let _ = acker.await;
}

/// Batches fill while every writer is busy, `writers` writers take them in turn, and an ack task
/// acknowledges each written batch. The diagnostic hold delays each batch's write to exactly
/// `hold` after the batch closed, and changes nothing else, so it adds exactly its length.
async fn write(writer: Arc<Writer>, config: SinkConfig, rx: mpsc::Receiver<Delivery>) {
    let middleware = writer.middleware;
    let writers = config.writers.max(1);
    let (batches, to_write) = mpsc::channel::<Batch>(writers);
    let to_write = Arc::new(Mutex::new(to_write));
    let (written, to_ack) = mpsc::channel::<Vec<(Delivery, Outcome)>>(writers * 4);
    let busy = BusyClock::new(writer.metrics.store_busy_us.clone());
    let keep_current = tokio::spawn(busy.clone().keep_current());
    let writer_tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (to_write, written, writer) = (to_write.clone(), written.clone(), writer.clone());
            let (hold_us, busy) = (config.hold_us.clone(), busy.clone());
            let frozen = config.frozen.clone();
            tokio::spawn(async move {
                loop {
                    let next = to_write.lock().await.recv().await;
                    let Some(batch) = next else {
                        break;
                    };
                    if frozen.load(Ordering::SeqCst) {
                        // The kill comes next; this batch goes with the process, unacknowledged.
                        std::future::pending::<()>().await;
                    }
                    // The hold stands for a slower store, so it counts as time spent writing.
                    let writing = busy.begin();
                    let hold = Duration::from_micros(hold_us.load(Ordering::Relaxed));
                    let wait = (batch.closed_at + hold).saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        // The OS sleep is precise to tens of µs; tokio's timer rounds up to ms.
                        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(wait)).await;
                    }
                    let outcomes = writer.store(batch.deliveries).await;
                    drop(writing);
                    drop(batch.writer);
                    if written.send(outcomes).await.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(busy);
    drop(written);
    let acker = tokio::spawn(acknowledge_all(middleware, to_ack));
    batch_while_busy(rx, config.batch_size.max(1), writers, batches).await;
    for task in writer_tasks {
        let _ = task.await;
    }
    keep_current.abort();
    let _ = acker.await;
}

/// A closed batch on its way to a writer, holding that writer's turn until its write ends.
struct Batch {
    closed_at: Instant,
    deliveries: Vec<Delivery>,
    writer: OwnedSemaphorePermit,
}

/// Closes a batch whenever a writer is free for it: what waits is taken at once (up to
/// `batch_size`); while every writer is busy, arriving deliveries join the open batch. Returns
/// when `rx` has no senders left and everything received was handed over.
async fn batch_while_busy(
    mut rx: mpsc::Receiver<Delivery>,
    batch_size: usize,
    writers: usize,
    batches: mpsc::Sender<Batch>,
) {
    let free = Arc::new(Semaphore::new(writers));
    while let Some(first) = rx.recv().await {
        let mut deliveries = vec![first];
        let mut open = true;
        let writer = loop {
            while deliveries.len() < batch_size
                && let Ok(delivery) = rx.try_recv()
            {
                deliveries.push(delivery);
            }
            if deliveries.len() >= batch_size || !open {
                break free.clone().acquire_owned().await;
            }
            tokio::select! {
                biased;
                writer = free.clone().acquire_owned() => break writer,
                delivery = rx.recv() => match delivery {
                    Some(delivery) => deliveries.push(delivery),
                    None => open = false,
                },
            }
        };
        let Ok(writer) = writer else {
            return;
        };
        let batch = Batch {
            closed_at: Instant::now(),
            deliveries,
            writer,
        };
        if batches.send(batch).await.is_err() {
            return;
        }
    }
}

/// Acknowledges what arrives on `to_ack` until its senders are gone. Everything waiting is
/// acknowledged at once, concurrently: one round trip after another (an XACK that waits for
/// Redis's fsync, a RabbitMQ ack frame) would cap a path at a few thousand cases a second.
async fn acknowledge_all(
    middleware: Middleware,
    mut to_ack: mpsc::Receiver<Vec<(Delivery, Outcome)>>,
) {
    let mut waiting = Vec::new();
    while to_ack.recv_many(&mut waiting, 256).await > 0 {
        let acks = waiting.drain(..).flatten().map(|(delivery, outcome)| async move {
            let result = match outcome {
                Outcome::Stored | Outcome::Duplicate | Outcome::DeadLettered => {
                    delivery.ack.ack().await
                }
                Outcome::Retry(delay) => delivery.retry_after(delay).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "acknowledging to {middleware} failed; it may redeliver");
            }
        });
        futures::future::join_all(acks).await;
    }
}

#[cfg(test)]
mod tests {
    use brokerbench_common::envelope::{Case, Envelope};

    use tokio::sync::oneshot;

    use super::*;
    use crate::ack::Acker;

    fn delivery(n: i64) -> Delivery {
        let case = Case {
            name: format!("case {n}"),
            location: "Escuintla".into(),
            age: 34,
            infectedtype: "communitary".into(),
            state: "symptomatic".into(),
        };
        Delivery::new(
            Envelope::accept(case, n, None),
            Acker::Grpc(oneshot::channel().0),
        )
    }

    /// Waits (at most 5 s) until the batcher has taken all but `left` of what was sent.
    async fn taken_until(tx: &mpsc::Sender<Delivery>, left: usize) {
        let all_taken = async {
            while tx.max_capacity() - tx.capacity() != left {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), all_taken)
            .await
            .expect("the batcher takes what it can");
    }

    #[tokio::test]
    async fn a_free_writer_takes_a_case_at_once_and_a_busy_one_lets_the_next_batch_grow() {
        let (tx, rx) = mpsc::channel(64);
        let (batches, mut to_write) = mpsc::channel(1);
        let batcher = tokio::spawn(batch_while_busy(rx, 10, 1, batches));
        tx.send(delivery(0)).await.expect("batcher listens");
        let first = to_write.recv().await.expect("a batch at once");
        assert_eq!(first.deliveries.len(), 1);
        for n in 1..=25 {
            tx.send(delivery(n)).await.expect("batcher listens");
        }
        // The only writer is busy with the first batch: the next one fills to its size and waits.
        taken_until(&tx, 15).await;
        assert!(to_write.try_recv().is_err(), "no writer was free");
        drop(first);
        let second = to_write
            .recv()
            .await
            .expect("the freed writer gets a batch");
        assert_eq!(second.deliveries.len(), 10);
        taken_until(&tx, 5).await;
        assert!(
            to_write.try_recv().is_err(),
            "one writer, one batch at a time"
        );
        drop(second);
        let third = to_write.recv().await.expect("a batch");
        assert_eq!(third.deliveries.len(), 10);
        drop(third);
        let fourth = to_write.recv().await.expect("a batch");
        assert_eq!(fourth.deliveries.len(), 5);
        drop((fourth, tx));
        batcher.await.expect("the batcher ends with its input");
        assert!(to_write.recv().await.is_none());
    }
}
