//! Writing one batch: what each delivery's write came to, and what its middleware is told.
//!
//! A batch is one unordered insert. If the store refuses it on account of its documents, the
//! documents are written again one at a time to find the ones at fault; those are redelivered
//! later, and set aside as dead letters once they reach the delivery limit. If the store does
//! not take the write at all, the whole batch is redelivered later, waiting longer after each
//! consecutive failed batch, and nobody's limit moves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::settings::Middleware;
use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use tokio::time::timeout;

use crate::backoff::{Backoff, delay_after};
use crate::dead_letter::{self, Attempts};
use crate::failure::{
    BatchFailure, DUPLICATE_KEY, DocumentFailure, TimedOut, classify_batch, classify_document,
};
use crate::tally::Tallier;
use crate::{Delivery, Health, SubscriberMetrics};

/// What the middleware is told about one delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    Stored,
    /// Stored already (a redelivery): acknowledged like a stored case.
    Duplicate,
    /// Set aside in the dead-letter collection: acknowledged, never delivered again.
    DeadLettered,
    /// Not stored: deliver it again after this long.
    Retry(Duration),
}

/// What the write of one document came to.
#[derive(Debug, Clone)]
enum Written {
    Stored,
    Duplicate,
    /// The store refused the document.
    Refused(String),
    /// The store did not take the write.
    Transient(String),
}

/// Everything the writers of one sink share.
pub(crate) struct Writer {
    pub(crate) cases: Collection<Document>,
    pub(crate) dead: Collection<Document>,
    pub(crate) middleware: Middleware,
    pub(crate) metrics: SubscriberMetrics,
    pub(crate) health: Arc<Health>,
    /// Longest wait for any one write.
    pub(crate) timeout: Duration,
    pub(crate) attempts: Attempts,
    /// Consecutive batches the store did not take, over all writers.
    pub(crate) outage: Mutex<Backoff>,
    /// The dashboard's counts of what this path stored.
    pub(crate) tallier: Arc<Tallier>,
}

