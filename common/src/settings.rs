//! Connection settings shared by the publisher and subscriber side so both always agree on
//! addresses and names: the blocks of each middleware (in [`crate::middleware`]), the settings
//! every path shares, and the store's. Every option can come from an environment variable (shown
//! by `--help`), which is how docker compose and the bench runner configure processes.

use std::fmt;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

pub use crate::middleware::Middleware;
pub use crate::middleware::grpc::GrpcSettings;
pub use crate::middleware::nats::{NatsMode, NatsSettings};
pub use crate::middleware::pubsub::PubsubSettings;
pub use crate::middleware::rabbitmq::RabbitmqSettings;
pub use crate::middleware::redis::RedisSettings;

#[derive(Debug, Clone, Args)]
pub struct MongoSettings {
    #[arg(
        id = "mongodb-uri",
        long = "mongodb-uri",
        env = "MONGODB_URI",
        default_value = "mongodb://127.0.0.1:27017/"
    )]
    pub uri: String,
    #[arg(
        id = "mongodb-db",
        long = "mongodb-db",
        env = "BB_MONGODB_DB",
        default_value = "brokerbench"
    )]
    pub db: String,
}

/// How durable every path is asked to be; each takes its nearest equivalent, and the report
/// prints what each path guaranteed (see [`Middleware::guarantee`]).
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

/// Settings of every middleware; a process uses the blocks of the paths it serves.
#[derive(Debug, Clone, Args)]
pub struct BrokerSettings {
    #[command(flatten)]
    pub path: PathSettings,
    #[command(flatten)]
    pub grpc: GrpcSettings,
    #[command(flatten)]
    pub nats: NatsSettings,
    #[command(flatten)]
    pub rabbitmq: RabbitmqSettings,
    #[command(flatten)]
    pub pubsub: PubsubSettings,
    #[command(flatten)]
    pub redis: RedisSettings,
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
}

impl BrokerSettings {
    /// The settings block of middleware `m`.
    pub fn block(&self, m: Middleware) -> &dyn MiddlewareSettings {
        match m {
            Middleware::Grpc => &self.grpc,
            Middleware::Nats => &self.nats,
            Middleware::Rabbitmq => &self.rabbitmq,
            Middleware::Pubsub => &self.pubsub,
            Middleware::Redis => &self.redis,
        }
    }

    fn block_mut(&mut self, m: Middleware) -> &mut dyn MiddlewareSettings {
        match m {
            Middleware::Grpc => &mut self.grpc,
            Middleware::Nats => &mut self.nats,
            Middleware::Rabbitmq => &mut self.rabbitmq,
            Middleware::Pubsub => &mut self.pubsub,
            Middleware::Redis => &mut self.redis,
        }
    }

    /// These settings as command-line options, for the child processes of a run: every option
    /// given to `run` reaches the ingress and the subscribers.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--consumer-window={}", self.path.consumer_window),
            format!("--durability={}", self.path.durability),
        ];
        for m in Middleware::ALL {
            args.extend(self.block(m).to_args());
        }
        args
    }

    /// Gives every path names of its own for a run or test tagged `tag`, so it starts empty and
    /// touches nobody else's.
    pub fn isolate(&mut self, tag: &str) {
        for m in Middleware::ALL {
            self.block_mut(m).isolate(tag);
        }
    }
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
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Both {
        #[command(flatten)]
        brokers: BrokerSettings,
        #[command(flatten)]
        mongo: MongoSettings,
    }

    #[test]
    fn every_option_has_a_unique_id_and_a_default() {
        Both::command().debug_assert();
        let both = Both::parse_from(["t", "--nats-mode=core", "--rabbitmq-queue=q1"]);
        assert_eq!(both.brokers.nats.mode, NatsMode::Core);
        assert_eq!(both.brokers.rabbitmq.queue, "q1");
        assert_eq!(
            both.brokers.pubsub.topic_path(),
            format!(
                "projects/{}/topics/{}",
                both.brokers.pubsub.project, both.brokers.pubsub.topic
            )
        );
    }

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

    #[test]
    fn to_args_round_trips_every_setting() {
        let given = Both::parse_from([
            "t",
            "--nats-mode=core",
            "--consumer-window=7",
            "--durability=memory",
            "--pubsub-emulator-host=127.0.0.1:1",
            "--rabbitmq-queue=q2",
            "--grpc-addr=127.0.0.1:9",
            "--redis-group=g3",
        ]);
        let again =
            Both::parse_from(std::iter::once("t".to_string()).chain(given.brokers.to_args()));
        assert_eq!(
            format!("{:?}", again.brokers),
            format!("{:?}", given.brokers)
        );
        assert_eq!(again.brokers.path.consumer_window, 7);
        assert!(
            !Middleware::Nats.guarantee(&again.brokers).durable,
            "core NATS is not durable"
        );
        assert!(
            !Middleware::Pubsub.guarantee(&again.brokers).durable,
            "the emulator is not durable"
        );
    }
}
