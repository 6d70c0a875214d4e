//! RabbitMQ path: durable queue, persistent (profile `disk`) or transient (`memory`) messages,
//! publisher confirms awaited.

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::rabbitmq::{declare_queue, open};
use brokerbench_common::settings::{Durability, Middleware, RabbitmqSettings};
use futures::future::try_join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};

use crate::PathError;

/// AMQP delivery mode 2: the broker writes the message to disk before confirming it.
const PERSISTENT: u8 = 2;
/// AMQP delivery mode 1: the broker keeps the message in memory.
const TRANSIENT: u8 = 1;

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> PathError {
    PathError::during(Middleware::Rabbitmq, action)
}

#[derive(Debug, Clone)]
pub struct RabbitmqPublisher {
    // Keeps the connection alive as long as any clone of the publisher lives.
    _connection: std::sync::Arc<Connection>,
    channel: Channel,
    queue: String,
    delivery_mode: u8,
}

impl RabbitmqPublisher {
    pub async fn connect(
        settings: &RabbitmqSettings,
        durability: Durability,
    ) -> Result<Self, PathError> {
        let (connection, channel) = open(settings, "publisher").await?;
        declare_queue(&channel, &settings.queue).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err("confirm select"))?;
        let delivery_mode = match durability {
            Durability::Disk => PERSISTENT,
            Durability::Memory => TRANSIENT,
        };
        Ok(Self {
            _connection: std::sync::Arc::new(connection),
            channel,
            queue: settings.queue.clone(),
            delivery_mode,
        })
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(self.delivery_mode)
            .with_content_type("application/x-protobuf".into());
        let mut confirms = Vec::with_capacity(batch.len());
        for envelope in batch {
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &envelope.to_bytes(),
                    properties.clone(),
                )
                .await
                .map_err(err("publish"))?;
            confirms.push(confirm);
        }
        for confirmation in try_join_all(confirms).await.map_err(err("await confirm"))? {
            if !confirmation.is_ack() {
                let text = "broker did not confirm the message (nack)";
                return Err(PathError::new(Middleware::Rabbitmq, "await confirm", text));
            }
        }
        Ok(())
    }
}
