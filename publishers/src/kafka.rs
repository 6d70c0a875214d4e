//! Kafka path: one idempotent producer per process (`acks=all`, `enable.idempotence=true`);
//! `publish` hands every envelope of a batch to it at once and returns when each has its
//! delivery report, i.e. when the partition's in-sync replicas have it (under the `disk` profile
//! fsynced first: see `brokerbench_common::middleware::kafka`).

use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::kafka::ensure_topic;
use brokerbench_common::settings::{Durability, KafkaSettings, Middleware};
use futures::future::try_join_all;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::PathError;

/// How long the producer waits before sending a partial batch (librdkafka's `linger.ms`, 5 ms by
/// default). Small, because every ingress request waits on it; batches still fill up under
/// concurrent load. The Pub/Sub path's batcher waits the same.
const LINGER_MS: &str = "1";
/// How long a case may wait for its delivery report, retries included, before the publish fails
/// (librdkafka's default is 5 minutes: the ingress's caller would time out long before).
const DELIVERY_TIMEOUT_MS: &str = "10000";

fn err<E: Into<brokerbench_common::middleware::BoxError>>(
    action: &'static str,
) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Kafka, action)
}

#[derive(Clone)]
pub struct KafkaPublisher {
    /// Cheap to clone: a handle to librdkafka's producer and its background threads.
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    pub async fn connect(
        settings: &KafkaSettings,
        durability: Durability,
    ) -> Result<Self, PathError> {
        ensure_topic(settings, durability).await?;
        let producer = settings
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", LINGER_MS)
            .set("message.timeout.ms", DELIVERY_TIMEOUT_MS)
            .create()
            .map_err(err("create producer"))?;
        Ok(Self {
            producer,
            topic: settings.topic.clone(),
        })
    }

    /// Each envelope is keyed by its case id, so a case always lands in the same partition.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let payloads: Vec<Vec<u8>> = batch.iter().map(Envelope::to_bytes).collect();
        let pending = batch.iter().zip(&payloads).map(|(envelope, payload)| {
            let record = FutureRecord::to(&self.topic)
                .key(envelope.id.as_str())
                .payload(payload.as_slice());
            self.producer.send(record, Timeout::After(Duration::ZERO))
        });
        try_join_all(pending)
            .await
            .map_err(|(e, _)| err("produce")(e))?;
        Ok(())
    }
}
