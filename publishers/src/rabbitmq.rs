//! RabbitMQ path: durable queue, persistent (profile `disk`) or transient (`memory`) messages,
//! publisher confirms awaited, `mandatory` set so that a message no queue took is an error.
//!
//! lapin does not reconnect here, so the publisher does: a supervisor task watches the
//! connection and channel every clone shares, and when either fails it opens new ones (declaring
//! the queue and confirm mode again) with backoff, 100 ms doubling up to 5 s. Until then
//! `publish` fails at once, saying so, rather than waiting: the ingress answers 5xx and the client
//! retries, and `/healthz` shows why ([`RabbitmqPublisher::disconnected`]).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::rabbitmq::{declare_queue, open};
use brokerbench_common::settings::{Durability, Middleware, RabbitmqSettings};
use futures::future::try_join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use tokio::sync::Notify;

use crate::PathError;

/// AMQP delivery mode 2: the broker writes the message to disk before confirming it.
const PERSISTENT: u8 = 2;
/// AMQP delivery mode 1: the broker keeps the message in memory.
const TRANSIENT: u8 = 1;
/// How often the supervisor looks at the connection when no publish reported a failure.
const WATCH_EVERY: Duration = Duration::from_millis(250);
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Longest wait for a new connection and channel while reconnecting.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn err(action: &'static str) -> impl FnOnce(lapin::Error) -> PathError {
    PathError::during(Middleware::Rabbitmq, action)
}

/// A cheap handle: every clone publishes on the same connection, replaced after a failure.
#[derive(Debug, Clone)]
pub struct RabbitmqPublisher {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    link: Mutex<Link>,
    queue: String,
    delivery_mode: u8,
    /// Wakes the supervisor when a publish failed, so it need not wait for its next look.
    failed: Arc<Notify>,
}

#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per publisher, replaced only when the connection is"
)]
enum Link {
    Up {
        /// Kept so the connection lives as long as the link; dropping it closes the connection.
        _connection: Connection,
        channel: Channel,
    },
    /// Lost; the supervisor is opening a new one. Why it was lost, or why the last attempt failed.
    Reconnecting(String),
}

impl RabbitmqPublisher {
    pub async fn connect(
        settings: &RabbitmqSettings,
        durability: Durability,
    ) -> Result<Self, PathError> {
        let link = open_link(settings).await?;
        let delivery_mode = match durability {
            Durability::Disk => PERSISTENT,
            Durability::Memory => TRANSIENT,
        };
        let failed = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            link: Mutex::new(link),
            queue: settings.queue.clone(),
            delivery_mode,
            failed: failed.clone(),
        });
        tokio::spawn(supervise(Arc::downgrade(&shared), failed, settings.clone()));
        Ok(Self { shared })
    }

    /// `None` while connected; else why not (the publisher is reconnecting meanwhile).
    pub fn disconnected(&self) -> Option<String> {
        match &*self.shared.lock() {
            Link::Up { channel, .. } if channel.status().connected() => None,
            Link::Up { .. } => Some("connection lost; reconnecting".into()),
            Link::Reconnecting(why) => Some(format!("reconnecting: {why}")),
        }
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let channel = self.channel()?;
        let result = self.publish_on(&channel, batch).await;
        if result.is_err() && !channel.status().connected() {
            self.shared.failed.notify_one();
        }
        result
    }

    /// The channel to publish on, or at once an error if there is none right now.
    fn channel(&self) -> Result<Channel, PathError> {
        let reconnecting = |why: String| {
            PathError::new(
                Middleware::Rabbitmq,
                "publish",
                format!("reconnecting: {why}"),
            )
        };
        match &*self.shared.lock() {
            Link::Up { channel, .. } if channel.status().connected() => Ok(channel.clone()),
            Link::Up { .. } => {
                self.shared.failed.notify_one();
                Err(reconnecting("the connection was lost".into()))
            }
            Link::Reconnecting(why) => Err(reconnecting(why.clone())),
        }
    }

    async fn publish_on(&self, channel: &Channel, batch: &[Envelope]) -> Result<(), PathError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(self.shared.delivery_mode)
            .with_content_type("application/x-protobuf".into());
        let mut confirms = Vec::with_capacity(batch.len());
        for envelope in batch {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    self.shared.queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &envelope.to_bytes(),
                    properties.clone(),
                )
                .await
                .map_err(err("publish"))?;
            confirms.push(confirm);
        }
        for confirmation in try_join_all(confirms).await.map_err(err("await confirm"))? {
            let text = match confirmation {
                Confirmation::Ack(None) => continue,
                // The broker confirms an unroutable mandatory message after returning it.
                Confirmation::Ack(Some(returned)) => format!(
                    "the broker returned the message, no queue took it: {} {} (queue {})",
                    returned.reply_code, returned.reply_text, self.shared.queue
                ),
                Confirmation::Nack(_) => "broker did not confirm the message (nack)".into(),
                Confirmation::NotRequested => "the channel is not in confirm mode".into(),
            };
            return Err(PathError::new(Middleware::Rabbitmq, "await confirm", text));
        }
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn no_answer() -> PathError {
    let text = format!("no answer within {RECONNECT_TIMEOUT:?}");
    PathError::new(Middleware::Rabbitmq, "reconnect", text)
}

/// A connection, its channel, the queue declared and confirm mode on.
async fn open_link(settings: &RabbitmqSettings) -> Result<Link, PathError> {
    let (connection, channel) = open(settings, "publisher").await?;
    declare_queue(&channel, &settings.queue).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(err("confirm select"))?;
    Ok(Link::Up {
        _connection: connection,
        channel,
    })
}

/// Watches the link of the publisher behind `shared` and replaces it when it fails, until every
/// clone of the publisher is gone.
async fn supervise(shared: Weak<Shared>, failed: Arc<Notify>, settings: RabbitmqSettings) {
    loop {
        tokio::select! {
            () = failed.notified() => {}
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let Some(publisher) = shared.upgrade() else {
            return;
        };
        let lost = match &*publisher.lock() {
            Link::Up { channel, .. } if channel.status().connected() => None,
            Link::Up { .. } => Some("the connection or channel closed".to_string()),
            Link::Reconnecting(why) => Some(why.clone()),
        };
        let Some(mut why) = lost else {
            continue;
        };
        tracing::warn!(error = %why, "rabbitmq: publisher connection lost; reconnecting");
        *publisher.lock() = Link::Reconnecting(why.clone());
        drop(publisher);
        let mut delay = FIRST_DELAY;
        loop {
            tokio::time::sleep(delay).await;
            let Some(publisher) = shared.upgrade() else {
                return;
            };
            let opened = tokio::time::timeout(RECONNECT_TIMEOUT, open_link(&settings)).await;
            match opened.unwrap_or_else(|_| Err(no_answer())) {
                Ok(link) => {
                    *publisher.lock() = link;
                    tracing::info!("rabbitmq: publisher reconnected");
                    break;
                }
                Err(e) => {
                    why = e.to_string();
                    tracing::debug!(error = %why, "rabbitmq: publisher still reconnecting");
                    *publisher.lock() = Link::Reconnecting(why.clone());
                    delay = (delay * 2).min(MAX_DELAY);
                }
            }
        }
    }
}
