//! Google Pub/Sub path, on the official client (`google-cloud-pubsub`): one long-lived batching
//! [`Publisher`] per process; `publish` returns once every message got its server-assigned id.
//!
//! The official crate does not read `PUBSUB_EMULATOR_HOST`: with `emulator_host` set, every client
//! here and in the subscriber (see [`emulator`]) is pointed at `http://HOST:PORT` with
//! anonymous credentials; otherwise it uses the default endpoint and Application Default
//! Credentials.

use std::time::Duration;

use brokerbench_common::envelope::Envelope;
use brokerbench_common::settings::{Middleware, PubsubSettings};
use futures::future::try_join_all;
use google_cloud_auth::credentials::Credentials;
use google_cloud_auth::credentials::anonymous::Builder as Anonymous;
use google_cloud_pubsub::client::{Publisher, SubscriptionAdmin, TopicAdmin};
use google_cloud_pubsub::model::Message;

use crate::PublishError;

/// Ack deadline of the subscription this creates (the subscriber also extends leases itself).
pub const ACK_DEADLINE_SECONDS: i32 = 60;

/// How long the client's batcher waits for more messages before sending a partial batch. Small,
/// because every `publish` caller waits on it; batches still fill up under concurrent load.
/// (We deliberately do not call `Publisher::flush` per batch: in google-cloud-pubsub 1.7 a flush
/// makes the batch actor wait for all in-flight batches, serialising concurrent publishers.)
const BATCH_DELAY: Duration = Duration::from_millis(1);
/// Messages per `Publish` RPC (the service allows at most 1000 and 10 MB per request).
const BATCH_MESSAGES: u32 = 100;

fn err(
    action: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> PublishError {
    move |e| PublishError::new(Middleware::Pubsub, action, e)
}

/// The emulator's endpoint (`http://HOST:PORT`) and anonymous credentials when `emulator_host`
/// is set; `None` means Google Cloud's default endpoint and Application Default Credentials.
pub fn emulator(settings: &PubsubSettings) -> Option<(String, Credentials)> {
    let host = settings.emulator_host.as_deref()?.trim();
    if host.is_empty() {
        return None;
    }
    let endpoint = if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    Some((endpoint, Anonymous::new().build()))
}

/// Applies [`emulator`] to any of the crate's client builders (they share no trait, but all have
/// `with_endpoint` and `with_credentials`).
macro_rules! configure {
    ($builder:expr, $settings:expr) => {{
        let builder = $builder;
        match emulator($settings) {
            Some((endpoint, credentials)) => builder
                .with_endpoint(endpoint)
                .with_credentials(credentials),
            None => builder,
        }
    }};
}

/// Whether a Pub/Sub RPC error is `ALREADY_EXISTS`.
fn already_exists(e: &google_cloud_pubsub::Error) -> bool {
    e.status()
        .is_some_and(|s| s.code.name() == "ALREADY_EXISTS")
}

/// Creates the topic, then the subscription on it, unless they exist (idempotent; safe to race
/// with the other side doing the same). Pub/Sub drops what is published to a topic before a
/// subscription exists, so the publisher calls this too.
pub async fn ensure_topology(settings: &PubsubSettings) -> Result<(), PublishError> {
    let topics = configure!(TopicAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| err("build topic admin client")(e.into()))?;
    match topics
        .create_topic()
        .set_name(settings.topic_path())
        .send()
        .await
    {
        Ok(_) => tracing::info!(topic = %settings.topic_path(), "created Pub/Sub topic"),
        Err(e) if already_exists(&e) => {}
        Err(e) => {
            return Err(PublishError::new(
                Middleware::Pubsub,
                "create topic",
                format!("{}: {e}", settings.topic_path()),
            ));
        }
    }
    let subscriptions = configure!(SubscriptionAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| err("build subscription admin client")(e.into()))?;
    let created = subscriptions
        .create_subscription()
        .set_name(settings.subscription_path())
        .set_topic(settings.topic_path())
        .set_ack_deadline_seconds(ACK_DEADLINE_SECONDS)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(subscription = %settings.subscription_path(), "created Pub/Sub subscription")
        }
        Err(e) if already_exists(&e) => {}
        Err(e) => {
            return Err(PublishError::new(
                Middleware::Pubsub,
                "create subscription",
                format!("{}: {e}", settings.subscription_path()),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct PubsubPublisher {
    /// Cheap to clone: a handle to the client's background batching task and connection pool.
    publisher: Publisher,
}

impl PubsubPublisher {
    pub async fn connect(settings: &PubsubSettings) -> Result<Self, PublishError> {
        ensure_topology(settings).await?;
        let publisher = configure!(Publisher::builder(settings.topic_path()), settings)
            .set_message_count_threshold(BATCH_MESSAGES)
            .set_delay_threshold(BATCH_DELAY)
            .build()
            .await
            .map_err(|e| err("build publisher client")(e.into()))?;
        Ok(Self { publisher })
    }

    /// Hands every envelope to the batcher at once, then awaits every message id: the batches
    /// are sent concurrently, not one round trip per envelope.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        let pending: Vec<_> = batch
            .iter()
            .map(|envelope| {
                self.publisher
                    .publish(Message::new().set_data(envelope.to_bytes()))
            })
            .collect();
        try_join_all(pending)
            .await
            .map_err(|e| err("publish")(e.into()))?;
        Ok(())
    }
}

/// Deletes the subscription, then the topic (used when a run or test is over).
pub async fn remove_topology(settings: &PubsubSettings) -> Result<(), PublishError> {
    let subscriptions = configure!(SubscriptionAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| err("build subscription admin client")(e.into()))?;
    subscriptions
        .delete_subscription()
        .set_subscription(settings.subscription_path())
        .send()
        .await
        .map_err(|e| err("delete subscription")(e.into()))?;
    let topics = configure!(TopicAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| err("build topic admin client")(e.into()))?;
    topics
        .delete_topic()
        .set_topic(settings.topic_path())
        .send()
        .await
        .map_err(|e| err("delete topic")(e.into()))?;
    Ok(())
}
