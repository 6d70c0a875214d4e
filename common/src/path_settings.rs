//! What the settings of every path share and each middleware's block builds on: the durability
//! asked of every path, the consumer window, what a path guarantees, and the trait each block
//! implements. It depends on no middleware, so the middlewares and the settings that gather them
//! both depend on it and not on each other.

use std::fmt;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// How durable every path is asked to be; each takes its nearest equivalent, and the report
/// prints what each path guaranteed (see [`MiddlewareSettings::guarantee`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// On disk before the publish is acknowledged: JetStream file storage, RabbitMQ persistent
    /// messages.
    Disk,
    /// In the broker's memory: JetStream memory storage, RabbitMQ transient messages.
    Memory,
}

/// The settings all paths share, so that they are compared alike.
#[derive(Debug, Clone, Copy, Args)]
pub struct PathSettings {
    /// Deliveries a subscriber may hold unacknowledged, on every path alike: RabbitMQ prefetch,
    /// JetStream max_ack_pending, Pub/Sub flow control (enforced by the subscriber too, because
    /// the emulator ignores it).
    #[arg(long = "consumer-window", env = "BB_CONSUMER_WINDOW", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub consumer_window: u16,
    #[arg(long = "durability", env = "BB_DURABILITY", value_enum, default_value_t = Durability::Disk)]
    pub durability: Durability,
}

/// What a path guarantees with given settings: whether an acknowledged case survives a broker
/// restart, and how, in words for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarantee {
    pub durable: bool,
    pub text: &'static str,
}

/// The command-line spelling of a value of a clap `ValueEnum`.
pub fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&value_name(self))
    }
}

/// What one middleware's block of settings gives the shared code. Every block is reached through
/// [`BrokerSettings::block`], one exhaustive match, so a new middleware's block is pointed at by
/// the compiler instead of being left out of a hand-written list.
pub trait MiddlewareSettings {
    /// The block as command-line options, as the child processes of a run get it.
    fn to_args(&self) -> Vec<String>;
    /// Names of this path's own (stream, queue, topic, subscription, consumer group) for a run or
    /// test tagged `tag`.
    fn isolate(&mut self, tag: &str);
    /// Where its broker (gRPC: the subscriber) is, without credentials: safe to record and show.
    fn endpoint(&self) -> String;
    /// What the path guarantees with this block and the durability every path is asked for.
    fn guarantee(&self, durability: Durability) -> Guarantee;
}

/// `url` without the user and password it may carry (`amqp://user:pass@host:5672/` becomes
/// `amqp://host:5672/`).
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_left_out_of_endpoints() {
        assert_eq!(
            without_credentials("amqp://bb:secret@127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert_eq!(
            without_credentials("redis://:p@ss@host:6379"),
            "redis://host:6379"
        );
        assert_eq!(
            without_credentials("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(without_credentials("127.0.0.1:50051"), "127.0.0.1:50051");
    }
}
