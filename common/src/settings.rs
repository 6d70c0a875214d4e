//! Connection settings, one block per middleware, shared by the publisher and subscriber side so
//! both always agree on addresses and names. Every option can come from an environment variable
//! (shown by `--help`), which is how docker compose and the bench runner configure processes.

use std::fmt;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// The four middlewares under comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Middleware {
    Grpc,
    Nats,
    Rabbitmq,
    Pubsub,
}

impl Middleware {
    pub const ALL: [Middleware; 4] = [Self::Grpc, Self::Nats, Self::Rabbitmq, Self::Pubsub];

    pub fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Nats => "nats",
            Self::Rabbitmq => "rabbitmq",
            Self::Pubsub => "pubsub",
        }
    }

    /// The MongoDB collection this path's subscriber writes to.
    pub fn collection(self) -> String {
        format!("cases_{}", self.name())
    }
}

impl fmt::Display for Middleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Args)]
pub struct GrpcSettings {
    /// gRPC subscriber address: where the subscriber listens and the ingress connects (host:port).
    #[arg(
        id = "grpc-addr",
        long = "grpc-addr",
        env = "BB_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatsMode {
    /// Core NATS: publish + flush; at most once, nothing is redelivered.
    Core,
    /// JetStream: publish awaits the PubAck; durable consumer with explicit acks (at least once).
    Jetstream,
}

#[derive(Debug, Clone, Args)]
pub struct NatsSettings {
    #[arg(
        id = "nats-url",
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,
    #[arg(id = "nats-mode", long = "nats-mode", env = "BB_NATS_MODE", value_enum, default_value_t = NatsMode::Jetstream)]
    pub mode: NatsMode,
    #[arg(
        id = "nats-subject",
        long = "nats-subject",
        env = "BB_NATS_SUBJECT",
        default_value = "brokerbench.cases"
    )]
    pub subject: String,
    /// JetStream stream capturing the subject (created if missing).
    #[arg(
        id = "nats-stream",
        long = "nats-stream",
        env = "BB_NATS_STREAM",
        default_value = "BROKERBENCH_CASES"
    )]
    pub stream: String,
    /// Durable JetStream consumer name of the subscriber.
    #[arg(
        id = "nats-consumer",
        long = "nats-consumer",
        env = "BB_NATS_CONSUMER",
        default_value = "brokerbench-subscriber"
    )]
    pub consumer: String,
}

#[derive(Debug, Clone, Args)]
pub struct RabbitmqSettings {
    #[arg(
        id = "amqp-url",
        long = "amqp-url",
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,
    /// Durable queue (declared if missing by both sides).
    #[arg(
        id = "rabbitmq-queue",
        long = "rabbitmq-queue",
        env = "BB_RABBITMQ_QUEUE",
        default_value = "brokerbench.cases"
    )]
    pub queue: String,
}

#[derive(Debug, Clone, Args)]
pub struct PubsubSettings {
    #[arg(
        id = "pubsub-project",
        long = "pubsub-project",
        env = "PUBSUB_PROJECT_ID",
        default_value = "brokerbench-local"
    )]
    pub project: String,
    /// Topic id (created if missing; at least 3 characters).
    #[arg(
        id = "pubsub-topic",
        long = "pubsub-topic",
        env = "BB_PUBSUB_TOPIC",
        default_value = "brokerbench-cases"
    )]
    pub topic: String,
    /// Subscription id (created if missing; at least 3 characters).
    #[arg(
        id = "pubsub-subscription",
        long = "pubsub-subscription",
        env = "BB_PUBSUB_SUBSCRIPTION",
        default_value = "brokerbench-cases-sub"
    )]
    pub subscription: String,
    /// host:port of the Pub/Sub emulator; when unset, Google Cloud with default credentials.
    #[arg(
        id = "pubsub-emulator-host",
        long = "pubsub-emulator-host",
        env = "PUBSUB_EMULATOR_HOST"
    )]
    pub emulator_host: Option<String>,
}

impl PubsubSettings {
    pub fn topic_path(&self) -> String {
        format!("projects/{}/topics/{}", self.project, self.topic)
    }
    pub fn subscription_path(&self) -> String {
        format!(
            "projects/{}/subscriptions/{}",
            self.project, self.subscription
        )
    }
}

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

impl Middleware {
    /// What this path guarantees under `settings`.
    pub fn guarantee(self, settings: &BrokerSettings) -> Guarantee {
        let disk = settings.path.durability == Durability::Disk;
        let (durable, text) = match self {
            Self::Grpc => (
                false,
                "no broker: the ingress hands each case to the subscriber directly; nothing is kept before the store",
            ),
            Self::Nats if settings.nats.mode == NatsMode::Core => (
                false,
                "core NATS: at most once, in memory, nothing redelivered",
            ),
            Self::Nats if disk => (
                true,
                "JetStream file storage, acknowledged publish; fsynced per the server's sync_interval (scripts/stack: always)",
            ),
            Self::Nats => (
                false,
                "JetStream memory storage, acknowledged publish: lost if the server stops",
            ),
            Self::Rabbitmq if disk => (
                true,
                "durable queue, persistent messages, publisher confirms (on disk before the confirm)",
            ),
            Self::Rabbitmq => (
                false,
                "durable queue, transient messages, publisher confirms: lost if the broker stops",
            ),
            Self::Pubsub if settings.pubsub.emulator_host.is_some() => (
                false,
                "Pub/Sub emulator: in memory, not durable in either profile",
            ),
            Self::Pubsub => (
                true,
                "Google Cloud Pub/Sub: stored by the service before the publish returns",
            ),
        };
        Guarantee { durable, text }
    }
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
}

impl BrokerSettings {
    /// These settings as command-line options, for the child processes of a run: every option
    /// given to `run` reaches the ingress and the subscribers.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--consumer-window={}", self.path.consumer_window),
            format!("--durability={}", self.path.durability),
            format!("--grpc-addr={}", self.grpc.addr),
            format!("--nats-url={}", self.nats.url),
            format!("--nats-mode={}", value_name(&self.nats.mode)),
            format!("--nats-subject={}", self.nats.subject),
            format!("--nats-stream={}", self.nats.stream),
            format!("--nats-consumer={}", self.nats.consumer),
            format!("--amqp-url={}", self.rabbitmq.url),
            format!("--rabbitmq-queue={}", self.rabbitmq.queue),
            format!("--pubsub-project={}", self.pubsub.project),
            format!("--pubsub-topic={}", self.pubsub.topic),
            format!("--pubsub-subscription={}", self.pubsub.subscription),
        ];
        args.extend(
            self.pubsub
                .emulator_host
                .iter()
                .map(|h| format!("--pubsub-emulator-host={h}")),
        );
        args
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
    fn to_args_round_trips_every_setting() {
        let given = Both::parse_from([
            "t",
            "--nats-mode=core",
            "--consumer-window=7",
            "--durability=memory",
            "--pubsub-emulator-host=127.0.0.1:1",
            "--rabbitmq-queue=q2",
            "--grpc-addr=127.0.0.1:9",
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
