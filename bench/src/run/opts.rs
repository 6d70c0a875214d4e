//! The options of `brokerbench run`, as parsed and as recorded in summary.json's config.

use std::path::PathBuf;

use brokerbench_common::case::MAX_BATCH;
use brokerbench_common::settings::{BrokerSettings, Middleware, MongoSettings};
use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::faults;
use crate::results::generator::Generator;
use crate::subscriber::{DEFAULT_SINK_WRITERS, SinkKind, WriteConcernKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunRouting {
    /// One path at a time, so they do not fight for the cores.
    Single,
    /// All paths at once from one ingress: identical traffic, shared cores.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// One broker node per path, on this machine.
    Single,
    /// Each path's broker cluster, on simulated hosts.
    Cluster,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct RunOpts {
    /// Measure a pipeline that is already running (docker compose, Kubernetes, other hosts)
    /// instead of starting one: a TOML file naming the ingress, each subscriber's stats URL and
    /// optionally the store (examples: compose/targets/). The ingress's paths replace
    /// `--middlewares` and `--routing`; BB_CONTROL_TOKEN must hold the components' token.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Who offers the load.
    #[arg(long, value_enum, default_value_t = Generator::Builtin)]
    pub generator: Generator,
    /// Locust executable (default: .stack/venv/bin/locust, else locust on PATH).
    #[arg(long)]
    pub locust_bin: Option<PathBuf>,
    /// Locust file for `--generator locust`.
    #[arg(long, default_value = "locust/locustfile.py")]
    pub locustfile: PathBuf,
    /// Locust worker processes on this machine (`--generator locust`); default: one per core.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub locust_workers: Option<u16>,
    /// Locust workers started elsewhere (`locust -f locust/locustfile.py --worker
    /// --master-host <this machine>`) that the master waits for (up to 2 min) before the load
    /// starts; none runs here then. Their clocks must agree with this machine's: each request
    /// carries its intended send time.
    #[arg(long, conflicts_with = "locust_workers", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub locust_expect_workers: Option<u16>,
    /// Where the Locust master listens for workers started elsewhere.
    #[arg(long, default_value = "127.0.0.1:5557")]
    pub locust_master_bind: std::net::SocketAddr,
    /// Paths to measure (comma separated), in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = Middleware::ALL
    )]
    pub middlewares: Vec<Middleware>,
    /// Offered load in cases per second (open loop: sent on schedule whatever the answers).
    #[arg(long, default_value_t = 500.0, value_parser = crate::units::rate)]
    pub rate: f64,
    /// Length of the measure phase: seconds, or a duration with its unit (90s, 2m).
    #[arg(long, default_value = "20s", value_parser = crate::units::whole_seconds)]
    pub duration: u64,
    /// Warm-up before measuring (excluded from the results): seconds, or with a unit. Default:
    /// each path's own, 5 s, and 30 s for Kafka, whose freshly started broker (a JVM) is slow
    /// until its code is compiled (e2e p99 111 ms over its first 20 s measured after 5 s of
    /// warm-up, 9.6 ms once warm). A group of paths (routing `all`) gets its longest.
    #[arg(long, value_parser = crate::units::whole_seconds)]
    pub warmup: Option<u64>,
    /// Longest wait after the load stops for stored to reach accepted: seconds, or with a unit.
    #[arg(long, default_value = "60s", value_parser = crate::units::whole_seconds)]
    pub drain_timeout: u64,
    /// The drain ends only after this long with every accepted case stored and no new
    /// delivery or duplicate, so late redeliveries are counted (milliseconds). Default 2000
    /// with a fault, a forced duplicate or a stall (what redelivers a case soon after the
    /// load), else 500: a broker's own redelivery comes after an ack wait of 10–60 s, past any
    /// quiet period, and the 2 s lengthened each path of `make bench` by 1.5 s.
    #[arg(long)]
    pub quiet_period_ms: Option<u64>,
    /// Longest the generator waits for an answer (seconds, or with a unit); a request still
    /// unanswered then is recorded as an error at least that long, never dropped.
    #[arg(long, default_value = "30s", value_parser = crate::units::whole_seconds)]
    pub answer_deadline: u64,
    /// Nice value of the built-in generator's threads (-20 to 19; below 0 needs root, else it is
    /// warned about and ignored). Measured at 500 cases/s, five paths, two runs each side by side
    /// on 2 cores: lateness p99 median 0.89 ms at nice 0 (5 of 10 paths above 1 ms) against 0.60 ms
    /// at -10 (2 of 10, both Pub/Sub); at 2,000/s p50 fell from 0.2 to 0.08 ms, p99 stayed 2–6 ms.
    #[arg(long, default_value_t = -10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub generator_nice: i32,
    /// Keep-alive HTTP connections of the generator (its most requests in flight).
    #[arg(long, default_value_t = 64, value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub connections: usize,
    /// Cases per request (1 sends an object, more a JSON array).
    #[arg(long, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_BATCH as u64))]
    pub cases_per_request: usize,
    /// Where subscribers put cases: `mongodb`, or `none` to measure the middlewares alone
    /// (acknowledged on receipt; e2e then ends at the subscriber).
    #[arg(long, value_enum, default_value_t = SinkKind::Mongodb)]
    pub sink: SinkKind,
    /// Where the brokers run: `single`, one node per path on this machine (scripts/stack), or
    /// `cluster`, each path's nodes on simulated hosts as its cluster file in `--cluster-dir`
    /// describes them (run the runner on one of those hosts, where the nodes resolve).
    #[arg(long, value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,
    /// Folder of the cluster files (`<middleware>.toml`) of `--topology cluster`.
    #[arg(long, default_value = ".stack/cluster")]
    pub cluster_dir: PathBuf,
    /// The clusters of `--topology cluster`, read from `--cluster-dir` when the run starts.
    #[arg(skip)]
    pub clusters: Vec<super::cluster::Cluster>,
    /// Subscriber processes per path, competing for its cases: a NATS queue group or one
    /// JetStream durable consumer, consumers of one RabbitMQ queue, one Redis consumer group
    /// (each its own consumer name), one Pub/Sub subscription, one Kafka group (the topic gets
    /// at least one partition each), and for gRPC replicas the ingress spreads batches over.
    /// Every case is still stored once and counted by id; the summary gives each replica's share.
    /// JetStream's `--consumer-window` is the durable consumer's, so its replicas share one.
    #[arg(long, default_value_t = 1, conflicts_with = "target",
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub subscribers: u16,
    /// Batches each subscriber writes to MongoDB concurrently.
    #[arg(long, default_value_t = DEFAULT_SINK_WRITERS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sink_writers: u16,
    /// How far MongoDB must have taken each write before the subscriber acknowledges the case
    /// (recorded in summary.json's config): majority (w: majority, j: true), journaled, acknowledged.
    #[arg(long, value_enum, default_value_t = WriteConcernKind::Majority)]
    pub write_concern: WriteConcernKind,
    /// Failed writes of one case before the subscriber moves it to `dead_<path>`.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub delivery_limit: u32,
    /// Before the paths, measure each stage alone (store, middleware, ingress) and show the
    /// ceilings beside the run's figures (`brokerbench ceilings`; adds about 15 s per path).
    #[arg(long)]
    pub ceilings: bool,
    /// After the fixed-rate runs, offer each path this rate; one that falls behind there is
    /// searched between `--rate` and it until its knee is known within 10 % (just below what a
    /// saturated step stored, else half-way; see `brokerbench sweep`), `--sweep-step-s` a
    /// step, so that the verdict has the knee and report.html the latency-vs-throughput curve
    /// through the steps (step runs under `sweep/`; `brokerbench sweep` doubles the rate instead,
    /// for more points on the curve).
    #[arg(long, value_parser = crate::units::rate)]
    pub sweep_to: Option<f64>,
    /// Measure-phase length of each `--sweep-to` step, seconds.
    #[arg(long, default_value_t = 8)]
    pub sweep_step_s: u64,
    /// A fault on every group run's timeline, repeatable: KIND@START[+DURATION] in seconds from
    /// the measure phase's start. KIND: broker-kill, broker-pause, store-pause, store-kill,
    /// subscriber-kill, ingress-kill (net-delay, net-loss: not available here). Brokers and the
    /// store must be scripts/stack's; the report gets a resilience section.
    #[arg(long = "fault", value_name = "KIND@START[+DURATION]")]
    pub faults: Vec<faults::FaultSpec>,
    /// Re-sends of a request answered 502/503/504 or not at all, under the same Idempotency-Key
    /// (so each case is stored once): after Retry-After, else 0.5 s, doubling.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Show every column of the terminal table, not the 120-column selection.
    #[arg(long)]
    #[serde(skip)]
    pub wide: bool,
    /// How the paths share the run: one at a time, or all at once from one ingress.
    #[arg(long, value_enum, default_value_t = RunRouting::Single)]
    pub routing: RunRouting,
    /// Runs of each path; figures are reported as median and spread over them.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Seed of the case generator (same seed, same cases).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Label appended to the results folder name.
    #[arg(long, default_value = "run")]
    pub label: String,
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// brokerbench binary for the child processes (default: this one).
    #[arg(long, env = "BROKERBENCH_BIN")]
    pub binary: Option<PathBuf>,
    /// Diagnostic: subscribers hold each batch this many ms before writing (calibration).
    #[arg(long, default_value_t = 0.0, value_parser = crate::diag::parse_hold_ms)]
    pub hold_batch_ms: f64,
    /// Diagnostic: toggle the holds (`--hold-batch-ms`, `--hold-answer-ms`) off and on every
    /// this many seconds of the measure phase (starting off), so one run measures the p50s
    /// without and with them (`hold_calibration` for e2e, `answer_hold_calibration` for HTTP).
    #[arg(long)]
    pub hold_toggle_s: Option<u64>,
    /// Diagnostic: the ingress holds every answer this many ms once it is ready (calibration of
    /// the HTTP figures). 0 = off.
    #[arg(long, default_value_t = 0.0, value_parser = crate::diag::parse_hold_ms)]
    pub hold_answer_ms: f64,
    /// Diagnostic: the subscribers' clocks read this many milliseconds ahead (negative: behind),
    /// as on hosts whose clocks are off: the clock check must find it, and the verdict then
    /// does not rank on e2e.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true,
          value_parser = crate::diag::parse_clock_offset_ms)]
    pub diag_subscriber_clock_offset_ms: f64,
    /// Diagnostic: SIGSTOP the ingress this long into the measure phase (seconds, or with a
    /// unit)…
    #[arg(long, value_parser = crate::units::seconds)]
    pub stall_at: Option<f64>,
    /// …for this many milliseconds, then SIGCONT.
    #[arg(long, default_value_t = 1000)]
    pub stall_ms: u64,
    /// Diagnostic: the ingress publishes every Nth case twice (forced redelivery). 0 = off.
    #[arg(long, default_value_t = 0)]
    pub duplicate_every: u64,
    /// Let runs empty the cases_<path> and dead_<path> collections of a database that holds
    /// collections no run created (refused without it: a run must not wipe anyone's cases).
    #[arg(long)]
    #[serde(skip)]
    pub overwrite_db: bool,
    #[command(flatten)]
    #[serde(skip)]
    pub mongo: MongoSettings,
    #[command(flatten)]
    #[serde(skip)]
    pub brokers: BrokerSettings,
}

