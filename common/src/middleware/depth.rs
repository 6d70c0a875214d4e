//! What a broker itself says it holds for a path's subscriber, read once a second by the runner
//! beside the processes' own counters (with a [`super::probe::DepthProbe`]).
//!
//! The counters alone give `published − received`: cases in the broker *and* cases already
//! delivered into the subscriber's client library but not yet handed to its code. Only the
//! broker can say how many of them it still holds undelivered, and that is what separates a
//! broker that does not deliver from a subscriber that does not take.

use serde::{Deserialize, Serialize};

/// One reading of a broker's own depth for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerDepth {
    /// Cases the broker holds and has not delivered to the subscriber yet (JetStream
    /// `num_pending`, RabbitMQ `messages_ready`, the Redis group's `lag`).
    pub ready: u64,
    /// Delivered to the subscriber and not yet acknowledged (JetStream `num_ack_pending`, the
    /// Redis group's pending list); `None` where the broker does not tell over its client
    /// protocol (RabbitMQ says it only through the management plugin, which the stack leaves off
    /// because its statistics cost the broker CPU).
    pub unacked: Option<u64>,
}
