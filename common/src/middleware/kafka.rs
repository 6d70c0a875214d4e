//! Apache Kafka: an idempotent producer (`acks=all`) appends each case to one topic, keyed by
//! its id; a consumer group reads it and commits an offset only once every case before it in its
//! partition is stored. The topic is created here by both sides (idempotent), with the
//! durability profile as its own `flush.messages`, so the guarantee does not hang on how the
//! broker was configured.

use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::{AsyncRuntime as _, TokioRuntime};

use super::{Middleware, PathError};
use crate::path_settings::{Durability, Guarantee, MiddlewareSettings};

/// How long an administrative request (create or delete a topic or group) may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a group's removal waits for its members to be gone: longer than the subscribers'
/// session timeout (6 s, `subscribers/src/kafka.rs`), after which a killed one is no member.
const GROUP_EMPTY_WAIT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Args)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated (`host:port,host:port`).
    #[arg(
        id = "kafka-brokers",
        long = "kafka-brokers",
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
    /// Topic the ingress appends to (created if missing).
    #[arg(
        id = "kafka-topic",
        long = "kafka-topic",
        env = "BB_KAFKA_TOPIC",
        default_value = "brokerbench.cases"
    )]
    pub topic: String,
    /// Consumer group of the subscribers.
    #[arg(
        id = "kafka-group",
        long = "kafka-group",
        env = "BB_KAFKA_GROUP",
        default_value = "brokerbench-subscriber"
    )]
    pub group: String,
    /// Partitions of a topic created here (an existing topic keeps its own). Cases are keyed by
    /// id, so each lands in one partition and keeps its order there. One, by measurement with one
    /// subscriber (2026-12-05, three runs each, medians): the middleware ceiling 30,144 cases/s
    /// with 1 partition, 17,490 with 3; e2e p50 at 500/s 2.91 ms against 3.06, CPU 15.9 s per
    /// 10k cases against 17.0.
    #[arg(
        id = "kafka-partitions",
        long = "kafka-partitions",
        env = "BB_KAFKA_PARTITIONS",
        default_value_t = 1,
        value_parser = clap::value_parser!(i32).range(1..=1000)
    )]
    pub partitions: i32,
}

impl KafkaSettings {
    /// The settings every client of this path starts from.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "brokerbench");
        config
    }
}

impl MiddlewareSettings for KafkaSettings {
    fn to_args(&self) -> Vec<String> {
        vec![
            format!("--kafka-brokers={}", self.brokers),
            format!("--kafka-topic={}", self.topic),
            format!("--kafka-group={}", self.group),
            format!("--kafka-partitions={}", self.partitions),
        ]
    }

    /// Names of this path's own, for a run or test tagged `tag`.
    fn isolate(&mut self, tag: &str) {
        self.topic = format!("brokerbench.{tag}");
        self.group = format!("bb-{tag}");
    }

    fn endpoint(&self) -> String {
        self.brokers.clone()
    }

    fn guarantee(&self, durability: Durability) -> Guarantee {
        guarantee(durability)
    }
}

fn guarantee(durability: Durability) -> Guarantee {
    match durability {
        Durability::Disk => Guarantee {
            durable: true,
            text: "acks=all from an idempotent producer; the topic's flush.messages=1: fsynced before the broker acknowledges",
        },
        Durability::Memory => Guarantee {
            durable: false,
            text: "acks=all from an idempotent producer; written to the broker's page cache, fsynced when the OS flushes",
        },
    }
}

fn err<E: Into<super::BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Kafka, action)
}

fn admin(settings: &KafkaSettings) -> Result<AdminClient<DefaultClientContext>, PathError> {
    settings
        .client_config()
        .create()
        .map_err(err("create an admin client"))
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT))
}

/// The topic's own configuration for `durability`: `disk` fsyncs every message before the
/// broker acknowledges it, as the other paths' disk profiles do.
fn topic_flush_messages(durability: Durability) -> Option<&'static str> {
    match durability {
        Durability::Disk => Some("1"),
        Durability::Memory => None,
    }
}

/// Creates the topic unless it exists (both sides call it, so the subscriber's group can start
/// at its beginning before the first case).
pub async fn ensure_topic(
    settings: &KafkaSettings,
    durability: Durability,
) -> Result<(), PathError> {
    let mut topic = NewTopic::new(
        &settings.topic,
        settings.partitions,
        TopicReplication::Fixed(1),
    );
    if let Some(flush) = topic_flush_messages(durability) {
        topic = topic.set("flush.messages", flush);
    }
    let results = admin(settings)?
        .create_topics([&topic], &admin_options())
        .await
        .map_err(err("create topic"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(err("create topic")(format!("{name}: {code}"))),
        }
    }
    Ok(())
}

