//! RabbitMQ path: a consumer with manual acks and a prefetch limit on the durable queue.

use std::future::Future;

use brokerbench_common::middleware::rabbitmq::{declare_queue, open};
use brokerbench_common::settings::{Middleware, RabbitmqSettings};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use lapin::{Connection, Consumer};
use tokio::sync::mpsc;

use crate::{Acker, Delivery, PathError, SubscriberMetrics, decode};

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> PathError {
    PathError::during(Middleware::Rabbitmq, action)
}

pub struct RabbitmqSource {
    _connection: Connection,
    consumer: Consumer,
}

impl RabbitmqSource {
    /// Consumes with at most `window` unacknowledged deliveries (basic.qos prefetch).
    pub async fn connect(settings: &RabbitmqSettings, window: u16) -> Result<Self, PathError> {
        let (connection, channel) = open(settings, "subscriber").await?;
        declare_queue(&channel, &settings.queue).await?;
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
    ) -> Result<(), PathError> {
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
