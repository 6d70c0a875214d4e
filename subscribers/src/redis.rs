//! Redis Streams path: a consumer in the group reads with `XREADGROUP`, holding at most the
//! consumer window unacknowledged; each entry is `XACK`ed once the store wrote it, and deleted
//! (`XDEL`, in the same round trip): a stream nobody trims would otherwise keep every case ever
//! published, and a long-lived deployment would grow until Redis runs out of memory.
//!
//! Nothing read is lost when a subscriber dies: the entry stays in the group's pending list. On
//! start this consumer first re-reads its own pending entries (a restart under the same
//! `--redis-consumer` name), and every half `--redis-claim-idle-ms` (at most every 5 s) it claims
//! entries any consumer has held longer than that (`XAUTOCLAIM`): a dead consumer's, or its own
//! nacked ones, which is also how a failed write is redelivered after a delay rather than at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::middleware::BoxError;
use brokerbench_common::middleware::redis::{ENVELOPE_FIELD, connect, ensure_group};
use brokerbench_common::settings::{Middleware, RedisSettings};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use crate::backoff::{Reconnector, Settled};
use crate::{Acker, Delivery, Health, PathError, SubscriberMetrics, decode};

/// How long an `XREADGROUP` waits for new entries (short, under the response timeout).
const BLOCK_MS: usize = 200;
/// Entries asked for per read, at most (fewer when the window is nearly full).
const READ_COUNT: usize = 500;
/// Longest time between two looks for entries to claim.
const MAX_CLAIM_EVERY: Duration = Duration::from_secs(5);

/// The handle that acknowledges one stream entry; it holds one place of the consumer window.
pub struct RedisAck {
    connection: ConnectionManager,
    stream: Arc<str>,
    group: Arc<str>,
    id: String,
    _window: OwnedSemaphorePermit,
}

impl RedisAck {
    pub async fn ack(mut self) -> Result<(), BoxError> {
        let ids = [&self.id];
        redis::pipe()
            .xack(&*self.stream, &*self.group, &ids)
            .ignore()
            .xdel(&*self.stream, &ids)
            .ignore()
            .query_async::<()>(&mut self.connection)
            .await?;
        Ok(())
    }

    /// Leaves the entry pending: it is claimed and delivered again once idle for
    /// `--redis-claim-idle-ms`, which is also the delay before it comes again.
    pub fn nack(self) {}
}

impl std::fmt::Debug for RedisAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisAck({})", self.id)
    }
}

pub struct RedisSource {
    /// Blocking reads get a connection of their own so that acks never queue behind them.
    reads: ConnectionManager,
    acks: ConnectionManager,
    stream: Arc<str>,
    group: Arc<str>,
    consumer: String,
    window: Arc<Semaphore>,
    claim_idle: Duration,
}

impl RedisSource {
    pub async fn connect(settings: &RedisSettings, window: u16) -> Result<Self, PathError> {
        let mut acks = connect(settings).await?;
        ensure_group(&mut acks, settings).await?;
        Ok(Self {
            reads: connect(settings).await?,
            acks,
            stream: settings.stream.as_str().into(),
            group: settings.group.as_str().into(),
            consumer: settings.consumer_name(),
            window: Arc::new(Semaphore::new(window.into())),
            claim_idle: Duration::from_millis(settings.claim_idle_ms),
        })
    }

    /// Feeds deliveries into `tx` until `shutdown` completes or the sink is gone. Failed reads
    /// are retried with backoff (the connection manager reconnects): a broker restart pauses
    /// this path, it does not end it.
    pub async fn run(
        mut self,
        metrics: SubscriberMetrics,
        health: Arc<Health>,
        tx: mpsc::Sender<Delivery>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PathError> {
        tokio::pin!(shutdown);
        let mut reconnector = Reconnector::new(Middleware::Redis, &metrics, health);
        // First what this consumer read before a restart and never acknowledged.
        let mut own_pending = Some("0".to_string());
        let claim_every = (self.claim_idle / 2).min(MAX_CLAIM_EVERY);
        let mut next_claim = Instant::now() + claim_every;
        loop {
            // Wait for room in the window, then ask for as many entries as there is room for.
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                place = self.window.acquire() => drop(place),
            }
            let wanted = self.window.available_permits().clamp(1, READ_COUNT);
            let read = match own_pending.as_deref() {
                Some(after) => self.read(after, wanted, None).await,
                None if Instant::now() >= next_claim => {
                    next_claim = Instant::now() + claim_every;
                    self.claim(wanted).await
                }
                None => self.read(">", wanted, Some(BLOCK_MS)).await,
            };
            let entries = match reconnector
                .settle(read, &metrics.errors, shutdown.as_mut())
                .await
            {
                Settled::Read(entries) => entries,
                Settled::Retry => continue,
                Settled::Stop => return Ok(()),
            };
            if own_pending.is_some() {
                own_pending = entries.last().map(|e| e.id.clone());
            }
            for entry in entries {
                if !self.forward(entry, &metrics, &tx).await {
                    return Ok(());
                }
            }
        }
    }

    /// `XREADGROUP` after `after` (`>`: entries never delivered to the group; an id: this
    /// consumer's own pending entries after it).
    async fn read(
        &mut self,
        after: &str,
        count: usize,
        block_ms: Option<usize>,
    ) -> redis::RedisResult<Vec<StreamId>> {
        let mut options = StreamReadOptions::default()
            .group(&*self.group, &self.consumer)
            .count(count);
        if let Some(ms) = block_ms {
            options = options.block(ms);
        }
        let reply: Option<StreamReadReply> = self
            .reads
            .xread_options(&[&*self.stream], &[after], &options)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect())
    }

    /// Takes over entries pending longer than `claim_idle` with any consumer of the group.
    async fn claim(&mut self, count: usize) -> redis::RedisResult<Vec<StreamId>> {
        let idle = usize::try_from(self.claim_idle.as_millis()).unwrap_or(usize::MAX);
        let options = StreamAutoClaimOptions::default().count(count);
        let reply: redis::streams::StreamAutoClaimReply = self
            .reads
            .xautoclaim_options(
                &*self.stream,
                &*self.group,
                &self.consumer,
                idle,
                "0-0",
                options,
            )
            .await?;
        if !reply.claimed.is_empty() {
            tracing::info!(
                claimed = reply.claimed.len(),
                "claimed Redis entries pending longer than {:?}",
                self.claim_idle
            );
        }
        Ok(reply.claimed)
    }

    /// Hands one entry to the sink; `false` once the sink is gone.
    async fn forward(
        &self,
        entry: StreamId,
        metrics: &SubscriberMetrics,
        tx: &mpsc::Sender<Delivery>,
    ) -> bool {
        let Some(envelope) = entry
            .get::<Vec<u8>>(ENVELOPE_FIELD)
            .and_then(|bytes| decode(&bytes, metrics))
        else {
            // Not an envelope: it could never be stored, so acknowledge it away.
            let mut acks = self.acks.clone();
            let _: redis::RedisResult<usize> =
                acks.xack(&*self.stream, &*self.group, &[&entry.id]).await;
            return true;
        };
        let Ok(place) = self.window.clone().acquire_owned().await else {
            return false;
        };
        let ack = RedisAck {
            connection: self.acks.clone(),
            stream: self.stream.clone(),
            group: self.group.clone(),
            id: entry.id,
            _window: place,
        };
        tx.send(Delivery::new(envelope, Acker::Redis(ack)))
            .await
            .is_ok()
    }
}
