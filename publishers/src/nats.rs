//! NATS path, in core mode (publish + flush) or JetStream mode (publish awaits the PubAck).

use std::future::IntoFuture;

use async_nats::jetstream;
use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::nats::ensure_stream;
use brokerbench_common::settings::{Durability, Middleware, NatsMode, NatsSettings};
use bytes::Bytes;
use futures::future::try_join_all;

use crate::PathError;

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Nats, action)
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
    ) -> Result<Self, PathError> {
        let client = brokerbench_common::middleware::nats::connect(settings)
            .await
            .map_err(err("connect"))?;
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

    /// async-nats reconnects by itself; until it has, publishes wait or fail.
    pub fn not_ready(&self) -> Option<String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => None,
            state => Some(format!("{state} (reconnecting)")),
        }
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        match &self.jetstream {
            None => {
                for envelope in batch {
                    let payload = Bytes::from(envelope.to_bytes());
                    self.client
                        .publish(self.subject.clone(), payload)
                        .await
                        .map_err(err("publish"))?;
                }
                self.client.flush().await.map_err(err("flush"))
            }
            Some(js) => {
                // Send the whole batch first, then await every PubAck: pipelined, not lock-step.
                let mut acks = Vec::with_capacity(batch.len());
                for envelope in batch {
                    let payload = Bytes::from(envelope.to_bytes());
                    let ack = js
                        .publish(self.subject.clone(), payload)
                        .await
                        .map_err(err("publish"))?;
                    acks.push(ack);
                }
                try_join_all(acks.into_iter().map(IntoFuture::into_future))
                    .await
                    .map_err(err("await PubAck"))?;
                Ok(())
            }
        }
    }
}
