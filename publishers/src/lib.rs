//! Publishers: the ingress's side of each middleware.
//!
//! [`Publisher`] is a closed enum over the paths (the set is fixed, so an enum beats a trait
//! object: no boxing, exhaustive matches). Every variant is a cheap clone sharing one long-lived
//! connection, and `publish` returns only after the middleware acknowledged every envelope. The
//! topology both sides share (streams, queues, topics) lives in `brokerbench_common::middleware`.

mod grpc;
mod kafka;
mod nats;
mod pubsub;
mod rabbitmq;
mod redis;

use brokerbench_common::envelope::Envelope;
pub use brokerbench_common::middleware::PathError;
use brokerbench_common::settings::{BrokerSettings, Middleware};

pub use grpc::GrpcPublisher;
pub use kafka::KafkaPublisher;
pub use nats::NatsPublisher;
pub use pubsub::PubsubPublisher;
pub use rabbitmq::RabbitmqPublisher;
pub use redis::RedisPublisher;

#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per path and process, cloned per request as a whole: boxing would add an indirection to every publish for nothing"
)]
pub enum Publisher {
    Grpc(GrpcPublisher),
    Nats(NatsPublisher),
    Rabbitmq(RabbitmqPublisher),
    Pubsub(PubsubPublisher),
    Redis(RedisPublisher),
    Kafka(KafkaPublisher),
}

impl Publisher {
    /// Opens the long-lived connection of one path and prepares its topology (stream, queue, topic).
    pub async fn connect(
        middleware: Middleware,
        settings: &BrokerSettings,
    ) -> Result<Self, PathError> {
        let durability = settings.path.durability;
        Ok(match middleware {
            Middleware::Grpc => Self::Grpc(GrpcPublisher::connect(&settings.grpc)?),
            Middleware::Nats => {
                Self::Nats(NatsPublisher::connect(&settings.nats, durability).await?)
            }
            Middleware::Rabbitmq => {
                Self::Rabbitmq(RabbitmqPublisher::connect(&settings.rabbitmq, durability).await?)
            }
            Middleware::Pubsub => Self::Pubsub(PubsubPublisher::connect(&settings.pubsub).await?),
            Middleware::Redis => Self::Redis(RedisPublisher::connect(&settings.redis).await?),
            Middleware::Kafka => {
                Self::Kafka(KafkaPublisher::connect(&settings.kafka, durability).await?)
            }
        })
    }

    pub fn middleware(&self) -> Middleware {
        match self {
            Self::Grpc(_) => Middleware::Grpc,
            Self::Nats(_) => Middleware::Nats,
            Self::Rabbitmq(_) => Middleware::Rabbitmq,
            Self::Pubsub(_) => Middleware::Pubsub,
            Self::Redis(_) => Middleware::Redis,
            Self::Kafka(_) => Middleware::Kafka,
        }
    }

    /// Why this publisher cannot publish right now (its connection is down), if it cannot.
    /// Paths whose client reconnects on the next call (gRPC, Pub/Sub, Redis, Kafka) are
    /// always ready here; a publish that fails then says why.
    pub fn not_ready(&self) -> Option<String> {
        match self {
            Self::Nats(p) => p.not_ready(),
            Self::Rabbitmq(p) => p.disconnected(),
            Self::Grpc(_) | Self::Pubsub(_) | Self::Redis(_) | Self::Kafka(_) => None,
        }
    }

    /// Hands every envelope to the middleware and returns once all were acknowledged.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        match self {
            Self::Grpc(p) => p.publish(batch).await,
            Self::Nats(p) => p.publish(batch).await,
            Self::Rabbitmq(p) => p.publish(batch).await,
            Self::Pubsub(p) => p.publish(batch).await,
            Self::Redis(p) => p.publish(batch).await,
            Self::Kafka(p) => p.publish(batch).await,
        }
    }
}
