//! gRPC: no broker; the ingress calls the subscriber's `CaseSink.Deliver` directly.

use clap::Args;

use crate::settings::Guarantee;

#[derive(Debug, Clone, Args)]
pub struct GrpcSettings {
    /// gRPC subscriber address: where the subscriber listens and the ingress connects (host:port).
    #[arg(
        id = "grpc-addr",
        long = "grpc-addr",
        env = "BB_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: String,
}

impl GrpcSettings {
    pub fn to_args(&self) -> Vec<String> {
        vec![format!("--grpc-addr={}", self.addr)]
    }
}

pub fn guarantee() -> Guarantee {
    Guarantee {
        durable: false,
        text: "no broker: the ingress hands each case to the subscriber directly; nothing is kept before the store",
    }
}
