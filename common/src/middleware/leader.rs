//! Which node of a clustered path leads now, as its broker tells a client: where a fault aimed
//! at the leader (`node-kill@…:leader`) strikes. One closed match, so a new middleware is pointed
//! at by the compiler.

use super::{Middleware, PathError, nats};
use crate::settings::BrokerSettings;

/// The name of the node leading path `m`'s queue or stream now (as the node names itself), if
/// the broker tells it and there is one.
pub async fn leader(m: Middleware, settings: &BrokerSettings) -> Result<Option<String>, PathError> {
    match m {
        Middleware::Nats => nats::stream_leader(&settings.nats).await,
        Middleware::Grpc
        | Middleware::Rabbitmq
        | Middleware::Pubsub
        | Middleware::Redis
        | Middleware::Kafka => Ok(None),
    }
}