impl RunOpts {
    /// With `--topology cluster`: reads each path's cluster file and gives the run's clients its
    /// broker options (every node, the replication).
    pub fn join_clusters(&mut self) -> anyhow::Result<()> {
        if self.topology == Topology::Cluster {
            self.clusters = super::cluster::load(&self.cluster_dir, &self.middlewares)?;
            self.brokers = super::cluster::with_cluster_options(&self.brokers, &self.clusters)?;
        }
        Ok(())
    }

    /// Raises `--kafka-partitions` to `--subscribers` when Kafka is measured: a partition is
    /// read by one consumer of the group, so fewer partitions would leave subscribers idle.
    pub fn give_each_subscriber_a_partition(&mut self) {
        let wanted = i32::from(self.subscribers);
        let kafka = &mut self.brokers.kafka;
        if self.middlewares.contains(&Middleware::Kafka) && kafka.partitions < wanted {
            eprintln!(
                "note: the Kafka topic gets {wanted} partitions, one per subscriber \
                 (--kafka-partitions said {})",
                kafka.partitions
            );
            kafka.partitions = wanted;
        }
    }

    /// The drain's quiet period: `--quiet-period-ms`, else its default for what the run does.
    pub fn quiet_period_ms(&self) -> u64 {
        let redelivers =
            !self.faults.is_empty() || self.duplicate_every > 0 || self.stall_at.is_some();
        self.quiet_period_ms.unwrap_or(if redelivers {
            REDELIVERY_QUIET_MS
        } else {
            QUIET_MS
        })
    }
}

