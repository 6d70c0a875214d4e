//! NATS path: a plain subscription (core) or a durable pull consumer with explicit acks (JetStream).

use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::{self, AckKind, consumer};
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::nats::ensure_stream;
use brokerbench_common::settings::{Middleware, NatsMode, NatsSettings, PathSettings};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::backoff::Reconnector;
use crate::{Acker, Delivery, Health, PathError, SubscriberMetrics, decode};

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Nats, action)
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per subscriber process, built once"
)]
pub enum NatsSource {
    /// A subscription to `subject`, on a client that reconnects and resubscribes on its own.
    Core {
        client: async_nats::Client,
        subject: String,
        sub: async_nats::Subscriber,
    },
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
                Ok(Self::Core {
                    client,
                    subject: settings.subject.clone(),
                    sub,
                })
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

    /// The client reconnects by itself; what ends or fails here (a subscription the client
    /// closed, a pull that failed, a message stream that ended) is opened again with backoff.
    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        tokio::pin!(shutdown);
        let mut reconnector = Reconnector::new(Middleware::Nats, &metrics, health);
        match self {
            Self::Core {
                client,
                subject,
                mut sub,
            } => loop {
                let message = tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    m = sub.next() => m,
                };
                let Some(message) = message else {
                    // Core NATS keeps nothing for an absent subscriber: what is published until
                    // the subscription is back is lost, as on any core NATS gap.
                    let mut why = "the subscription ended".to_string();
                    sub = loop {
                        if !reconnector.failed(&why, shutdown.as_mut()).await {
                            return Ok(());
                        }
                        match client.subscribe(subject.clone()).await {
                            Ok(sub) => break sub,
                            Err(e) => why = err("subscribe")(e).to_string(),
                        }
                    };
                    reconnector.recovered();
                    continue;
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
            Self::Jetstream(consumer, batch) => loop {
                let mut messages = match consumer
                    .stream()
                    .max_messages_per_batch(batch)
                    .messages()
                    .await
                {
                    Ok(messages) => {
                        reconnector.recovered();
                        messages
                    }
                    Err(e) => {
                        let why = err("pull messages")(e);
                        if !reconnector.failed(&why, shutdown.as_mut()).await {
                            return Ok(());
                        }
                        continue;
                    }
                };
                loop {
                    let message = tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        m = messages.next() => m,
                    };
                    let message = match message {
                        Some(Ok(m)) => m,
                        // The stream resumes its pulls by itself after an error: read on once
                        // the server answers again.
                        Some(Err(e)) => {
                            metrics.errors.add(1);
                            let mut why = err("pull")(e).to_string();
                            loop {
                                if !reconnector.failed(&why, shutdown.as_mut()).await {
                                    return Ok(());
                                }
                                match consumer.get_info().await {
                                    Ok(_) => break,
                                    Err(e) => why = err("read consumer info")(e).to_string(),
                                }
                            }
                            reconnector.recovered();
                            continue;
                        }
                        None => {
                            let why = "the message stream ended";
                            if !reconnector.failed(&why, shutdown.as_mut()).await {
                                return Ok(());
                            }
                            break;
                        }
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
            },
        }
    }
}
