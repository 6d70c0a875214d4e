//! gRPC path: the subscriber is the server; `Deliver` replies once the whole batch is stored.

use std::future::Future;

use brokerbench_common::envelope::case_sink_server::{CaseSink, CaseSinkServer};
use brokerbench_common::envelope::{DeliverReply, EnvelopeBatch};
use brokerbench_common::settings::Middleware;
use futures::future::join_all;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::{Acker, Delivery, PathError, SubscriberMetrics};

struct Sink {
    metrics: SubscriberMetrics,
    tx: mpsc::Sender<Delivery>,
}

#[tonic::async_trait]
impl CaseSink for Sink {
    async fn deliver(
        &self,
        request: Request<EnvelopeBatch>,
    ) -> Result<Response<DeliverReply>, Status> {
        let envelopes = request.into_inner().envelopes;
        let mut stored = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            self.metrics.on_received(&envelope);
            let (done, wait) = oneshot::channel();
            self.tx
                .send(Delivery::new(envelope, Acker::Grpc(done)))
                .await
                .map_err(|_| Status::unavailable("subscriber is shutting down"))?;
            stored.push(wait);
        }
        let total = stored.len();
        let ok = join_all(stored)
            .await
            .into_iter()
            .filter(Result::is_ok)
            .count();
        if ok != total {
            return Err(Status::unavailable(format!(
                "stored {ok} of {total}; retry the rest"
            )));
        }
        Ok(Response::new(DeliverReply {
            stored: u32::try_from(ok).unwrap_or(u32::MAX),
        }))
    }
}

pub async fn serve(
    listener: TcpListener,
    metrics: SubscriberMetrics,
    tx: mpsc::Sender<Delivery>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PathError> {
    tonic::transport::Server::builder()
        .add_service(CaseSinkServer::new(Sink { metrics, tx }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(PathError::during(Middleware::Grpc, "serve"))
}
