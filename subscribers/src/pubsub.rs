//! Google Pub/Sub path, on the official client (`google-cloud-pubsub`): parallel streaming pulls
//! on the subscription, with the client's lease management (it keeps extending the ack deadline
//! of every message we hold until we ack or nack it).
//!
//! Acks and nacks are fire-and-forget in the client: they are queued to its lease-management task,
//! which sends them in batches (`Acknowledge`, or `ModifyAckDeadline` 0 for a nack). Dropping a
//! [`PubsubAck`] unused nacks the message (redelivered soon), like [`PubsubAck::nack`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::middleware::pubsub::ensure_topology;
use brokerbench_common::pubsub_configure;
use brokerbench_common::settings::{Middleware, PubsubSettings};
use futures::FutureExt;
use futures::future::join_all;
use google_cloud_pubsub::client::Subscriber;
use google_cloud_pubsub::subscriber::handler::Handler;
use google_cloud_pubsub::subscriber::{MessageStream, ShutdownBehavior};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use brokerbench_common::middleware::BoxError;

use crate::backoff::{Reconnector, Stop};
use crate::{Acker, Delivery, Health, PathError, SubscriberMetrics, decode};

/// Concurrent streaming pulls on the subscription, merged into one channel. The emulator paces
/// each stream (about 1000 messages per 500 ms, measured with 0.8.20), so one stream would cap
/// this path near 2000 messages/s; 8 streams measured ~14k/s. Real Pub/Sub is fine with this too.
const PARALLEL_STREAMS: usize = 8;
/// Flow control in bytes, per stream (the message count is the consumer window).
const MAX_OUTSTANDING_BYTES: i64 = 64 * 1024 * 1024;
/// On shutdown, how long to wait for the sink to ack what it holds and for those acks to reach
/// Pub/Sub before giving up (what is left unacked is redelivered later).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Longest wait for the service to answer while reconnecting.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How far each lease extension reaches (the client re-extends every 3 s, 2 s before it runs
/// out). It bounds how long the messages of a subscriber that died stay leased to it. With 60 s
/// the emulator redelivered them about 120 s after the kill, and some not within 150 s; the
/// client's minimum, 10 s, gets them back well within the drain.
const LEASE_EXTENSION: Duration = Duration::from_secs(10);

fn err<E: Into<BoxError>>(action: &'static str) -> impl FnOnce(E) -> PathError {
    PathError::during(Middleware::Pubsub, action)
}

/// The handle that acknowledges one Pub/Sub message. It holds one place of the consumer window
/// until it is acked, nacked or dropped.
#[derive(Debug)]
pub struct PubsubAck {
    handler: Handler,
    _window: OwnedSemaphorePermit,
}

impl PubsubAck {
    /// Acknowledges the message. Queued to the client, which batches acks to the service (best
    /// effort on an at-least-once subscription; confirmed on an exactly-once one).
    pub async fn ack(self) -> Result<(), BoxError> {
        match self.handler {
            Handler::ExactlyOnce(h) => h.confirmed_ack().await.map_err(Into::into),
            handler => {
                handler.ack();
                Ok(())
            }
        }
    }

    /// Makes the message redeliverable right away (ack deadline set to 0).
    pub async fn nack(self) -> Result<(), BoxError> {
        match self.handler {
            Handler::ExactlyOnce(h) => h.confirmed_nack().await.map_err(Into::into),
            handler => {
                handler.nack();
                Ok(())
            }
        }
    }
}

pub struct PubsubSource {
    client: Subscriber,
    settings: PubsubSettings,
    window: u16,
}

impl PubsubSource {
    /// Consumes with at most `window` messages handed to the sink and not yet acknowledged. The
    /// window is split over the parallel streams as the service's flow control, which real Pub/Sub
    /// honours, and enforced here as well, because the emulator ignores flow control.
    pub async fn connect(settings: &PubsubSettings, window: u16) -> Result<Self, PathError> {
        ensure_topology(settings).await?;
        let client = pubsub_configure!(Subscriber::builder(), settings)
            .build()
            .await
            .map_err(err("build subscriber client"))?;
        Ok(Self {
            client,
            settings: settings.clone(),
            window,
        })
    }

