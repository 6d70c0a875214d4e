//! RabbitMQ path: a consumer with manual acks and a prefetch limit on the durable queue.

use std::future::Future;

use brokerbench_common::settings::{Middleware, RabbitmqSettings};
use brokerbench_publishers::rabbitmq::declare_queue;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};
use tokio::sync::mpsc;

use crate::{Acker, Delivery, SubscribeError, SubscriberMetrics, decode};

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> SubscribeError {
    move |e| SubscribeError::new(Middleware::Rabbitmq, action, e)
}

pub struct RabbitmqSource {
    _connection: Connection,
    consumer: Consumer,
}

impl RabbitmqSource {
    /// Consumes with at most `window` unacknowledged deliveries (basic.qos prefetch).
    pub async fn connect(settings: &RabbitmqSettings, window: u16) -> Result<Self, SubscribeError> {
        let connection = Connection::connect(&settings.url, ConnectionProperties::default())
            .await
            .map_err(err("connect"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(err("open channel"))?;
        declare_queue(&channel, &settings.queue)
            .await
            .map_err(|e| SubscribeError::new(Middleware::Rabbitmq, "declare queue", e))?;
        channel
            .basic_qos(window, BasicQosOptions::default())
            .await
            .map_err(err("set prefetch"))?;
        let consumer = channel
            .basic_consume(
                settings.queue.as_str().into(),
                "brokerbench-subscriber".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err("consume"))?;
        Ok(Self {
            _connection: connection,
            consumer,
        })
    }

    pub async fn run(
        mut self,
        metrics: SubscriberMetrics,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SubscribeError> {
        tokio::pin!(shutdown);
        loop {
            let delivery = tokio::select! {
                () = &mut shutdown => return Ok(()),
                d = self.consumer.next() => match d {
                    Some(d) => d.map_err(err("receive"))?,
                    None => return Ok(()),
                },
            };
            match decode(&delivery.data, &metrics) {
                Some(envelope) => {
                    if tx
                        .send(Delivery::new(envelope, Acker::Rabbitmq(delivery.acker)))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
                None => {
                    let _ = delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await;
                }
            }
        }
    }
}