/// Deletes the topic and the subscribers' group.
pub async fn remove_topology(settings: &KafkaSettings) -> Result<(), PathError> {
    let admin = admin(settings)?;
    let options = admin_options();
    for result in admin
        .delete_topics(&[&settings.topic], &options)
        .await
        .map_err(err("delete topic"))?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => return Err(err("delete topic")(format!("{name}: {code}"))),
        }
    }
    delete_group(&admin, &settings.group, &options).await
}

/// Deletes consumer group `group`, once its members are gone: a subscriber that was killed stays
/// a member until its session times out, so a group still in use is asked again, for up to
/// [`GROUP_EMPTY_WAIT`].
async fn delete_group(
    admin: &AdminClient<DefaultClientContext>,
    group: &str,
    options: &AdminOptions,
) -> Result<(), PathError> {
    let deadline = Instant::now() + GROUP_EMPTY_WAIT;
    loop {
        let results = admin
            .delete_groups(&[group], options)
            .await
            .map_err(err("delete group"))?;
        match results.into_iter().find_map(Result::err) {
            None | Some((_, RDKafkaErrorCode::GroupIdNotFound)) => return Ok(()),
            Some((_, RDKafkaErrorCode::NonEmptyGroup)) if Instant::now() < deadline => {
                TokioRuntime::delay_for(Duration::from_millis(500)).await;
            }
            Some((name, code)) => return Err(err("delete group")(format!("{name}: {code}"))),
        }
    }
}

/// The running broker's version, from the jar its JVM loaded: `kafka_<scala>-<version>.jar` on
/// the classpath of the `kafka.Kafka` process, named there or in a directory listed as `dir/*`
/// (as `scripts/stack` starts it). Kafka has no `--version` of its own without starting a JVM
/// (seconds), and the protocol does not carry the broker's version.
pub fn broker_version() -> Option<String> {
    procfs::process::all_processes()
        .ok()?
        .flatten()
        .find_map(|p| {
            let args = p.cmdline().ok()?;
            if !args.iter().any(|a| a == "kafka.Kafka") {
                return None;
            }
            let flag = args.iter().position(|a| a == "-cp" || a == "-classpath")?;
            version_in_classpath(args.get(flag + 1)?)
        })
}

fn version_in_classpath(classpath: &str) -> Option<String> {
    classpath
        .split(':')
        .find_map(|entry| match entry.strip_suffix("/*") {
            Some(dir) => std::fs::read_dir(dir)
                .ok()?
                .flatten()
                .find_map(|e| jar_version(&e.file_name().to_string_lossy())),
            None => jar_version(entry.rsplit('/').next()?),
        })
}

/// `4.4.0` from `kafka_2.13-4.4.0.jar`; none from other jars (`kafka-clients-…`,
/// `kafka_2.13-4.4.0-test.jar`).
fn jar_version(file: &str) -> Option<String> {
    let (scala, version) = file
        .strip_prefix("kafka_")?
        .strip_suffix(".jar")?
        .split_once('-')?;
    let is_version = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.');
    (is_version(scala) && is_version(version)).then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_jar_names_the_version_and_no_other_jar_does() {
        assert_eq!(
            jar_version("kafka_2.13-4.4.0.jar").as_deref(),
            Some("4.4.0")
        );
        for other in [
            "kafka-clients-4.4.0.jar",
            "kafka_2.13-4.4.0-test.jar",
            "kafka_2.13-.jar",
            "kafka_2.13-4.4.0.pom",
        ] {
            assert_eq!(jar_version(other), None, "{other}");
        }
    }

    #[test]
    fn the_version_is_found_in_a_listed_jar_or_in_a_classpath_directory() {
        let listed = "/opt/a/kafka-clients-4.4.0.jar:/opt/a/kafka_2.13-4.3.1.jar";
        assert_eq!(version_in_classpath(listed).as_deref(), Some("4.3.1"));

        let dir = std::env::temp_dir().join(format!("bb-kafka-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for jar in ["kafka-server-4.4.0.jar", "kafka_2.13-4.4.0.jar"] {
            std::fs::write(dir.join(jar), b"").unwrap();
        }
        let found = version_in_classpath(&format!("/nonexistent/*:{}/*", dir.display()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.as_deref(), Some("4.4.0"));
        assert_eq!(version_in_classpath("/nonexistent/*"), None);
    }
}