impl Writer {
    /// Writes one batch and decides what becomes of each delivery.
    pub(crate) async fn store(&self, batch: Vec<Delivery>) -> Vec<(Delivery, Outcome)> {
        let (batch, invalid): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|d| d.invalid.is_none());
        let mut outcomes = Vec::with_capacity(batch.len() + invalid.len());
        for delivery in invalid {
            let outcome = self.set_aside_invalid(&delivery).await;
            outcomes.push((delivery, outcome));
        }
        if batch.is_empty() {
            return outcomes;
        }
        let stored_at = DateTime::now();
        let docs: Vec<Document> = batch
            .iter()
            .map(|d| to_document(&d.envelope, self.middleware, stored_at))
            .collect();
        let written = self.write_batch(&docs).await;
        let written_ns = now_ns();
        let retry = self.store_state(&written);
        for ((delivery, written), document) in batch.into_iter().zip(written).zip(&docs) {
            let outcome = match written {
                Written::Stored => {
                    self.tallier.stored(document);
                    let origin = delivery.envelope.latency_origin_ns();
                    self.metrics.stored.add(1);
                    self.metrics
                        .store
                        .record_between_ns(origin, delivery.received_ns, written_ns);
                    self.metrics
                        .end_to_end
                        .record_between_ns(origin, origin, written_ns);
                    self.attempts.forget(&delivery.envelope.id);
                    Outcome::Stored
                }
                Written::Duplicate => {
                    self.metrics.duplicates.add(1);
                    self.attempts.forget(&delivery.envelope.id);
                    Outcome::Duplicate
                }
                Written::Transient(_) => {
                    self.metrics.errors.add(1);
                    Outcome::Retry(retry)
                }
                Written::Refused(error) => {
                    self.metrics.errors.add(1);
                    self.refused(&delivery, &error).await
                }
            };
            outcomes.push((delivery, outcome));
        }
        outcomes
    }

    /// Writes the batch, then, if the store refused it on account of its documents, each
    /// document the batch may not have stored on its own.
    async fn write_batch(&self, docs: &[Document]) -> Vec<Written> {
        let failure = match timeout(self.timeout, self.cases.insert_many(docs).ordered(false)).await
        {
            Ok(Ok(_)) => return docs.iter().map(|_| Written::Stored).collect(),
            Ok(Err(e)) => classify_batch(&e),
            Err(_) => BatchFailure::Transient(TimedOut(self.timeout).to_string()),
        };
        match failure {
            BatchFailure::Transient(e) => {
                docs.iter().map(|_| Written::Transient(e.clone())).collect()
            }
            BatchFailure::Command(e) => {
                tracing::warn!(error = %e, batch = docs.len(), "MongoDB refused a batch; writing its documents one at a time");
                // Some documents may have been stored before the refusal: a duplicate now is
                // either one of those or a redelivery, which cannot be told apart.
                let unknown = docs.iter().map(|_| None).collect();
                self.one_at_a_time(docs, unknown, Written::Duplicate).await
            }
            BatchFailure::Documents(errors) => {
                let mut known: Vec<Option<Written>> = docs.iter().map(|_| None).collect();
                for (i, code, message) in errors {
                    known[i] = Some(if code == DUPLICATE_KEY {
                        Written::Duplicate
                    } else {
                        Written::Refused(message)
                    });
                }
                if known
                    .iter()
                    .flatten()
                    .all(|w| matches!(w, Written::Duplicate))
                {
                    return known
                        .into_iter()
                        .map(|w| w.unwrap_or(Written::Stored))
                        .collect();
                }
                // The server named the documents it refused. It is asked again about the others
                // rather than trusted to have stored them: a server that stopped at the first
                // refusal despite the unordered insert would otherwise lose them silently. A
                // duplicate among those is one this batch stored, so it counts as stored.
                self.one_at_a_time(docs, known, Written::Stored).await
            }
        }
    }

    /// Writes alone each document whose fate is not `known`; `duplicate` is what a duplicate
    /// means. Once the store stops taking writes, the rest are not tried.
    async fn one_at_a_time(
        &self,
        docs: &[Document],
        known: Vec<Option<Written>>,
        duplicate: Written,
    ) -> Vec<Written> {
        let mut outage: Option<String> = None;
        let mut written = Vec::with_capacity(docs.len());
        for (doc, known) in docs.iter().zip(known) {
            let result = match (known, &outage) {
                (Some(known), _) => known,
                (None, Some(e)) => Written::Transient(e.clone()),
                (None, None) => match self.write_one(&self.cases, doc).await {
                    Ok(()) => Written::Stored,
                    Err(DocumentFailure::Duplicate) => duplicate.clone(),
                    Err(DocumentFailure::Refused(e)) => Written::Refused(e),
                    Err(DocumentFailure::Transient(e)) => {
                        outage = Some(e.clone());
                        Written::Transient(e)
                    }
                },
            };
            written.push(result);
        }
        written
    }

    async fn write_one(
        &self,
        collection: &Collection<Document>,
        doc: &Document,
    ) -> Result<(), DocumentFailure> {
        match timeout(self.timeout, collection.insert_one(doc)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify_document(&e)),
            Err(_) => Err(DocumentFailure::Transient(
                TimedOut(self.timeout).to_string(),
            )),
        }
    }

    /// Tells `/healthz` whether the store takes writes, and returns how long a delivery the store
    /// did not take waits before it comes again.
    fn store_state(&self, written: &[Written]) -> Duration {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        match written.iter().find_map(|w| match w {
            Written::Transient(e) => Some(e),
            _ => None,
        }) {
            Some(error) => {
                if !outage.failing() {
                    tracing::warn!(%error, "MongoDB did not take a write; redelivering with backoff");
                }
                self.health.store_failed(error);
                outage.fail()
            }
            None => {
                if outage.failing() {
                    tracing::info!("MongoDB takes writes again");
                }
                outage.reset();
                self.health.store_ok();
                Duration::ZERO
            }
        }
    }

    /// Sets aside an envelope that could not have come from the ingress, at once and under an
    /// id of its own: the id it carries (kept as `claimed_id`) may be a real case's, which must
    /// neither be blocked from `cases_<path>` nor counted as dead-lettered.
    async fn set_aside_invalid(&self, delivery: &Delivery) -> Outcome {
        let reason = delivery.invalid.as_ref().map(ToString::to_string);
        let error = format!("not from the ingress: {}", reason.unwrap_or_default());
        let envelope = &delivery.envelope;
        let mut dead = dead_letter::document(envelope, self.middleware, &error, 0, DateTime::now());
        dead.insert("claimed_id", &envelope.id);
        dead.insert("_id", uuid::Uuid::now_v7().to_string());
        match self.write_one(&self.dead, &dead).await {
            Ok(()) | Err(DocumentFailure::Duplicate) => {
                tracing::warn!(claimed_id = %envelope.id, error, "message set aside in {}", self.dead.name());
                self.metrics.invalid.add(1);
                Outcome::DeadLettered
            }
            Err(DocumentFailure::Refused(e) | DocumentFailure::Transient(e)) => {
                let failure = format!("writing a dead letter failed: {e}");
                Outcome::Retry(self.store_state(&[Written::Transient(failure)]))
            }
        }
    }

    /// Counts a refusal of the delivery's document, and sets it aside at the delivery limit.
    async fn refused(&self, delivery: &Delivery, error: &str) -> Outcome {
        let id = &delivery.envelope.id;
        let (attempts, at_limit) = self.attempts.refused(id);
        tracing::warn!(%id, attempts, error, "MongoDB refused a case");
        if !at_limit {
            return Outcome::Retry(delay_after(attempts));
        }
        let dead = dead_letter::document(
            &delivery.envelope,
            self.middleware,
            error,
            attempts,
            DateTime::now(),
        );
        match self.write_one(&self.dead, &dead).await {
            Ok(()) | Err(DocumentFailure::Duplicate) => {
                tracing::warn!(%id, attempts, "case set aside in {}", self.dead.name());
                self.metrics.dead_lettered.add(1);
                self.attempts.forget(id);
                Outcome::DeadLettered
            }
            Err(DocumentFailure::Refused(e) | DocumentFailure::Transient(e)) => {
                let failure = format!("writing a dead letter failed: {e}");
                Outcome::Retry(self.store_state(&[Written::Transient(failure)]))
            }
        }
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
