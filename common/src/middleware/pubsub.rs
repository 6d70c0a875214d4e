//! Google Pub/Sub on the official client (`google-cloud-pubsub`): a topic and one subscription
//! on it.
//!
//! The official crate does not read `PUBSUB_EMULATOR_HOST`: with `emulator_host` set, every client
//! of either side is pointed at `http://HOST:PORT` with anonymous credentials (see [`emulator`]
//! and [`configure!`]); otherwise it uses the default endpoint and Application Default
//! Credentials.

use clap::Args;
use google_cloud_auth::credentials::Credentials;
use google_cloud_auth::credentials::anonymous::Builder as Anonymous;
use google_cloud_pubsub::client::{SubscriptionAdmin, TopicAdmin};

use super::{Middleware, PathError};
use crate::path_settings::{Durability, Guarantee, MiddlewareSettings};

/// Ack deadline of the subscription this creates (the subscriber also extends leases itself).
const ACK_DEADLINE_SECONDS: i32 = 60;

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

impl MiddlewareSettings for PubsubSettings {
    fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--pubsub-project={}", self.project),
            format!("--pubsub-topic={}", self.topic),
            format!("--pubsub-subscription={}", self.subscription),
        ];
        args.extend(
            self.emulator_host
                .iter()
                .map(|h| format!("--pubsub-emulator-host={h}")),
        );
        args
    }

    /// Names of this path's own, for a run or test tagged `tag`.
    fn isolate(&mut self, tag: &str) {
        self.topic = format!("bb-{tag}");
        self.subscription = format!("bb-{tag}-sub");
    }

    fn endpoint(&self) -> String {
        self.emulator_host
            .clone()
            .unwrap_or_else(|| "pubsub.googleapis.com".into())
    }

    fn guarantee(&self, _: Durability) -> Guarantee {
        guarantee(self)
    }
}

fn guarantee(settings: &PubsubSettings) -> Guarantee {
    if settings.emulator_host.is_some() {
        Guarantee {
            durable: false,
            text: "Pub/Sub emulator: in memory, not durable in either profile",
        }
    } else {
        Guarantee {
            durable: true,
            text: "Google Cloud Pub/Sub: stored by the service before the publish returns",
        }
    }
}

/// The emulator's version, which it states only in its jar's name
/// (`cloud-pubsub-emulator-X.Y.Z-all.jar`).
pub fn emulator_version() -> Option<String> {
    let sdk = super::first_line("gcloud", &["info", "--format=value(installation.sdk_root)"])?;
    let lib = std::path::Path::new(&sdk).join("platform/pubsub-emulator/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.strip_prefix("cloud-pubsub-emulator-")
            .and_then(|v| v.strip_suffix("-all.jar"))
            .map(str::to_owned)
    })
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

/// Makes ring the process's TLS crypto provider unless one is set: the Google clients need one
/// (their crates' default provider, aws-lc, is not built here), and ring is the provider every
/// other TLS user of this build (lapin, mongodb, async-nats) already brings.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Applies [`emulator`] to any of the crate's client builders (they share no trait, but all have
/// `with_endpoint` and `with_credentials`), once a TLS crypto provider is in place.
#[macro_export]
macro_rules! pubsub_configure {
    ($builder:expr, $settings:expr) => {{
        $crate::middleware::pubsub::ensure_crypto_provider();
        let builder = $builder;
        match $crate::middleware::pubsub::emulator($settings) {
            Some((endpoint, credentials)) => builder
                .with_endpoint(endpoint)
                .with_credentials(credentials),
            None => builder,
        }
    }};
}

fn err<E: Into<super::BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Pubsub, action)
}

/// Whether a Pub/Sub RPC error is `ALREADY_EXISTS`.
fn already_exists(e: &google_cloud_pubsub::Error) -> bool {
    e.status()
        .is_some_and(|s| s.code.name() == "ALREADY_EXISTS")
}

/// Creates the topic, then the subscription on it, unless they exist (idempotent; safe to race
/// with the other side doing the same). Pub/Sub drops what is published to a topic before a
/// subscription exists, so the publisher calls this too.
pub async fn ensure_topology(settings: &PubsubSettings) -> Result<(), PathError> {
    let topics = pubsub_configure!(TopicAdmin::builder(), settings)
        .build()
        .await
        .map_err(err("build topic admin client"))?;
    match topics
        .create_topic()
        .set_name(settings.topic_path())
        .send()
        .await
    {
        Ok(_) => tracing::info!(topic = %settings.topic_path(), "created Pub/Sub topic"),
        Err(e) if already_exists(&e) => {}
        Err(e) => {
            return Err(err("create topic")(format!(
                "{}: {e}",
                settings.topic_path()
            )));
        }
    }
    let subscriptions = pubsub_configure!(SubscriptionAdmin::builder(), settings)
        .build()
        .await
        .map_err(err("build subscription admin client"))?;
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
        Err(e) if already_exists(&e) => {
            let existing = subscriptions
                .get_subscription()
                .set_subscription(settings.subscription_path())
                .send()
                .await
                .map_err(err("read the subscription"))?;
            check_subscription(settings, &existing.topic, existing.ack_deadline_seconds)?;
        }
        Err(e) => {
            let text = format!("{}: {e}", settings.subscription_path());
            return Err(err("create subscription")(text));
        }
    }
    Ok(())
}

/// An existing subscription is used only if it is the one asked for: on the path's topic, with
/// the ack deadline the redelivery figures assume; never silently reused otherwise.
fn check_subscription(
    settings: &PubsubSettings,
    topic: &str,
    ack_deadline_seconds: i32,
) -> Result<(), PathError> {
    if topic == settings.topic_path() && ack_deadline_seconds == ACK_DEADLINE_SECONDS {
        return Ok(());
    }
    Err(err("use the subscription")(format!(
        "subscription {} exists on topic {topic} with an ack deadline of {ack_deadline_seconds} s, \
         not on {} with {ACK_DEADLINE_SECONDS} s: delete it or name another (--pubsub-subscription)",
        settings.subscription_path(),
        settings.topic_path(),
    )))
}

/// Deletes the subscription, then the topic (used when a run or test is over).
pub async fn remove_topology(settings: &PubsubSettings) -> Result<(), PathError> {
    let subscriptions = pubsub_configure!(SubscriptionAdmin::builder(), settings)
        .build()
        .await
        .map_err(err("build subscription admin client"))?;
    subscriptions
        .delete_subscription()
        .set_subscription(settings.subscription_path())
        .send()
        .await
        .map_err(err("delete subscription"))?;
    let topics = pubsub_configure!(TopicAdmin::builder(), settings)
        .build()
        .await
        .map_err(err("build topic admin client"))?;
    topics
        .delete_topic()
        .set_topic(settings.topic_path())
        .send()
        .await
        .map_err(err("delete topic"))?;
    Ok(())
}
