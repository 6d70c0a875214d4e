//! The middlewares under comparison, each in one place: its connection settings and topology in
//! a module here (used by the publisher *and* the subscriber side, so both agree on names), and
//! one [`Descriptor`] that every list in bench, report, serve and the tests reads.
//!
//! Adding a middleware: give [`Middleware`] a variant and follow the compiler (its place in
//! `Middleware::next`, then its [`Descriptor`], its settings block and topology removal in
//! `settings.rs`, its depth probe, its publisher, its source and its acker: every one a closed
//! match), then `cargo test --test structure`, which names each file outside Rust that lacks it
//! (the local stack's `scripts/stack.d/<service>.sh`, compose, Prometheus, the Helm chart, the
//! READMEs). The tests driven by `Middleware::ALL` then run the new path against its real server.

pub mod depth;
pub mod grpc;
pub mod kafka;
pub mod leader;
pub mod nats;
pub mod probe;
pub mod pubsub;
pub mod rabbitmq;
pub mod redis;

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The middlewares under comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Middleware {
    Grpc,
    Nats,
    Rabbitmq,
    Pubsub,
    Redis,
    Kafka,
}

/// What the rest of the project needs to know about a middleware, besides its code.
#[derive(Debug)]
pub struct Descriptor {
    pub middleware: Middleware,
    /// The name on the command line, in results and on every page.
    pub name: &'static str,
    /// The service of `scripts/stack` (and of compose) that runs its broker; `None` when the path
    /// has no broker of its own.
    pub stack_service: Option<&'static str>,
    /// The colour of the path in every chart (RGB).
    pub colour: (u8, u8, u8),
    /// Whether a process (its `comm` and its command line) is this middleware's broker server, so
    /// that the runner can charge the broker's CPU and memory to the path.
    pub is_broker: fn(comm: &str, cmdline: &str) -> bool,
    /// The broker's version on this machine, for the run's environment record.
    pub broker_version: fn() -> Option<String>,
    /// The warm-up (seconds) a run gives the path when `--warmup` does not say: longer where the
    /// broker is slow until its own code is compiled.
    pub warmup_s: u64,
}

/// The warm-up of a path whose broker needs no more: in a fresh `make bench` (2026-12-05, 500/s)
/// Pub/Sub's e2e p99 per second was still 61, 49, 45 ms in seconds 2–5, 34 ms over the measure
/// phase.
pub const WARMUP_S: u64 = 5;

/// One entry per middleware, in [`Middleware::ALL`] order.
pub static DESCRIPTORS: [Descriptor; Middleware::COUNT] = [
    Descriptor {
        middleware: Middleware::Grpc,
        name: "grpc",
        stack_service: None,
        colour: (31, 119, 180),
        is_broker: |_, _| false,
        broker_version: || None,
        warmup_s: WARMUP_S,
    },
    Descriptor {
        middleware: Middleware::Nats,
        name: "nats",
        stack_service: Some("nats"),
        colour: (44, 160, 44),
        is_broker: |comm, _| comm == "nats-server",
        broker_version: || first_line("nats-server", &["--version"]),
        warmup_s: WARMUP_S,
    },
    Descriptor {
        middleware: Middleware::Rabbitmq,
        name: "rabbitmq",
        stack_service: Some("rabbitmq"),
        colour: (255, 127, 14),
        is_broker: |comm, cmd| comm == "beam.smp" && cmd.contains("rabbit"),
        broker_version: || first_line("dpkg-query", &["-W", "-f=${Version}", "rabbitmq-server"]),
        warmup_s: WARMUP_S,
    },
    Descriptor {
        middleware: Middleware::Pubsub,
        name: "pubsub",
        stack_service: Some("pubsub"),
        colour: (148, 103, 189),
        is_broker: |comm, cmd| comm == "java" && cmd.contains("pubsub"),
        broker_version: pubsub::emulator_version,
        warmup_s: WARMUP_S,
    },
    Descriptor {
        middleware: Middleware::Redis,
        name: "redis",
        stack_service: Some("redis"),
        colour: (214, 39, 40),
        is_broker: |comm, _| comm == "redis-server",
        broker_version: || first_line("redis-server", &["--version"]),
        warmup_s: WARMUP_S,
    },
    Descriptor {
        middleware: Middleware::Kafka,
        name: "kafka",
        stack_service: Some("kafka"),
        colour: (140, 86, 75),
        is_broker: |comm, cmd| comm == "java" && cmd.contains("kafka.Kafka"),
        broker_version: kafka::broker_version,
        // A freshly started Kafka (its JVM) at 500/s after 5 s of warm-up: e2e p99 111 ms over the
        // 20 s measured, 40–184 ms in most seconds up to the 18th; 9.6 ms in the next run. Its own
        // ProducerPerformance, 60,000 cases at 4,000/s just before, left 109 ms (2026-12-05).
        // After 30 s of warm-up, freshly started: 17.6 ms, most seconds 9–16 ms; and it kept up
        // with the sweep's 4,000/s at once, where after 5 s it fell behind (broker).
        warmup_s: 30,
    },
];

