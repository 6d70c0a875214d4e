//! Which publisher(s) a request goes to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::{Counter, Latency, Registry};
use brokerbench_publishers::Publisher;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoutingMode {
    Single,
    Split,
    All,
}

/// A publisher with its own counters and publish-latency histogram.
pub struct Route {
    pub publisher: Publisher,
    pub published: Arc<Counter>,
    pub errors: Arc<Counter>,
    /// Publishes the middleware acknowledged.
    pub latency: Arc<Latency>,
    /// Publishes refused or given up on: how long each took to fail.
    pub failed_latency: Arc<Latency>,
}

pub struct Routes {
    mode: RoutingMode,
    routes: Vec<Route>,
    next: AtomicUsize,
}

impl Routes {
    pub fn new(
        mode: RoutingMode,
        publishers: Vec<Publisher>,
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        match (mode, publishers.len()) {
            (_, 0) => anyhow::bail!("no middleware selected"),
            (RoutingMode::Single, n) if n > 1 => {
                anyhow::bail!(
                    "--routing single takes exactly one middleware, got {n}; use split or all"
                )
            }
            _ => {}
        }
        let routes = publishers
            .into_iter()
            .map(|publisher| {
                let name = Some(publisher.middleware());
                Route {
                    published: registry.counter(CounterMetric::Published, name),
                    errors: registry.counter(CounterMetric::PublishErrors, name),
                    latency: registry.latency(LatencyMetric::Publish, name),
                    failed_latency: registry.latency(LatencyMetric::PublishErrors, name),
                    publisher,
                }
            })
            .collect();
        Ok(Self {
            mode,
            routes,
            next: AtomicUsize::new(0),
        })
    }

    /// What keeps a route from publishing now (a disconnected broker, with why), one per route.
    pub fn not_ready(&self) -> Vec<String> {
        self.routes
            .iter()
            .filter_map(|r| {
                let m = r.publisher.middleware();
                r.publisher.not_ready().map(|why| format!("{m}: {why}"))
            })
            .collect()
    }

    /// The routes one request is published to: when splitting, one — chosen by its
    /// `Idempotency-Key` when it has one, so that a retry goes where the first try went, else by
    /// round robin; otherwise all.
    pub fn pick(&self, key: Option<&str>) -> &[Route] {
        match self.mode {
            RoutingMode::Split => {
                let n = self.routes.len();
                let i = match key {
                    Some(key) => (super::keys::fingerprint(key.as_bytes()) % n as u64) as usize,
                    None => self.next.fetch_add(1, Ordering::Relaxed) % n,
                };
                &self.routes[i..=i]
            }
            RoutingMode::Single | RoutingMode::All => &self.routes,
        }
    }
}
