//! gRPC: no broker; the ingress calls the subscriber's `CaseSink.Deliver` directly.

use clap::Args;

use crate::path_settings::{Durability, Guarantee, MiddlewareSettings};

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

impl MiddlewareSettings for GrpcSettings {
    fn to_args(&self) -> Vec<String> {
        vec![format!("--grpc-addr={}", self.addr)]
    }

    /// No names of its own: gRPC has no broker-side topology.
    fn isolate(&mut self, _tag: &str) {}

    fn endpoint(&self) -> String {
        self.addr.clone()
    }

    fn guarantee(&self, _: Durability) -> Guarantee {
        guarantee()
    }
}

fn guarantee() -> Guarantee {
    Guarantee {
        durable: false,
        text: "no broker: the ingress hands each case to the subscriber directly; nothing is kept before the store",
    }
}
