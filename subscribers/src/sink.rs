//! The MongoDB side of every subscriber: batch, write, then acknowledge.
//!
//! Batches close at `batch_size` envelopes or `batch_timeout` after their first one, whichever
//! comes first. The write is unordered, so one duplicate `_id` (a redelivery) does not stop the
//! rest; duplicates are counted and acknowledged like stored envelopes, because the case *is*
//! stored. Anything else that fails is nacked so the middleware delivers it again.
//!
//! Three stages run concurrently: batching, writing (`writers` concurrent writers, each batch
//! acknowledged only after its own write) and acknowledging. Acks go out from their own task so
//! that a slow ack round trip (JetStream, RabbitMQ) never delays the next batch's write, and the
//! `store` latency measures MongoDB, not the acks. One writer leaves the store idle during every
//! round trip; a few keep it busy (FerretDB on PostgreSQL scales to ~8 writers).
//!
//! [`Store::Discard`] stores nothing: every delivery is acknowledged on receipt, so a run
//! measures the middleware alone (`--sink none`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::settings::Middleware;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::{ErrorKind, InsertManyError};
use mongodb::{Client, Collection};
use tokio::sync::{Mutex, mpsc};
use tokio::time::{Instant, timeout_at};

use crate::{Delivery, PathError, SubscriberMetrics};

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Where deliveries end up.
#[derive(Debug, Clone)]
pub enum Store {
    Mongodb(Collection<Document>),
    /// Acknowledge on receipt and store nothing: the middleware alone is measured.
    Discard,
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub batch_size: usize,
    /// Batches written concurrently (each acknowledged after its own write).
    pub writers: usize,
    pub batch_timeout: Duration,
    /// Diagnostic: hold every batch this many microseconds before writing it (calibrates the
    /// instrument). Shared so it can be changed while running, for a before/after comparison
    /// inside one run.
    pub hold_us: Arc<AtomicU64>,
}

/// Opens the collection of one path in `db`.
pub async fn open_collection(
    uri: &str,
    db: &str,
    middleware: Middleware,
) -> Result<Collection<Document>, PathError> {
    let client = Client::with_uri_str(uri)
        .await
        .map_err(PathError::during(middleware, "connect to MongoDB"))?;
    Ok(client.database(db).collection(&middleware.collection()))
}

/// What became of one delivery's write: the ack task tells the middleware.
enum Outcome {
    Stored,
    Duplicate,
    Failed,
}

