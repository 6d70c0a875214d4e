//! Subscribers: the consuming side of each middleware.
//!
//! A [`Source`] (closed enum over the paths) turns the middleware's messages into
//! [`Delivery`] values on a bounded channel; the [`sink`] stores them in MongoDB in batches and
//! only then acknowledges each to its middleware, so a crash between receive and store means a
//! redelivery (at least once), never a loss, on the paths that can redeliver.
//!
//! Neither side gives up on a transient failure: a source reconnects to its middleware until it
//! is shut down, and the sink redelivers what the store did not take until the store is back.
//! [`Health`] tells the subscriber's `/healthz` while either is waiting.

mod ack;
mod backoff;
mod busy;
mod dead_letter;
pub mod failure;
mod grpc;
mod health;
mod kafka;
mod nats;
mod pubsub;
mod rabbitmq;
mod redis;
mod resend;
pub mod sink;
mod store;
mod tally;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Envelope, now_ns};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::{Counter, Latency, Registry};
use brokerbench_common::settings::{BrokerSettings, Middleware};
use brokerbench_common::trust::InvalidEnvelope;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use ack::Acker;
pub use health::Health;

use brokerbench_common::middleware::BoxError;
pub use brokerbench_common::middleware::PathError;

/// One received envelope and the handle that acknowledges it to its middleware.
#[derive(Debug)]
pub struct Delivery {
    pub envelope: Envelope,
    pub ack: Acker,
    /// When this subscriber received it (wall-clock ns): where the `store` latency starts.
    pub received_ns: i64,
    /// Why the envelope could not have come from the ingress, if it could not: it is then set
    /// aside as a dead letter at once and never stored as a case.
    pub invalid: Option<InvalidEnvelope>,
}

impl Delivery {
    pub fn new(envelope: Envelope, ack: Acker) -> Self {
        Self {
            invalid: envelope.check().err(),
            envelope,
            ack,
            received_ns: now_ns(),
        }
    }

    /// Storing failed: have the case delivered again, not before `delay`. Core NATS cannot
    /// redeliver, and Kafka cannot redeliver one case alone, so their cases are held here and
    /// handed back to the sink instead.
    pub(crate) async fn retry_after(self, delay: Duration) -> Result<(), BoxError> {
        match self.ack {
            Acker::NatsCore(resend) => {
                resend.after(self.envelope, delay);
                Ok(())
            }
            Acker::Kafka(ack) => {
                ack.retry_after(self.envelope, delay);
                Ok(())
            }
            ack => ack.nack_after(delay).await,
        }
    }
}

/// The counters and histograms of one subscriber, registered under its middleware's name.
#[derive(Debug, Clone)]
pub struct SubscriberMetrics {
    pub received: Arc<Counter>,
    pub stored: Arc<Counter>,
    pub duplicates: Arc<Counter>,
    pub errors: Arc<Counter>,
    /// Times the source lost its middleware and began reconnecting.
    pub reconnects: Arc<Counter>,
    /// Cases set aside in `dead_<middleware>` after the store refused them up to the delivery
    /// limit (acknowledged, never delivered again).
    pub dead_lettered: Arc<Counter>,
    /// Envelopes set aside at once as not from the ingress (see `Envelope::check`).
    pub invalid: Arc<Counter>,
    /// Time the sink's writers spent writing, summed over writers (µs): divided by writers ×
    /// elapsed time, how busy the store kept the sink.
    pub store_busy_us: Arc<Counter>,
    /// accepted at the ingress → received here: the middleware's share of `e2e`.
    pub delivery: Arc<Latency>,
    /// received here → MongoDB acknowledged the write: the store's (and the batching's) share.
    pub store: Arc<Latency>,
    /// intended (when the generator said, else accepted) → MongoDB acknowledged the write.
    pub end_to_end: Arc<Latency>,
}

impl SubscriberMetrics {
    pub fn register(registry: &Registry, middleware: Middleware) -> Self {
        let m = Some(middleware);
        Self {
            received: registry.counter(CounterMetric::Received, m),
            stored: registry.counter(CounterMetric::Stored, m),
            duplicates: registry.counter(CounterMetric::Duplicates, m),
            errors: registry.counter(CounterMetric::Errors, m),
            reconnects: registry.counter(CounterMetric::Reconnects, m),
            dead_lettered: registry.counter(CounterMetric::DeadLettered, m),
            invalid: registry.counter(CounterMetric::Invalid, m),
            store_busy_us: registry.counter(CounterMetric::StoreBusyUs, m),
            delivery: registry.latency(LatencyMetric::Delivery, m),
            store: registry.latency(LatencyMetric::Store, m),
            end_to_end: registry.latency(LatencyMetric::E2e, m),
        }
    }

