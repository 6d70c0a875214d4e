//! Acknowledging a delivery to the middleware it came from, after MongoDB stored it.

use std::fmt;

use async_nats::jetstream::AckKind;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::oneshot;

use crate::pubsub::PubsubAck;
use crate::redis::RedisAck;
use brokerbench_common::middleware::BoxError;

#[expect(
    clippy::large_enum_variant,
    reason = "moved once through the sink per delivery; boxing the JetStream message would cost an allocation per delivery instead"
)]
pub enum Acker {
    /// The gRPC `Deliver` call waits on this; dropping it unsent reports a failure to the caller.
    Grpc(oneshot::Sender<()>),
    /// Core NATS has no acknowledgement: what is not stored is lost (at most once).
    NatsCore,
    NatsJetstream(async_nats::jetstream::Message),
    Rabbitmq(lapin::Acker),
    Pubsub(PubsubAck),
    Redis(RedisAck),
}

impl Acker {
    /// The envelope is safely stored (or was already): the middleware may forget it.
    pub async fn ack(self) -> Result<(), BoxError> {
        match self {
            Self::Grpc(done) => done.send(()).map_err(|()| "gRPC caller went away".into()),
            Self::NatsCore => Ok(()),
            Self::NatsJetstream(message) => message.ack().await,
            Self::Rabbitmq(acker) => acker
                .ack(BasicAckOptions::default())
                .await
                .map(drop)
                .map_err(Into::into),
            Self::Pubsub(ack) => ack.ack().await,
            Self::Redis(ack) => ack.ack().await,
        }
    }

    /// Storing failed: ask the middleware to deliver the envelope again.
    pub async fn nack(self) -> Result<(), BoxError> {
        match self {
            Self::Grpc(done) => {
                drop(done);
                Ok(())
            }
            Self::NatsCore => Ok(()),
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
        }
    }
}

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc(_) => "Acker::Grpc",
            Self::NatsCore => "Acker::NatsCore",
            Self::NatsJetstream(_) => "Acker::NatsJetstream",
            Self::Rabbitmq(_) => "Acker::Rabbitmq",
            Self::Pubsub(_) => "Acker::Pubsub",
            Self::Redis(_) => "Acker::Redis",
        })
    }
}