/// The drain's quiet period of a run whose cases are redelivered only by their brokers.
const QUIET_MS: u64 = 500;
/// The drain's quiet period of a run with faults, forced duplicates or a stall, which
/// redeliver cases within a second or two of the load's end.
const REDELIVERY_QUIET_MS: u64 = 2_000;

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Command, Opts};

    fn opts(args: &[&str]) -> super::RunOpts {
        let all = ["brokerbench", "run"].iter().chain(args);
        match Opts::parse_from(all).command {
            Command::Run(opts) => *opts,
            other => panic!("parsed {other:?}"),
        }
    }

    fn partitions(args: &[&str]) -> i32 {
        let mut opts = opts(args);
        opts.give_each_subscriber_a_partition();
        opts.brokers.kafka.partitions
    }

    #[test]
    fn kafka_gets_a_partition_per_subscriber_and_keeps_more() {
        assert_eq!(partitions(&["--middlewares=kafka"]), 1);
        assert_eq!(partitions(&["--middlewares=kafka", "--subscribers=3"]), 3);
        let more = [
            "--middlewares=kafka",
            "--subscribers=3",
            "--kafka-partitions=6",
        ];
        assert_eq!(partitions(&more), 6);
        assert_eq!(partitions(&["--middlewares=nats", "--subscribers=3"]), 1);
    }

    #[test]
    fn subscribers_are_one_to_sixteen_and_not_with_a_target() {
        let refused = |args: &[&str]| {
            let all = ["brokerbench", "run"].iter().chain(args);
            Opts::try_parse_from(all).is_err()
        };
        assert!(refused(&["--subscribers=0"]));
        assert!(refused(&["--subscribers=17"]));
        assert!(refused(&["--subscribers=2", "--target=t.toml"]));
        assert!(!refused(&["--subscribers=16"]));
    }
}
