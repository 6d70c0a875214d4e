//! RabbitMQ path: a consumer with manual acks and a prefetch limit on the durable queue.
//!
//! lapin does not reconnect on its own here: when the connection or the channel fails, the
//! consumer ends, and this source opens a new connection and channel, declares the queue, sets
//! the prefetch and consumes again, with backoff. What the old channel held unacknowledged is
//! back in the queue (the broker requeues it when the channel closes), so nothing is lost; acks
//! the sink still sends on the old channel fail and those cases come again as duplicates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::middleware::rabbitmq::{declare_queue, open};
use brokerbench_common::settings::{Middleware, RabbitmqSettings};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use lapin::{Connection, Consumer};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::backoff::{Reconnector, Stop};
use crate::{Acker, Delivery, Health, PathError, SubscriberMetrics, decode};

/// Longest wait for a new connection, channel and consumer while reconnecting.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> PathError {
    PathError::during(Middleware::Rabbitmq, action)
}

/// A consuming connection; dropping it closes the connection.
struct Consuming {
    _connection: Connection,
    consumer: Consumer,
}

impl Consuming {
    /// Consumes with at most `window` unacknowledged deliveries (basic.qos prefetch).
    async fn open(settings: &RabbitmqSettings, window: u16) -> Result<Self, PathError> {
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
}

pub struct RabbitmqSource {
    settings: RabbitmqSettings,
    window: u16,
    consuming: Consuming,
}

impl RabbitmqSource {
    /// Connects once: a broker that is not there at start is an error, not a wait.
    pub async fn connect(settings: RabbitmqSettings, window: u16) -> Result<Self, PathError> {
        let consuming = Consuming::open(&settings, window).await?;
        Ok(Self {
            settings,
            window,
            consuming,
        })
    }

    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        tokio::pin!(shutdown);
        let mut reconnector = Reconnector::new(Middleware::Rabbitmq, &metrics, health);
        let mut consuming = self.consuming;
        loop {
            let lost =
                match consume(&mut consuming.consumer, &metrics, &tx, shutdown.as_mut()).await {
                    Stop::Done => return Ok(()),
                    Stop::Lost(why) => why,
                };
            drop(consuming);
            let reopen = || {
                timeout(
                    RECONNECT_TIMEOUT,
                    Consuming::open(&self.settings, self.window),
                )
            };
            let reopened = reconnector.restore(lost, shutdown.as_mut(), || async {
                match reopen().await {
                    Ok(opened) => opened.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {RECONNECT_TIMEOUT:?}")),
                }
            });
            match reopened.await {
                Some(c) => consuming = c,
                None => return Ok(()),
            }
        }
    }
}

/// Forwards deliveries into `tx` until shutdown, the sink goes away or the consumer fails.
async fn consume(
    consumer: &mut Consumer,
    metrics: &SubscriberMetrics,
    tx: &mpsc::Sender<Delivery>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Stop {
    loop {
        let delivery = tokio::select! {
            () = &mut shutdown => return Stop::Done,
            d = consumer.next() => match d {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Stop::Lost(e.to_string()),
                None => return Stop::Lost("the broker ended the consumer".into()),
            },
        };
        match decode(&delivery.data, metrics) {
            Some(envelope) => {
                if tx
                    .send(Delivery::new(envelope, Acker::Rabbitmq(delivery.acker)))
                    .await
                    .is_err()
                {
                    return Stop::Done;
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
