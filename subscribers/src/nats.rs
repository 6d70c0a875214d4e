//! NATS path: a plain subscription (core) or a durable pull consumer with explicit acks (JetStream).

use std::future::Future;

use async_nats::jetstream::{self, AckKind, consumer};
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::nats::ensure_stream;
use brokerbench_common::settings::{Middleware, NatsMode, NatsSettings, PathSettings};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{Acker, Delivery, PathError, SubscriberMetrics, decode};

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Nats, action)
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per subscriber process, built once"
)]
pub enum NatsSource {
    Core(async_nats::Subscriber),
    /// The consumer, and how many messages each pull asks for: the whole consumer window (the
    /// client's default, 200, left the consumer waiting on pull round trips at a few thousand
    /// messages a second).
    Jetstream(consumer::Consumer<consumer::pull::Config>, usize),
}

impl NatsSource {
    pub async fn connect(settings: &NatsSettings, path: PathSettings) -> Result<Self, PathError> {
        let client = async_nats::connect(&settings.url)
            .await
            .map_err(err("connect"))?;
        match settings.mode {
            NatsMode::Core => {
                let sub = client
                    .subscribe(settings.subject.clone())
                    .await
                    .map_err(err("subscribe"))?;
                Ok(Self::Core(sub))
            }
            NatsMode::Jetstream => {
                let js = jetstream::new(client);
                let stream = ensure_stream(&js, settings, path.durability).await?;
                let consumer = stream
                    .get_or_create_consumer(
                        &settings.consumer,
                        consumer::pull::Config {
                            durable_name: Some(settings.consumer.clone()),
                            ack_policy: consumer::AckPolicy::Explicit,
                            max_ack_pending: path.consumer_window.into(),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(err("create consumer"))?;
                Ok(Self::Jetstream(consumer, path.consumer_window.into()))
            }
        }
    }

    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        tokio::pin!(shutdown);
        match self {
            Self::Core(mut sub) => loop {
                let message = tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    m = sub.next() => match m { Some(m) => m, None => return Ok(()) },
                };
                if let Some(envelope) = decode(&message.payload, &metrics)
                    && tx
                        .send(Delivery::new(envelope, Acker::NatsCore))
                        .await
                        .is_err()
                {
                    return Ok(());
                }
            },
            Self::Jetstream(consumer, batch) => {
                let mut messages = consumer
                    .stream()
                    .max_messages_per_batch(batch)
                    .messages()
                    .await
                    .map_err(err("pull messages"))?;
                loop {
                    let message = tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        m = messages.next() => match m {
                            Some(Ok(m)) => m,
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "NATS JetStream pull failed; continuing");
                                metrics.errors.add(1);
                                continue;
                            }
                            None => return Ok(()),
                        },
                    };
                    match decode(&message.payload, &metrics) {
                        Some(envelope) => {
                            if tx
                                .send(Delivery::new(envelope, Acker::NatsJetstream(message)))
                                .await
                                .is_err()
                            {
                                return Ok(());
                            }
                        }
                        // A message that can never decode would be redelivered forever: terminate it.
                        None => {
                            let _ = message.ack_with(AckKind::Term).await;
                        }
                    }
                }
            }
        }
    }
}
