//! NATS: core (publish + flush, at most once) or JetStream (acknowledged publish into a stream,
//! a durable pull consumer with explicit acks).

use async_nats::jetstream::{self, stream};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::{Middleware, PathError};
use crate::path_settings::{
    Durability, Guarantee, MiddlewareSettings, value_name, without_credentials,
};

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
    /// Server to connect to; a cluster's servers comma separated (the client starts with one
    /// that answers and reconnects to a survivor).
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
    /// The subscribers' durable JetStream consumer, or their queue group in core mode: several
    /// subscribers with one name share the cases, each case going to one of them.
    #[arg(
        id = "nats-consumer",
        long = "nats-consumer",
        env = "BB_NATS_CONSUMER",
        default_value = "brokerbench-subscriber"
    )]
    pub consumer: String,
    /// Copies of the stream (and its consumer) JetStream keeps, each on another server of a
    /// cluster: 3 survives the loss of one server. 1 on a single server.
    #[arg(
        id = "nats-replicas",
        long = "nats-replicas",
        env = "BB_NATS_REPLICAS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..=5)
    )]
    pub replicas: u8,
}

impl MiddlewareSettings for NatsSettings {
    fn to_args(&self) -> Vec<String> {
        vec![
            format!("--nats-url={}", self.url),
            format!("--nats-mode={}", value_name(&self.mode)),
            format!("--nats-subject={}", self.subject),
            format!("--nats-stream={}", self.stream),
            format!("--nats-consumer={}", self.consumer),
            format!("--nats-replicas={}", self.replicas),
        ]
    }

    /// Names of this path's own, for a run or test tagged `tag`.
    fn isolate(&mut self, tag: &str) {
        self.subject = format!("brokerbench.{tag}");
        self.stream = format!("BB_{}", tag.to_uppercase());
        self.consumer = format!("bb-{tag}");
    }

    fn endpoint(&self) -> String {
        without_credentials(&self.url)
    }

    fn guarantee(&self, durability: Durability) -> Guarantee {
        guarantee(self, durability)
    }
}

fn guarantee(settings: &NatsSettings, durability: Durability) -> Guarantee {
    let (durable, text) = match (settings.mode, durability) {
        (NatsMode::Core, _) => (
            false,
            "core NATS: at most once, in memory, nothing redelivered",
        ),
        (NatsMode::Jetstream, Durability::Disk) => (
            true,
            "JetStream file storage, acknowledged publish; fsynced per the server's sync_interval (scripts/stack: always)",
        ),
        (NatsMode::Jetstream, Durability::Memory) => (
            false,
            "JetStream memory storage, acknowledged publish: lost if the server stops",
        ),
    };
    Guarantee { durable, text }
}

fn err<E: Into<super::BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Nats, action)
}

/// Creates the stream capturing the subject if it does not exist yet (idempotent), on file storage
/// for the `disk` profile and in memory for `memory`, with work-queue retention: a message is
/// deleted once acknowledged, so a long-lived deployment keeps only what is not yet stored (the
/// default, limits retention, keeps every case ever published). An existing stream with other
/// storage or retention is refused, never silently used: results would claim a durability the
/// stream does not have.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &NatsSettings,
    durability: Durability,
) -> Result<stream::Stream, PathError> {
    let storage = match durability {
        Durability::Disk => stream::StorageType::File,
        Durability::Memory => stream::StorageType::Memory,
    };
    let retention = stream::RetentionPolicy::WorkQueue;
    let stream = js
        .get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec![settings.subject.clone()],
            storage,
            retention,
            num_replicas: settings.replicas.into(),
            ..Default::default()
        })
        .await
        .map_err(err("create stream"))?;
    let have = &stream.cached_info().config;
    if have.num_replicas != usize::from(settings.replicas) {
        let name = &settings.stream;
        return Err(err("use the stream")(format!(
            "stream {name} exists with {} replicas, not the {} asked for (--nats-replicas): \
             remove it or name another (--nats-stream)",
            have.num_replicas, settings.replicas
        )));
    }
    if have.storage != storage || have.retention != retention {
        let name = &settings.stream;
        return Err(err("use the stream")(format!(
            "stream {name} exists with {:?} storage and {:?} retention, not the {storage:?} and \
             {retention:?} asked for: remove it (`nats stream rm {name}`) or name another \
             (--nats-stream)",
            have.storage, have.retention
        )));
    }
    Ok(stream)
}

/// A client of every server `--nats-url` lists (comma separated): it starts with one that
/// answers and, when that one goes, reconnects to a survivor.
pub async fn connect(settings: &NatsSettings) -> Result<async_nats::Client, super::BoxError> {
    let addrs = (settings.url.split(','))
        .map(|url| url.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(async_nats::connect(addrs.as_slice()).await?)
}

/// The name of the server that leads the stream's replicas (as it names itself, `server_name`),
/// if the stream is clustered and has a leader now.
pub async fn stream_leader(settings: &NatsSettings) -> Result<Option<String>, PathError> {
    let client = connect(settings).await.map_err(err("connect"))?;
    let js = jetstream::new(client);
    let mut stream = js
        .get_stream(&settings.stream)
        .await
        .map_err(err("find the stream"))?;
    let info = stream
        .info()
        .await
        .map_err(err("read the stream's state"))?;
    Ok(info.cluster.as_ref().and_then(|c| c.leader.clone()))
}

/// Deletes the JetStream stream (and with it its consumers); nothing to do in core mode.
pub async fn remove_stream(settings: &NatsSettings) -> Result<(), PathError> {
    if settings.mode == NatsMode::Core {
        return Ok(());
    }
    let client = connect(settings).await.map_err(err("connect"))?;
    jetstream::new(client)
        .delete_stream(&settings.stream)
        .await
        .map_err(err("delete stream"))?;
    Ok(())
}

/// Reads the JetStream consumer's own counts (see [`super::depth`]) on a client of its own.
pub struct DepthReader {
    js: jetstream::Context,
    stream: String,
    consumer: String,
}

impl DepthReader {
    pub async fn connect(settings: &NatsSettings) -> Result<Self, PathError> {
        let client = connect(settings).await.map_err(err("connect"))?;
        Ok(Self {
            js: jetstream::new(client),
            stream: settings.stream.clone(),
            consumer: settings.consumer.clone(),
        })
    }

    pub async fn read(&mut self) -> Result<super::depth::BrokerDepth, PathError> {
        let stream = self
            .js
            .get_stream_no_info(&self.stream)
            .await
            .map_err(err("find the stream"))?;
        let info = stream
            .consumer_info(&self.consumer)
            .await
            .map_err(err("read the consumer's info"))?;
        Ok(super::depth::BrokerDepth {
            ready: info.num_pending,
            unacked: Some(info.num_ack_pending as u64),
        })
    }
}
