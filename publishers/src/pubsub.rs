//! Google Pub/Sub path, on the official client (`google-cloud-pubsub`): one long-lived batching
//! [`Publisher`] per process; `publish` returns once every message got its server-assigned id.
//!
//! Pointed at the emulator when `emulator_host` is set (see `brokerbench_common::middleware::pubsub`).

use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::pubsub::ensure_topology;
use brokerbench_common::pubsub_configure;
use brokerbench_common::settings::{Middleware, PubsubSettings};
use futures::future::try_join_all;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;

use crate::PathError;

/// How long the client's batcher waits for more messages before sending a partial batch. Small,
/// because every `publish` caller waits on it; batches still fill up under concurrent load.
/// (We deliberately do not call `Publisher::flush` per batch: in google-cloud-pubsub 1.7 a flush
/// makes the batch actor wait for all in-flight batches, serialising concurrent publishers.)
const BATCH_DELAY: Duration = Duration::from_millis(1);
/// Messages per `Publish` RPC (the service allows at most 1000 and 10 MB per request).
const BATCH_MESSAGES: u32 = 100;

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Pubsub, action)
}

#[derive(Debug, Clone)]
pub struct PubsubPublisher {
    /// Cheap to clone: a handle to the client's background batching task and connection pool.
    publisher: Publisher,
}

impl PubsubPublisher {
    pub async fn connect(settings: &PubsubSettings) -> Result<Self, PathError> {
        ensure_topology(settings).await?;
        let publisher = pubsub_configure!(Publisher::builder(settings.topic_path()), settings)
            .set_message_count_threshold(BATCH_MESSAGES)
            .set_delay_threshold(BATCH_DELAY)
            .build()
            .await
            .map_err(err("build publisher client"))?;
        Ok(Self { publisher })
    }

    /// Hands every envelope to the batcher at once, then awaits every message id: the batches
    /// are sent concurrently, not one round trip per envelope.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let pending: Vec<_> = batch
            .iter()
            .map(|envelope| {
                self.publisher
                    .publish(Message::new().set_data(envelope.to_bytes()))
            })
            .collect();
        try_join_all(pending).await.map_err(err("publish"))?;
        Ok(())
    }
}
