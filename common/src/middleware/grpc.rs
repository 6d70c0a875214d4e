//! gRPC: no broker; the ingress calls the subscriber's `CaseSink.Deliver` directly.

use clap::Args;

use crate::path_settings::{Durability, Guarantee, MiddlewareSettings};

#[derive(Debug, Clone, Args)]
pub struct GrpcSettings {
    /// gRPC subscriber address: where the subscriber listens and the ingress connects (host:port).
    /// The ingress takes a comma-separated list of replicas and spreads batches over them in
    /// turn, passing one that is unreachable on to the next.
    #[arg(
        id = "grpc-addr",
        long = "grpc-addr",
        env = "BB_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: String,
}

impl GrpcSettings {
    /// Every address `addr` lists.
    pub fn addrs(&self) -> Vec<&str> {
        (self.addr.split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect()
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn addrs_lists_every_replica_once_trimmed() {
        let settings = |addr: &str| super::GrpcSettings { addr: addr.into() };
        assert_eq!(settings("127.0.0.1:1").addrs(), ["127.0.0.1:1"]);
        let two = settings("127.0.0.1:1, 127.0.0.1:2,");
        assert_eq!(two.addrs(), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(settings("").addrs().is_empty());
    }
}
