//! Redis Streams path: every envelope is one `XADD` (the protobuf bytes in one field); a batch goes
//! out as one pipeline and returns once Redis answered every entry, which under the `disk`
//! profile's `appendfsync always` is after the AOF write reached the disk.

use brokerbench_common::envelope::Envelope;
use brokerbench_common::middleware::redis::{ENVELOPE_FIELD, connect, ensure_group};
use brokerbench_common::settings::{Middleware, RedisSettings};
use redis::aio::ConnectionManager;

use crate::PathError;

#[derive(Clone)]
pub struct RedisPublisher {
    /// Multiplexed and reconnecting: clones share one connection.
    connection: ConnectionManager,
    stream: String,
}

impl std::fmt::Debug for RedisPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPublisher")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl RedisPublisher {
    pub async fn connect(settings: &RedisSettings) -> Result<Self, PathError> {
        let mut connection = connect(settings).await?;
        ensure_group(&mut connection, settings).await?;
        Ok(Self {
            connection,
            stream: settings.stream.clone(),
        })
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let mut pipe = redis::pipe();
        for envelope in batch {
            pipe.xadd(&self.stream, "*", &[(ENVELOPE_FIELD, envelope.to_bytes())]);
        }
        let ids: Vec<String> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(PathError::during(Middleware::Redis, "XADD"))?;
        if ids.len() != batch.len() {
            let text = format!("Redis answered {} of {} appends", ids.len(), batch.len());
            return Err(PathError::new(Middleware::Redis, "XADD", text));
        }
        Ok(())
    }
}
