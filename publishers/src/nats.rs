//! NATS path, in core mode (publish + flush) or JetStream mode (publish awaits the PubAck).

use std::future::IntoFuture;

use async_nats::jetstream::{self, stream};
use brokerbench_common::envelope::Envelope;
use brokerbench_common::settings::{Durability, Middleware, NatsMode, NatsSettings};
use bytes::Bytes;
use futures::future::try_join_all;

use crate::PublishError;

fn err(
    action: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> PublishError {
    move |e| PublishError::new(Middleware::Nats, action, e)
}

#[derive(Debug, Clone)]
pub struct NatsPublisher {
    client: async_nats::Client,
    jetstream: Option<jetstream::Context>,
    subject: String,
}

impl NatsPublisher {
    pub async fn connect(
        settings: &NatsSettings,
        durability: Durability,
    ) -> Result<Self, PublishError> {
        let client = async_nats::connect(&settings.url)
            .await
            .map_err(|e| err("connect")(e.into()))?;
        let jetstream = match settings.mode {
            NatsMode::Core => None,
            NatsMode::Jetstream => {
                let js = jetstream::new(client.clone());
                ensure_stream(&js, settings, durability).await?;
                Some(js)
            }
        };
        Ok(Self {
            client,
            jetstream,
            subject: settings.subject.clone(),
        })
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        match &self.jetstream {
            None => {
                for envelope in batch {
                    let payload = Bytes::from(envelope.to_bytes());
                    self.client
                        .publish(self.subject.clone(), payload)
                        .await
                        .map_err(|e| err("publish")(e.into()))?;
                }
                self.client
                    .flush()
                    .await
                    .map_err(|e| err("flush")(e.into()))
            }
            Some(js) => {
                // Send the whole batch first, then await every PubAck: pipelined, not lock-step.
                let mut acks = Vec::with_capacity(batch.len());
                for envelope in batch {
                    let payload = Bytes::from(envelope.to_bytes());
                    let ack = js
                        .publish(self.subject.clone(), payload)
                        .await
                        .map_err(|e| err("publish")(e.into()))?;
                    acks.push(ack);
                }
                try_join_all(acks.into_iter().map(IntoFuture::into_future))
                    .await
                    .map_err(|e| err("await PubAck")(e.into()))?;
                Ok(())
            }
        }
    }
}

/// Creates the stream capturing the subject if it does not exist yet (idempotent), on file storage
/// for the `disk` profile and in memory for `memory`.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &NatsSettings,
    durability: Durability,
) -> Result<stream::Stream, PublishError> {
    let storage = match durability {
        Durability::Disk => stream::StorageType::File,
        Durability::Memory => stream::StorageType::Memory,
    };
    js.get_or_create_stream(stream::Config {
        name: settings.stream.clone(),
        subjects: vec![settings.subject.clone()],
        storage,
        ..Default::default()
    })
    .await
    .map_err(|e| err("create stream")(e.into()))
}

/// Deletes the JetStream stream (and with it its consumers); nothing to do in core mode.
pub async fn remove_stream(settings: &NatsSettings) -> Result<(), PublishError> {
    if settings.mode == NatsMode::Core {
        return Ok(());
    }
    let client = async_nats::connect(&settings.url)
        .await
        .map_err(|e| err("connect")(e.into()))?;
    jetstream::new(client)
        .delete_stream(&settings.stream)
        .await
        .map_err(|e| err("delete stream")(e.into()))?;
    Ok(())
}
