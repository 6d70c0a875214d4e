//! gRPC path: the ingress calls a subscriber's `CaseSink.Deliver` over one HTTP/2 channel per
//! subscriber replica, taking the replicas in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use brokerbench_common::envelope::case_sink_client::CaseSinkClient;
use brokerbench_common::envelope::{Envelope, EnvelopeBatch};
use brokerbench_common::settings::{GrpcSettings, Middleware};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::PathError;

/// One multiplexed channel per replica; the reply arrives only once the subscriber stored the
/// batch.
#[derive(Debug, Clone)]
pub struct GrpcPublisher {
    replicas: Arc<[CaseSinkClient<Channel>]>,
    /// The replica the next batch tries first.
    next: Arc<AtomicUsize>,
}

impl GrpcPublisher {
    /// Connects lazily, so the ingress may start before the subscribers; a publish while every
    /// subscriber is down fails with `Unavailable` rather than hanging.
    pub fn connect(settings: &GrpcSettings) -> Result<Self, PathError> {
        let mut replicas = Vec::new();
        for addr in settings.addrs() {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| PathError::new(Middleware::Grpc, "parse address", e))?
                .tcp_nodelay(true);
            replicas.push(CaseSinkClient::new(endpoint.connect_lazy()));
        }
        if replicas.is_empty() {
            return Err(PathError::new(
                Middleware::Grpc,
                "parse address",
                "no address",
            ));
        }
        Ok(Self {
            replicas: replicas.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Delivers `batch` to the next replica in turn; one that is unavailable (down, or its
    /// store away) passes the batch on to the next, until each was tried once. What an
    /// unavailable replica stored before it answered is met as a duplicate by the next one.
    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = None;
        for k in 0..self.replicas.len() {
            let replica = &self.replicas[(first + k) % self.replicas.len()];
            match deliver(replica, batch).await {
                Err(status) if status.code() == Code::Unavailable => last_error = Some(status),
                Err(status) => return Err(PathError::new(Middleware::Grpc, "deliver", status)),
                Ok(stored) if stored != batch.len() => {
                    let text = format!("subscriber stored {stored} of {}", batch.len());
                    return Err(PathError::new(Middleware::Grpc, "deliver", text));
                }
                Ok(_) => return Ok(()),
            }
        }
        let status = last_error.unwrap_or_else(|| tonic::Status::unavailable("no replica"));
        Err(PathError::new(Middleware::Grpc, "deliver", status))
    }
}

/// How many cases of `batch` one replica stored.
async fn deliver(
    replica: &CaseSinkClient<Channel>,
    batch: &[Envelope],
) -> Result<usize, tonic::Status> {
    let request = EnvelopeBatch {
        envelopes: batch.to_vec(),
    };
    let reply = replica.clone().deliver(request).await?.into_inner();
    Ok(reply.stored as usize)
}
