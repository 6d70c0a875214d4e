//! Connection settings shared by the publisher and subscriber side so both always agree on
//! addresses and names: the blocks of each middleware (in [`crate::middleware`]), the settings
//! every path shares, and the store's. Every option can come from an environment variable (shown
//! by `--help`), which is how docker compose and the bench runner configure processes.

use clap::Args;

pub use crate::middleware::Middleware;
pub use crate::middleware::grpc::GrpcSettings;
pub use crate::middleware::kafka::KafkaSettings;
pub use crate::middleware::nats::{NatsMode, NatsSettings};
pub use crate::middleware::pubsub::PubsubSettings;
pub use crate::middleware::rabbitmq::RabbitmqSettings;
pub use crate::middleware::redis::RedisSettings;
use crate::middleware::{PathError, kafka, nats, pubsub, rabbitmq, redis};
pub use crate::path_settings::{
    Durability, Guarantee, MiddlewareSettings, PathSettings, value_name, without_credentials,
};

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
    #[command(flatten)]
    pub kafka: KafkaSettings,
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
            Middleware::Kafka => &self.kafka,
        }
    }

    fn block_mut(&mut self, m: Middleware) -> &mut dyn MiddlewareSettings {
        match m {
            Middleware::Grpc => &mut self.grpc,
            Middleware::Nats => &mut self.nats,
            Middleware::Rabbitmq => &mut self.rabbitmq,
            Middleware::Pubsub => &mut self.pubsub,
            Middleware::Redis => &mut self.redis,
            Middleware::Kafka => &mut self.kafka,
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

    /// [`Self::to_args`] as they may be shown: in `/stats`, `summary.json` and logs. Every URL
    /// loses its user and password.
    pub fn to_reported_args(&self) -> Vec<String> {
        self.to_args()
            .into_iter()
            .map(|arg| match arg.split_once('=') {
                Some((flag, value)) if value.contains("://") => {
                    format!("{flag}={}", without_credentials(value))
                }
                _ => arg,
            })
            .collect()
    }

    /// Gives every path names of its own for a run or test tagged `tag`, so it starts empty and
    /// touches nobody else's.
    pub fn isolate(&mut self, tag: &str) {
        for m in Middleware::ALL {
            self.block_mut(m).isolate(tag);
        }
    }

    /// What path `m` guarantees under these settings.
    pub fn guarantee(&self, m: Middleware) -> Guarantee {
        self.block(m).guarantee(self.path.durability)
    }

    /// Deletes what the publisher and subscriber of path `m` created (stream, queue, topic,
    /// subscription, consumer group), for runs and tests that use names of their own. Call it
    /// once the subscriber has stopped.
    pub async fn remove_topology(&self, m: Middleware) -> Result<(), PathError> {
        match m {
            Middleware::Grpc => Ok(()),
            Middleware::Nats => nats::remove_stream(&self.nats).await,
            Middleware::Rabbitmq => rabbitmq::delete_queue(&self.rabbitmq).await,
            Middleware::Pubsub => pubsub::remove_topology(&self.pubsub).await,
            Middleware::Redis => redis::remove_stream(&self.redis).await,
            Middleware::Kafka => kafka::remove_topology(&self.kafka).await,
        }
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
    fn reported_settings_carry_no_password() {
        let both = Both::parse_from([
            "t",
            "--amqp-url=amqp://bb:s3cret@127.0.0.1:5672/%2f",
            "--redis-url=redis://:s3cret@127.0.0.1:6379/",
            "--nats-url=nats://bb:s3cret@127.0.0.1:4222",
        ]);
        assert!(both.brokers.to_args().iter().any(|a| a.contains("s3cret")));
        let reported = both.brokers.to_reported_args();
        assert!(
            !reported.iter().any(|a| a.contains("s3cret")),
            "{reported:?}"
        );
        assert!(reported.contains(&"--amqp-url=amqp://127.0.0.1:5672/%2f".to_string()));
        assert_eq!(reported.len(), both.brokers.to_args().len());
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
            !again.brokers.guarantee(Middleware::Nats).durable,
            "core NATS is not durable"
        );
        assert!(
            !again.brokers.guarantee(Middleware::Pubsub).durable,
            "the emulator is not durable"
        );
    }
}
