//! Publishers: the ingress's side of each middleware.
//!
//! [`Publisher`] is a closed enum over the four paths (the set is fixed, so an enum beats a trait
//! object: no boxing, exhaustive matches). Every variant is a cheap clone sharing one long-lived
//! connection, and `publish` returns only after the middleware acknowledged every envelope.

mod grpc;
pub mod nats;
pub mod pubsub;
pub mod rabbitmq;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::settings::{BrokerSettings, Middleware};

pub use grpc::GrpcPublisher;
pub use nats::NatsPublisher;
pub use pubsub::PubsubPublisher;
pub use rabbitmq::RabbitmqPublisher;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A middleware refused, failed or did not acknowledge a publish (or a connection failed).
#[derive(Debug, thiserror::Error)]
#[error("{middleware}: {action} failed: {source}")]
pub struct PublishError {
    pub middleware: Middleware,
    pub action: &'static str,
    #[source]
    pub source: BoxError,
}

impl PublishError {
    pub(crate) fn new(
        middleware: Middleware,
        action: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            middleware,
            action,
            source: source.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Publisher {
    Grpc(GrpcPublisher),
    Nats(NatsPublisher),
    Rabbitmq(RabbitmqPublisher),
    Pubsub(PubsubPublisher),
}

impl Publisher {
    /// Opens the long-lived connection of one path and prepares its topology (stream, queue, topic).
    pub async fn connect(
        middleware: Middleware,
        settings: &BrokerSettings,
    ) -> Result<Self, PublishError> {
        Ok(match middleware {
            Middleware::Grpc => Self::Grpc(GrpcPublisher::connect(&settings.grpc)?),
            Middleware::Nats => {
                Self::Nats(NatsPublisher::connect(&settings.nats, settings.path.durability).await?)
            }
            Middleware::Rabbitmq => Self::Rabbitmq(
                RabbitmqPublisher::connect(&settings.rabbitmq, settings.path.durability).await?,
            ),
            Middleware::Pubsub => Self::Pubsub(PubsubPublisher::connect(&settings.pubsub).await?),
        })
    }

    pub fn middleware(&self) -> Middleware {
        match self {
            Self::Grpc(_) => Middleware::Grpc,
            Self::Nats(_) => Middleware::Nats,
            Self::Rabbitmq(_) => Middleware::Rabbitmq,
            Self::Pubsub(_) => Middleware::Pubsub,
        }
    }

    /// Deletes what `connect` created for this path (stream, queue, topic and subscription), for
    /// runs and tests that use names of their own. Call it once the subscriber has stopped.
    pub async fn remove_topology(
        middleware: Middleware,
        settings: &BrokerSettings,
    ) -> Result<(), PublishError> {
        match middleware {
            Middleware::Grpc => Ok(()),
            Middleware::Nats => nats::remove_stream(&settings.nats).await,
            Middleware::Rabbitmq => rabbitmq::delete_queue(&settings.rabbitmq).await,
            Middleware::Pubsub => pubsub::remove_topology(&settings.pubsub).await,
        }
    }

    /// Hands every envelope to the middleware and returns once all were acknowledged.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        match self {
            Self::Grpc(p) => p.publish(batch).await,
            Self::Nats(p) => p.publish(batch).await,
            Self::Rabbitmq(p) => p.publish(batch).await,
            Self::Pubsub(p) => p.publish(batch).await,
        }
    }
}
