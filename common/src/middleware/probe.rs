//! The reader of each broker's depth ([`BrokerDepth`]): one closed enum over the brokers that
//! tell it, so a new middleware is pointed at by the compiler.

use super::depth::BrokerDepth;
use super::{Middleware, PathError, nats, rabbitmq, redis};
use crate::settings::{BrokerSettings, NatsMode};

/// A connection that reads one path's broker depth.
pub enum DepthProbe {
    Nats(nats::DepthReader),
    Rabbitmq(rabbitmq::DepthReader),
    Redis(redis::DepthReader),
}

/// Why path `m` has no broker depth to read, if it has none.
pub fn unreadable(m: Middleware, settings: &BrokerSettings) -> Option<&'static str> {
    match m {
        Middleware::Grpc => Some("gRPC has no broker"),
        Middleware::Pubsub => Some("the Pub/Sub emulator reports no backlog"),
        Middleware::Kafka => Some(
            "Kafka does not know what its consumers were handed: the group's lag counts what the subscriber holds too",
        ),
        Middleware::Nats if settings.nats.mode == NatsMode::Core => {
            Some("core NATS keeps no queue")
        }
        Middleware::Nats | Middleware::Rabbitmq | Middleware::Redis => None,
    }
}

impl DepthProbe {
    /// The probe of path `m`; `None` where [`unreadable`] says why there is nothing to read.
    pub async fn connect(
        m: Middleware,
        settings: &BrokerSettings,
    ) -> Result<Option<Self>, PathError> {
        if unreadable(m, settings).is_some() {
            return Ok(None);
        }
        Ok(Some(match m {
            Middleware::Nats => Self::Nats(nats::DepthReader::connect(&settings.nats).await?),
            Middleware::Rabbitmq => Self::Rabbitmq(rabbitmq::DepthReader::new(&settings.rabbitmq)),
            Middleware::Redis => Self::Redis(redis::DepthReader::connect(&settings.redis).await?),
            Middleware::Grpc | Middleware::Pubsub | Middleware::Kafka => return Ok(None),
        }))
    }

    /// Asks the broker now. A failure (the broker down, the queue not declared yet) is an error
    /// for this reading only: the next one tries again, reconnecting where it must.
    pub async fn read(&mut self) -> Result<BrokerDepth, PathError> {
        match self {
            Self::Nats(reader) => reader.read().await,
            Self::Rabbitmq(reader) => reader.read().await,
            Self::Redis(reader) => reader.read().await,
        }
    }
}
