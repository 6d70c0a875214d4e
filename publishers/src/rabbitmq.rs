//! RabbitMQ path: durable queue, persistent (profile `disk`) or transient (`memory`) messages,
//! publisher confirms awaited.

use brokerbench_common::envelope::Envelope;
use brokerbench_common::settings::{Durability, Middleware, RabbitmqSettings};
use futures::future::try_join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::PublishError;

/// AMQP delivery mode 2: the broker writes the message to disk before confirming it.
const PERSISTENT: u8 = 2;
/// AMQP delivery mode 1: the broker keeps the message in memory.
const TRANSIENT: u8 = 1;

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> PublishError {
    move |e| PublishError::new(Middleware::Rabbitmq, action, e)
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
    ) -> Result<Self, PublishError> {
        let connection = Connection::connect(&settings.url, ConnectionProperties::default())
            .await
            .map_err(err("connect"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(err("open channel"))?;
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

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
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
                return Err(PublishError::new(
                    Middleware::Rabbitmq,
                    "await confirm",
                    text,
                ));
            }
        }
        Ok(())
    }
}

/// Declares the durable queue; both sides call it so start-up order does not matter.
pub async fn declare_queue(channel: &Channel, queue: &str) -> Result<(), PublishError> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|_| ())
        .map_err(err("declare queue"))
}

/// Deletes the queue (with whatever it still holds).
pub async fn delete_queue(settings: &RabbitmqSettings) -> Result<(), PublishError> {
    let connection = Connection::connect(&settings.url, ConnectionProperties::default())
        .await
        .map_err(err("connect"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(err("open channel"))?;
    channel
        .queue_delete(
            settings.queue.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .map_err(err("delete queue"))?;
    let _ = connection.close(0, "done".into()).await;
    Ok(())
}
