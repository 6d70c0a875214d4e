//! RabbitMQ: one durable queue, declared by whichever side comes first.

use clap::Args;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

use super::{Middleware, PathError};
use crate::path_settings::{Durability, Guarantee, MiddlewareSettings, without_credentials};

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

impl MiddlewareSettings for RabbitmqSettings {
    fn to_args(&self) -> Vec<String> {
        vec![
            format!("--amqp-url={}", self.url),
            format!("--rabbitmq-queue={}", self.queue),
        ]
    }

    /// Names of this path's own, for a run or test tagged `tag`.
    fn isolate(&mut self, tag: &str) {
        self.queue = format!("brokerbench.{tag}");
    }

    fn endpoint(&self) -> String {
        without_credentials(&self.url)
    }

    fn guarantee(&self, durability: Durability) -> Guarantee {
        guarantee(durability)
    }
}

fn guarantee(durability: Durability) -> Guarantee {
    let (durable, text) = match durability {
        Durability::Disk => (
            true,
            "durable queue, persistent messages, publisher confirms (on disk before the confirm)",
        ),
        Durability::Memory => (
            false,
            "durable queue, transient messages, publisher confirms: lost if the broker stops",
        ),
    };
    Guarantee { durable, text }
}

fn err<E: Into<super::BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Rabbitmq, action)
}

/// The name a connection of `role` (publisher, subscriber, …) shows in the broker
/// (`rabbitmqctl list_connections client_properties`): it holds the queue's name, which a test or
/// run makes its own, so that one side's connections can be found and closed on purpose.
pub fn connection_name(role: &str, settings: &RabbitmqSettings) -> String {
    format!("brokerbench-{role} {}", settings.queue)
}

/// A connection of `role` (see [`connection_name`]) and a channel on it.
pub async fn open(
    settings: &RabbitmqSettings,
    role: &str,
) -> Result<(Connection, Channel), PathError> {
    let properties = ConnectionProperties::default()
        .with_connection_name(connection_name(role, settings).into());
    let connection = Connection::connect(&settings.url, properties)
        .await
        .map_err(err("connect"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(err("open channel"))?;
    Ok((connection, channel))
}

/// Declares the durable queue; both sides call it so start-up order does not matter.
pub async fn declare_queue(channel: &Channel, queue: &str) -> Result<(), PathError> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map(drop)
        .map_err(err("declare queue"))
}

/// Deletes the queue (with whatever it still holds).
pub async fn delete_queue(settings: &RabbitmqSettings) -> Result<(), PathError> {
    let (connection, channel) = open(settings, "admin").await?;
    channel
        .queue_delete(
            settings.queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .map_err(err("delete queue"))?;
    let _ = connection.close(0, "done".into()).await;
    Ok(())
}

/// Reads the queue's ready count (see [`super::depth`]) with a passive declare, on a connection
/// of its own that is opened again after a failure (a failed passive declare closes its channel).
pub struct DepthReader {
    settings: RabbitmqSettings,
    open: Option<(Connection, Channel)>,
}

impl DepthReader {
    pub fn new(settings: &RabbitmqSettings) -> Self {
        Self {
            settings: settings.clone(),
            open: None,
        }
    }

    pub async fn read(&mut self) -> Result<super::depth::BrokerDepth, PathError> {
        let (connection, channel) = match self.open.take() {
            Some(open) => open,
            None => open(&self.settings, "depth").await?,
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare(
                self.settings.queue.as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await
            .map_err(err("read the queue's depth"))?;
        self.open = Some((connection, channel));
        Ok(super::depth::BrokerDepth {
            ready: queue.message_count().into(),
            unacked: None,
        })
    }
}