    /// Counts a message that arrived and records its delivery latency, unless the envelope
    /// fails [`Envelope::check`]: its times are then whatever its sender wrote.
    pub(crate) fn on_received(&self, envelope: &Envelope) {
        self.received.add(1);
        if envelope.check().is_err() {
            return;
        }
        self.delivery.record_between_ns(
            envelope.latency_origin_ns(),
            envelope.accepted_at_ns,
            now_ns(),
        );
    }
}

/// Where a subscriber's messages come from.
#[expect(
    clippy::large_enum_variant,
    reason = "one per subscriber process, built once"
)]
pub enum Source {
    Grpc(TcpListener),
    Nats(nats::NatsSource),
    Rabbitmq(rabbitmq::RabbitmqSource),
    Pubsub(pubsub::PubsubSource),
    Redis(redis::RedisSource),
    Kafka(kafka::KafkaSource),
}

impl Source {
    /// Connects to the middleware and prepares its topology (stream, consumer, queue,
    /// subscription). The gRPC path instead serves on `grpc_listener` when its parent bound one,
    /// else binds `settings.grpc.addr`.
    pub async fn connect(
        middleware: Middleware,
        settings: &BrokerSettings,
        grpc_listener: Option<TcpListener>,
    ) -> Result<Self, PathError> {
        let window = settings.path.consumer_window;
        Ok(match middleware {
            Middleware::Grpc => Self::Grpc(match grpc_listener {
                Some(listener) => listener,
                None => match settings.grpc.addrs()[..] {
                    [addr] => TcpListener::bind(addr)
                        .await
                        .map_err(PathError::during(Middleware::Grpc, "bind"))?,
                    _ => {
                        let why = format!(
                            "--grpc-addr must name one address to serve on, not {:?}",
                            settings.grpc.addr
                        );
                        return Err(PathError::new(Middleware::Grpc, "bind", why));
                    }
                },
            }),
            Middleware::Nats => {
                Self::Nats(nats::NatsSource::connect(&settings.nats, settings.path).await?)
            }
            Middleware::Rabbitmq => Self::Rabbitmq(
                rabbitmq::RabbitmqSource::connect(settings.rabbitmq.clone(), window).await?,
            ),
            Middleware::Pubsub => {
                Self::Pubsub(pubsub::PubsubSource::connect(&settings.pubsub, window).await?)
            }
            Middleware::Redis => {
                Self::Redis(redis::RedisSource::connect(&settings.redis, window).await?)
            }
            Middleware::Kafka => Self::Kafka(
                kafka::KafkaSource::connect(&settings.kafka, settings.path.durability, window)
                    .await?,
            ),
        })
    }

    /// Feeds deliveries into `tx` until `shutdown` completes or the sink is gone (`tx` closed).
    /// A lost connection is restored with backoff, never returned: `health` says the source is
    /// reconnecting meanwhile, and `metrics.reconnects` counts each loss.
    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        match self {
            Self::Grpc(listener) => grpc::serve(listener, metrics, tx, shutdown).await,
            Self::Nats(source) => source.run(metrics, health, tx, shutdown).await,
            Self::Rabbitmq(source) => source.run(metrics, health, tx, shutdown).await,
            Self::Pubsub(source) => source.run(metrics, health, tx, shutdown).await,
            Self::Redis(source) => source.run(metrics, health, tx, shutdown).await,
            Self::Kafka(source) => source.run(metrics, health, tx, shutdown).await,
        }
    }
}

/// Decodes an envelope, counting it as received, or counting an error if it is not one.
pub(crate) fn decode(payload: &[u8], metrics: &SubscriberMetrics) -> Option<Envelope> {
    match Envelope::from_bytes(payload) {
        Ok(envelope) => {
            metrics.on_received(&envelope);
            Some(envelope)
        }
        Err(e) => {
            tracing::warn!(error = %e, "dropping a message that is not a brokerbench envelope");
            metrics.errors.add(1);
            None
        }
    }
}
