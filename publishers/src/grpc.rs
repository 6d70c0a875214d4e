//! gRPC path: the ingress calls the subscriber's `CaseSink.Deliver` over one HTTP/2 channel.

use brokerbench_common::envelope::case_sink_client::CaseSinkClient;
use brokerbench_common::envelope::{Envelope, EnvelopeBatch};
use brokerbench_common::settings::{GrpcSettings, Middleware};
use tonic::transport::{Channel, Endpoint};

use crate::PathError;

/// One multiplexed channel; the reply arrives only once the subscriber stored the batch.
#[derive(Debug, Clone)]
pub struct GrpcPublisher {
    client: CaseSinkClient<Channel>,
}

impl GrpcPublisher {
    /// Connects lazily, so the ingress may start before the subscriber; a publish while the
    /// subscriber is down fails with `Unavailable` rather than hanging.
    pub fn connect(settings: &GrpcSettings) -> Result<Self, PathError> {
        let endpoint = Endpoint::from_shared(format!("http://{}", settings.addr))
            .map_err(|e| PathError::new(Middleware::Grpc, "parse address", e))?
            .tcp_nodelay(true);
        Ok(Self {
            client: CaseSinkClient::new(endpoint.connect_lazy()),
        })
    }

    pub async fn publish(&self, batch: &[Envelope]) -> Result<(), PathError> {
        let request = EnvelopeBatch {
            envelopes: batch.to_vec(),
        };
        let reply = self
            .client
            .clone()
            .deliver(request)
            .await
            .map_err(|status| PathError::new(Middleware::Grpc, "deliver", status))?
            .into_inner();
        if reply.stored as usize != batch.len() {
            let text = format!("subscriber stored {} of {}", reply.stored, batch.len());
            return Err(PathError::new(Middleware::Grpc, "deliver", text));
        }
        Ok(())
    }
}