/// Stores deliveries until every sender of `rx` is gone, then flushes what is left, sends the
/// last acks and returns.
pub async fn run(
    store: Store,
    middleware: Middleware,
    config: SinkConfig,
    metrics: SubscriberMetrics,
    rx: mpsc::Receiver<Delivery>,
) {
    match store {
        Store::Mongodb(collection) => write(collection, middleware, config, metrics, rx).await,
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
        let origin = delivery.envelope.latency_origin_ns();
        metrics.stored.add(1);
        metrics
            .end_to_end
            .record_between_ns(origin, origin, delivery.received_ns);
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

/// Batches fill while earlier ones are being written, `writers` writers take them in turn, and
/// an ack task acknowledges each written batch. The diagnostic hold delays each batch's write to
/// exactly `hold` after the batch closed, and changes nothing else, so it adds exactly its length.
async fn write(
    collection: Collection<Document>,
    middleware: Middleware,
    config: SinkConfig,
    metrics: SubscriberMetrics,
    mut rx: mpsc::Receiver<Delivery>,
) {
    let batch_size = config.batch_size.max(1);
    let writers = config.writers.max(1);
    let (batches, to_write) = mpsc::channel::<(Instant, Vec<Delivery>)>(writers * 2);
    let to_write = Arc::new(Mutex::new(to_write));
    let (written, to_ack) = mpsc::channel::<Vec<(Delivery, Outcome)>>(writers * 4);
    let writer_tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (to_write, written) = (to_write.clone(), written.clone());
            let (collection, metrics) = (collection.clone(), metrics.clone());
            let hold_us = config.hold_us.clone();
            tokio::spawn(async move {
                loop {
                    let next = to_write.lock().await.recv().await;
                    let Some((closed_at, batch)) = next else {
                        break;
                    };
                    // The hold stands for a slower store, so it counts as time spent writing.
                    let began = Instant::now();
                    let hold = Duration::from_micros(hold_us.load(Ordering::Relaxed));
                    let wait = (closed_at + hold).saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        // The OS sleep is precise to tens of µs; tokio's timer rounds up to ms.
                        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(wait)).await;
                    }
                    let outcomes = store(&collection, middleware, &metrics, batch).await;
                    metrics
                        .store_busy_us
                        .add(began.elapsed().as_micros() as u64);
                    if written.send(outcomes).await.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(written);
    let acker = tokio::spawn(acknowledge_all(middleware, to_ack));
    while let Some(first) = rx.recv().await {
        let deadline = Instant::now() + config.batch_timeout;
        let mut batch = vec![first];
        while batch.len() < batch_size {
            match timeout_at(deadline, rx.recv()).await {
                Ok(Some(delivery)) => batch.push(delivery),
                Ok(None) | Err(_) => break,
            }
        }
        if batches.send((Instant::now(), batch)).await.is_err() {
            break;
        }
    }
    drop(batches);
    for task in writer_tasks {
        let _ = task.await;
    }
    let _ = acker.await;
}

/// Writes one batch and records what each delivery's write came to.
async fn store(
    collection: &Collection<Document>,
    middleware: Middleware,
    metrics: &SubscriberMetrics,
    batch: Vec<Delivery>,
) -> Vec<(Delivery, Outcome)> {
    let stored_at = DateTime::now();
    let docs: Vec<Document> = batch
        .iter()
        .map(|d| to_document(&d.envelope, middleware, stored_at))
        .collect();
    let failed: HashMap<usize, i32> = match collection.insert_many(docs).ordered(false).await {
        Ok(_) => HashMap::new(),
        Err(e) => match *e.kind {
            ErrorKind::InsertMany(InsertManyError {
                write_errors: Some(errors),
                write_concern_error: None,
                ..
            }) => errors.into_iter().map(|w| (w.index, w.code)).collect(),
            _ => {
                tracing::warn!(error = %e, batch = batch.len(), "MongoDB write failed; asking for redelivery");
                (0..batch.len()).map(|i| (i, -1)).collect()
            }
        },
    };
    let written_ns = now_ns();
    batch
        .into_iter()
        .enumerate()
        .map(|(i, delivery)| {
            let outcome = match failed.get(&i) {
                None => {
                    let origin = delivery.envelope.latency_origin_ns();
                    metrics.stored.add(1);
                    metrics
                        .store
                        .record_between_ns(origin, delivery.received_ns, written_ns);
                    metrics
                        .end_to_end
                        .record_between_ns(origin, origin, written_ns);
                    Outcome::Stored
                }
                Some(&DUPLICATE_KEY) => {
                    metrics.duplicates.add(1);
                    Outcome::Duplicate
                }
                Some(_) => {
                    metrics.errors.add(1);
                    Outcome::Failed
                }
            };
            (delivery, outcome)
        })
        .collect()
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
                Outcome::Stored | Outcome::Duplicate => delivery.ack.ack().await,
                Outcome::Failed => delivery.ack.nack().await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "acknowledging to {middleware} failed; it may redeliver");
            }
        });
        futures::future::join_all(acks).await;
    }
}

/// The stored form of a case: `_id` is the case id, times are BSON dates (millisecond precision).
pub fn to_document(envelope: &Envelope, middleware: Middleware, stored_at: DateTime) -> Document {
    let case = envelope.case.clone().unwrap_or_default();
    doc! {
        "_id": &envelope.id,
        "name": case.name,
        "location": case.location,
        "age": i32::try_from(case.age).unwrap_or(i32::MAX),
        "infectedtype": case.infectedtype,
        "state": case.state,
        "route": middleware.name(),
        "accepted_at": DateTime::from_millis(envelope.accepted_at_ns / 1_000_000),
        "stored_at": stored_at,
    }
}