    /// Pulls on [`PARALLEL_STREAMS`] streams until shutdown or the sink is gone; a stream that
    /// fails is subscribed again with backoff once the service answers (each stream's loss
    /// counts as a reconnect).
    pub async fn run(
        self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        let window = Arc::new(Semaphore::new(self.window.into()));
        let shutdown = shutdown.boxed().shared();
        let streams = join_all((0..PARALLEL_STREAMS).map(|_| {
            let reconnector = Reconnector::new(Middleware::Pubsub, &metrics, health.clone());
            self.pull(reconnector, &window, &metrics, &tx, shutdown.clone())
        }))
        .await;
        // Let the sink drain: dropping our sender ends it once it has stored and acked the rest.
        drop(tx);
        // Waits until every handed-out handle was acked, nacked or dropped and the acks were sent.
        let tokens: Vec<_> = streams.iter().map(MessageStream::shutdown_token).collect();
        let all_shut = join_all(tokens.iter().map(|token| token.shutdown()));
        if tokio::time::timeout(SHUTDOWN_GRACE, all_shut)
            .await
            .is_err()
        {
            tracing::warn!(
                "Pub/Sub subscriber shutdown timed out; unacked messages will be redelivered"
            );
        }
        Ok(())
    }

    /// One streaming pull on the subscription.
    fn subscribe(&self) -> MessageStream {
        let per_stream = i64::from(self.window.div_ceil(PARALLEL_STREAMS as u16));
        self.client
            .subscribe(self.settings.subscription_path())
            .set_max_outstanding_messages(per_stream)
            .set_max_outstanding_bytes(MAX_OUTSTANDING_BYTES)
            .set_max_lease_extension(LEASE_EXTENSION)
            // Keep accepting the sink's acks for what it already holds while shutting down.
            .set_shutdown_behavior(ShutdownBehavior::WaitForProcessing)
            .build()
    }

    /// Forwards one stream's messages until shutdown or the sink is gone, subscribing again
    /// whenever the stream fails; returns the last stream, for its graceful shutdown.
    async fn pull(
        &self,
        mut reconnector: Reconnector,
        window: &Arc<Semaphore>,
        metrics: &SubscriberMetrics,
        tx: &mpsc::Sender<Delivery>,
        mut shutdown: impl Future<Output = ()> + Unpin,
    ) -> MessageStream {
        let mut stream = self.subscribe();
        loop {
            let Stop::Lost(why) = forward(&mut stream, window, metrics, tx, &mut shutdown).await
            else {
                return stream;
            };
            let reachable = reconnector.restore(why, Pin::new(&mut shutdown), || self.reachable());
            if reachable.await.is_none() {
                return stream;
            }
            stream = self.subscribe();
        }
    }

    /// Whether the service answers, and has the topic and subscription: an emulator that
    /// restarted lost both, and a streaming pull on a missing subscription never succeeds.
    async fn reachable(&self) -> Result<(), String> {
        match tokio::time::timeout(RECONNECT_TIMEOUT, ensure_topology(&self.settings)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {RECONNECT_TIMEOUT:?}")),
        }
    }
}

/// Forwards messages into `tx` until `shutdown` completes, `tx` closes or the stream fails.
async fn forward(
    stream: &mut MessageStream,
    window: &Arc<Semaphore>,
    metrics: &SubscriberMetrics,
    tx: &mpsc::Sender<Delivery>,
    mut shutdown: impl Future<Output = ()> + Unpin,
) -> Stop {
    loop {
        let place = tokio::select! {
            () = &mut shutdown => return Stop::Done,
            place = window.clone().acquire_owned() => place.expect("the window semaphore is never closed"),
        };
        let (message, handler) = tokio::select! {
            () = &mut shutdown => return Stop::Done,
            () = tx.closed() => return Stop::Done,
            next = stream.next() => match next {
                Some(Ok(pair)) => pair,
                Some(Err(e)) => return Stop::Lost(err("streaming pull")(e).to_string()),
                None => return Stop::Lost("the streaming pull ended".into()),
            },
        };
        match decode(&message.data, metrics) {
            Some(envelope) => {
                let delivery = Delivery::new(
                    envelope,
                    Acker::Pubsub(PubsubAck {
                        handler,
                        _window: place,
                    }),
                );
                // The bounded channel is the backpressure; the handle is dropped (nacked) if the
                // sink is gone.
                tokio::select! {
                    () = &mut shutdown => return Stop::Done,
                    sent = tx.send(delivery) => if sent.is_err() { return Stop::Done },
                }
            }
            // A message that can never decode would be redelivered forever: ack it away.
            None => handler.ack(),
        }
    }
}