impl Middleware {
    /// The middleware after `self` in [`Middleware::ALL`]. An exhaustive match: a new variant
    /// does not compile until it has its place here, and then [`Middleware::ALL`] holds it and
    /// [`DESCRIPTORS`] does not compile until it has its entry (their length is counted here).
    const fn next(self) -> Option<Self> {
        match self {
            Self::Grpc => Some(Self::Nats),
            Self::Nats => Some(Self::Rabbitmq),
            Self::Rabbitmq => Some(Self::Pubsub),
            Self::Pubsub => Some(Self::Redis),
            Self::Redis => Some(Self::Kafka),
            Self::Kafka => None,
        }
    }

    /// How many middlewares there are.
    pub const COUNT: usize = {
        let (mut count, mut m) = (1, Self::Grpc);
        while let Some(next) = m.next() {
            (count, m) = (count + 1, next);
        }
        count
    };

    /// Every middleware, in declaration order.
    pub const ALL: [Middleware; Self::COUNT] = {
        let mut all = [Self::Grpc; Self::COUNT];
        let mut i = 1;
        while i < Self::COUNT {
            all[i] = match all[i - 1].next() {
                Some(m) => m,
                None => panic!("COUNT is the length of the chain of next"),
            };
            i += 1;
        }
        all
    };

    pub fn descriptor(self) -> &'static Descriptor {
        let d = &DESCRIPTORS[self as usize];
        debug_assert_eq!(d.middleware, self, "DESCRIPTORS is in Middleware order");
        d
    }

    pub fn name(self) -> &'static str {
        self.descriptor().name
    }

    /// Every middleware's name, in [`Middleware::ALL`] order, joined by `separator`: the one
    /// source of the lists in help and error texts.
    pub fn names(separator: &str) -> String {
        Self::ALL.map(Self::name).join(separator)
    }

    /// The MongoDB collection this path's subscriber writes to.
    pub fn collection(self) -> String {
        format!("cases_{}", self.name())
    }
}

impl fmt::Display for Middleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Middleware {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        <Self as ValueEnum>::from_str(s, false)
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A middleware refused, failed or did not acknowledge something one side of a path asked
/// (connect, publish, receive, create or remove topology).
#[derive(Debug, thiserror::Error)]
#[error("{middleware}: {action} failed: {source}")]
pub struct PathError {
    pub middleware: Middleware,
    pub action: &'static str,
    #[source]
    pub source: BoxError,
}

impl PathError {
    pub fn new(middleware: Middleware, action: &'static str, source: impl Into<BoxError>) -> Self {
        Self {
            middleware,
            action,
            source: source.into(),
        }
    }

    /// For `map_err`: wraps any error of `action` on `middleware`.
    pub fn during<E: Into<BoxError>>(
        middleware: Middleware,
        action: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |e| Self::new(middleware, action, e)
    }
}

/// The first non-empty line a program prints (stdout, else stderr), for version probes.
pub fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_follow_the_enum() {
        for m in Middleware::ALL {
            assert_eq!(m.descriptor().middleware, m);
            assert_eq!(
                m.name(),
                crate::path_settings::value_name(&m),
                "the descriptor's name is the command-line name"
            );
        }
        assert_eq!(Middleware::ALL.len(), Middleware::value_variants().len());
    }
}
