//! Redis Streams: `XADD` to one stream, a consumer group reading it with `XREADGROUP`, `XACK`
//! after the store's write. What a consumer read and never acknowledged stays in the group's
//! pending list, from where a restarted (or another) consumer claims it back.

use std::time::Duration;

use clap::Args;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Middleware, PathError};
use crate::path_settings::{Durability, Guarantee, MiddlewareSettings, without_credentials};

/// The stream entry field that carries the envelope's protobuf bytes.
pub const ENVELOPE_FIELD: &str = "e";

/// How long one Redis command may take before it counts as failed (the client's own default,
/// 500 ms, is shorter than an fsync on a busy disk).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
pub struct RedisSettings {
    #[arg(
        id = "redis-url",
        long = "redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379/"
    )]
    pub url: String,
    /// Stream the ingress appends to (created with the consumer group if missing).
    #[arg(
        id = "redis-stream",
        long = "redis-stream",
        env = "BB_REDIS_STREAM",
        default_value = "brokerbench.cases"
    )]
    pub stream: String,
    /// Consumer group of the subscribers.
    #[arg(
        id = "redis-group",
        long = "redis-group",
        env = "BB_REDIS_GROUP",
        default_value = "brokerbench-subscriber"
    )]
    pub group: String,
    /// This subscriber's consumer name in the group (default: the host name, unique per
    /// container). A restarted subscriber with the same name first takes back what it had read
    /// and not acknowledged; copies of a subscriber need different names.
    #[arg(
        id = "redis-consumer",
        long = "redis-consumer",
        env = "BB_REDIS_CONSUMER"
    )]
    pub consumer: Option<String>,
    /// An entry pending longer than this (ms) is claimed by a consumer of the group and
    /// delivered again: a dead consumer's entries, or one whose write failed.
    #[arg(
        id = "redis-claim-idle-ms",
        long = "redis-claim-idle-ms",
        env = "BB_REDIS_CLAIM_IDLE_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(100..)
    )]
    pub claim_idle_ms: u64,
}

impl RedisSettings {
    /// The consumer name: the one given, else the host name.
    pub fn consumer_name(&self) -> String {
        self.consumer.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "subscriber".into())
        })
    }
}

/// Redis has no per-message durability: what survives a restart is the server's persistence,
/// whatever the profile asks.
impl MiddlewareSettings for RedisSettings {
    fn to_args(&self) -> Vec<String> {
        vec![
            format!("--redis-url={}", self.url),
            format!("--redis-stream={}", self.stream),
            format!("--redis-group={}", self.group),
            format!("--redis-claim-idle-ms={}", self.claim_idle_ms),
        ]
        .into_iter()
        .chain(
            self.consumer
                .iter()
                .map(|c| format!("--redis-consumer={c}")),
        )
        .collect()
    }

    /// Names of this path's own, for a run or test tagged `tag`.
    fn isolate(&mut self, tag: &str) {
        self.stream = format!("brokerbench.{tag}");
        self.group = format!("bb-{tag}");
    }

    fn endpoint(&self) -> String {
        without_credentials(&self.url)
    }

    fn guarantee(&self, durability: Durability) -> Guarantee {
        guarantee(durability)
    }
}

fn guarantee(durability: Durability) -> Guarantee {
    let text = match durability {
        Durability::Disk => {
            "XADD acknowledged after the server's AOF policy (scripts/stack: appendfsync always, on disk before the reply)"
        }
        Durability::Memory => {
            "XADD acknowledged; Redis has no per-message memory mode, so the server's AOF policy applies (scripts/stack: appendfsync always)"
        }
    };
    Guarantee {
        durable: true,
        text,
    }
}

fn err<E: Into<super::BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Redis, action)
}

/// A connection that reconnects by itself, with [`RESPONSE_TIMEOUT`].
pub async fn connect(settings: &RedisSettings) -> Result<ConnectionManager, PathError> {
    let client = redis::Client::open(settings.url.as_str()).map_err(err("parse URL"))?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(RESPONSE_TIMEOUT));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(err("connect"))
}

/// Creates the stream and its consumer group unless they exist (idempotent; both sides call it,
/// so that nothing appended before the subscriber started is missed by the group).
pub async fn ensure_group(
    connection: &mut ConnectionManager,
    settings: &RedisSettings,
) -> Result<(), PathError> {
    let created: redis::RedisResult<()> = connection
        .xgroup_create_mkstream(&settings.stream, &settings.group, "0")
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(err("create consumer group")(e)),
    }
}

/// Deletes the stream, and with it its consumer groups.
pub async fn remove_stream(settings: &RedisSettings) -> Result<(), PathError> {
    let mut connection = connect(settings).await?;
    let _: usize = connection
        .del(&settings.stream)
        .await
        .map_err(err("delete stream"))?;
    Ok(())
}

/// Reads the consumer group's lag and pending list (see [`super::depth`]) on a connection of its
/// own.
pub struct DepthReader {
    connection: ConnectionManager,
    stream: String,
    group: String,
}

impl DepthReader {
    pub async fn connect(settings: &RedisSettings) -> Result<Self, PathError> {
        Ok(Self {
            connection: connect(settings).await?,
            stream: settings.stream.clone(),
            group: settings.group.clone(),
        })
    }

    /// The group's `lag` (Redis 7 and later) is what it has not been delivered yet; a server
    /// that cannot tell (an older one, or a stream trimmed under the group) is an error, not 0.
    pub async fn read(&mut self) -> Result<super::depth::BrokerDepth, PathError> {
        let groups: redis::streams::StreamInfoGroupsReply = self
            .connection
            .xinfo_groups(&self.stream)
            .await
            .map_err(err("read the group's info"))?;
        let group = groups
            .groups
            .into_iter()
            .find(|g| g.name == self.group)
            .ok_or_else(|| err("find the group")(format!("no group {}", self.group)))?;
        let lag = group
            .lag
            .ok_or_else(|| err("read the group's lag")("the server did not say"))?;
        Ok(super::depth::BrokerDepth {
            ready: lag as u64,
            unacked: Some(group.pending as u64),
        })
    }
}
