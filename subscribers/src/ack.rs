//! Acknowledging a delivery to the middleware it came from, after MongoDB stored it.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::oneshot;

use crate::kafka::KafkaAck;
use crate::pubsub::PubsubAck;
use crate::redis::RedisAck;
use crate::resend::Resend;
use brokerbench_common::middleware::BoxError;

#[expect(
    clippy::large_enum_variant,
    reason = "moved once through the sink per delivery; boxing the JetStream message would cost an allocation per delivery instead"
)]
pub enum Acker {
    /// The gRPC `Deliver` call waits on this; dropping it unsent reports a failure to the caller.
    Grpc(oneshot::Sender<()>),
    /// Core NATS has no acknowledgement and no redelivery: a case whose write failed is held
    /// in memory and handed back to the sink ([`Resend`]).
    NatsCore(Resend),
    NatsJetstream(async_nats::jetstream::Message),
    Rabbitmq(lapin::Acker),
    Pubsub(PubsubAck),
    Redis(RedisAck),
    /// Kafka commits positions, not messages: see [`KafkaAck`].
    Kafka(KafkaAck),
}

impl Acker {
    /// The envelope is safely stored (or was already): the middleware may forget it.
    pub async fn ack(self) -> Result<(), BoxError> {
        match self {
            Self::Grpc(done) => done.send(()).map_err(|()| "gRPC caller went away".into()),
            Self::NatsCore(_) => Ok(()),
            Self::NatsJetstream(message) => message.ack().await,
            Self::Rabbitmq(acker) => acker
                .ack(BasicAckOptions::default())
                .await
                .map(drop)
                .map_err(Into::into),
            Self::Pubsub(ack) => ack.ack().await,
            Self::Redis(ack) => ack.ack().await,
            Self::Kafka(ack) => ack.ack(),
        }
    }

    /// Storing failed: ask the middleware to deliver the envelope again.
    pub async fn nack(self) -> Result<(), BoxError> {
        match self {
            Self::Grpc(done) => {
                drop(done);
                Ok(())
            }
            // Without its envelope, a core NATS case cannot be held: see `Delivery::retry_after`.
            Self::NatsCore(_) => Ok(()),
            Self::NatsJetstream(message) => message.ack_with(AckKind::Nak(None)).await,
            Self::Rabbitmq(acker) => acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .map(drop)
                .map_err(Into::into),
            Self::Pubsub(ack) => ack.nack().await,
            Self::Redis(ack) => {
                ack.nack();
                Ok(())
            }
            // Its offset stays uncommitted: the group reads it again after a restart.
            Self::Kafka(_) => Ok(()),
        }
    }
}

impl Acker {
    /// Storing failed: ask the middleware to deliver the envelope again, not before `delay`, so
    /// that a store that is away or a document it refuses does not come back in a tight loop.
    /// Returns at once: where the middleware cannot be told a delay, the nack is sent from a task
    /// of its own once `delay` is over, and the delivery holds its place in the consumer window
    /// until then.
    pub async fn nack_after(self, delay: Duration) -> Result<(), BoxError> {
        match self {
            Self::NatsJetstream(message) => message.ack_with(AckKind::Nak(Some(delay))).await,
            // The caller retries when it sees the failure, so it must see it now.
            Self::Grpc(_) | Self::NatsCore(_) | Self::Kafka(_) => self.nack().await,
            // An entry left pending comes again only after the claim idle time: its own delay.
            Self::Redis(_) => self.nack().await,
            Self::Rabbitmq(_) | Self::Pubsub(_) => {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Err(e) = self.nack().await {
                        tracing::warn!(error = %e, "nack failed; the middleware may redeliver later");
                    }
                });
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc(_) => "Acker::Grpc",
            Self::NatsCore(_) => "Acker::NatsCore",
            Self::NatsJetstream(_) => "Acker::NatsJetstream",
            Self::Rabbitmq(_) => "Acker::Rabbitmq",
            Self::Pubsub(_) => "Acker::Pubsub",
            Self::Redis(_) => "Acker::Redis",
            Self::Kafka(_) => "Acker::Kafka",
        })
    }
}
