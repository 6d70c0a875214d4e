//! NATS path: a queue-group subscription (core) or a durable pull consumer with explicit acks
//! (JetStream).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::{self, AckKind, consumer};
use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::nats::ensure_stream;
use brokerbench_common::settings::{Middleware, NatsMode, NatsSettings, PathSettings};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::backoff::{Reconnector, Stop};
use crate::resend::Resend;
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
        /// The queue group (`--nats-consumer`): the subscribers of one run share the cases.
        queue: String,
        sub: async_nats::Subscriber,
    },
    /// The consumer, and how many messages each pull asks for: the whole consumer window (the
    /// client's default, 200, left the consumer waiting on pull round trips at a few thousand
    /// messages a second).
    Jetstream(consumer::Consumer<consumer::pull::Config>, usize),
}

impl NatsSource {
    pub async fn connect(settings: &NatsSettings, path: PathSettings) -> Result<Self, PathError> {
        let client = brokerbench_common::middleware::nats::connect(settings)
            .await
            .map_err(err("connect"))?;
        match settings.mode {
            NatsMode::Core => {
                let queue = settings.consumer.clone();
                let sub = client
                    .queue_subscribe(settings.subject.clone(), queue.clone())
                    .await
                    .map_err(err("subscribe"))?;
                Ok(Self::Core {
                    client,
                    subject: settings.subject.clone(),
                    queue,
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
                check_window(&consumer, settings, path.consumer_window)?;
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
        let forward = Forward {
            metrics: &metrics,
            tx: &tx,
            resend: Resend::new(&tx, metrics.errors.clone()),
        };
        match self {
            Self::Core {
                client,
                subject,
                queue,
                mut sub,
            } => loop {
                if let Stop::Done = forward.core(&mut sub, shutdown.as_mut()).await {
                    return Ok(());
                }
                // Core NATS keeps nothing for an absent subscriber: what is published until the
                // subscription is back is lost, as on any core NATS gap.
                let resubscribe =
                    || async { client.queue_subscribe(subject.clone(), queue.clone()).await };
                let why = "the subscription ended";
                match reconnector
                    .restore(why, shutdown.as_mut(), resubscribe)
                    .await
                {
                    Some(again) => sub = again,
                    None => return Ok(()),
                }
            },
            Self::Jetstream(consumer, batch) => loop {
                let pulled = consumer.stream().max_messages_per_batch(batch).messages();
                let mut messages = match pulled.await {
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
                let stop = forward
                    .jetstream(
                        &mut messages,
                        &consumer,
                        &mut reconnector,
                        shutdown.as_mut(),
                    )
                    .await;
                let Stop::Lost(why) = stop else {
                    return Ok(());
                };
                if !reconnector.failed(&why, shutdown.as_mut()).await {
                    return Ok(());
                }
            },
        }
    }
}

/// Refuses an existing consumer whose window (`max_ack_pending`) is not the one asked for: used
/// silently, it would hold a different number of cases unacknowledged than the results say.
fn check_window(
    consumer: &consumer::Consumer<consumer::pull::Config>,
    settings: &NatsSettings,
    window: u16,
) -> Result<(), PathError> {
    let have = consumer.cached_info().config.max_ack_pending;
    if have == i64::from(window) {
        return Ok(());
    }
    let (stream, name) = (&settings.stream, &settings.consumer);
    Err(err("use the consumer")(format!(
        "consumer {name} exists with a window (max_ack_pending) of {have}, not the {window} asked \
         for: remove it (`nats consumer rm {stream} {name}`) or name another (--nats-consumer)"
    )))
}

/// Where a NATS source hands its deliveries.
struct Forward<'a> {
    metrics: &'a SubscriberMetrics,
    tx: &'a mpsc::Sender<Delivery>,
    /// Where core NATS cases whose write failed wait for their retry.
    resend: Resend,
}

impl Forward<'_> {
    /// Forwards a core subscription until shutdown, the sink is gone or the subscription ends.
    async fn core(
        &self,
        sub: &mut async_nats::Subscriber,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Stop {
        loop {
            let message = tokio::select! {
                () = &mut shutdown => return Stop::Done,
                m = sub.next() => m,
            };
            let Some(message) = message else {
                return Stop::Lost("the subscription ended".into());
            };
            if let Some(envelope) = decode(&message.payload, self.metrics) {
                let delivery = Delivery::new(envelope, Acker::NatsCore(self.resend.clone()));
                if self.tx.send(delivery).await.is_err() {
                    return Stop::Done;
                }
            }
        }
    }

    /// Forwards a JetStream pull until shutdown, the sink is gone or the message stream ends.
    /// The stream resumes its pulls by itself after an error: it is read on once the server
    /// answers again.
    async fn jetstream(
        &self,
        messages: &mut consumer::pull::Stream,
        consumer: &consumer::Consumer<consumer::pull::Config>,
        reconnector: &mut Reconnector,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Stop {
        loop {
            let message = tokio::select! {
                () = &mut shutdown => return Stop::Done,
                m = messages.next() => m,
            };
            let message = match message {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    self.metrics.errors.add(1);
                    let why = err("pull")(e);
                    let answers = || async { consumer.get_info().await.map(|_| ()) };
                    match reconnector.restore(why, shutdown.as_mut(), answers).await {
                        Some(()) => continue,
                        None => return Stop::Done,
                    }
                }
                None => return Stop::Lost("the message stream ended".into()),
            };
            match decode(&message.payload, self.metrics) {
                Some(envelope) => {
                    let delivery = Delivery::new(envelope, Acker::NatsJetstream(message));
                    if self.tx.send(delivery).await.is_err() {
                        return Stop::Done;
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
