//! The broker settings of one group run: the user's settings (every option of `run` reaches the
//! children) with fresh names for the run's own stream, queue, topic and subscription, which is
//! how a run starts from an empty queue without touching anyone else's.

use brokerbench_common::settings::{BrokerSettings, Middleware};

use clap::Parser;

use super::children::Inherited;
use crate::analysis::tick::Tick;
use crate::results::summary::PathGuarantee;

pub struct RunBrokers {
    pub settings: BrokerSettings,
    /// `settings` as command-line options for the child processes.
    pub args: Vec<String>,
    /// Each gRPC subscriber replica's server socket, bound here and kept for the whole run
    /// (their addresses are `settings.grpc.addr`), so a restarted replica serves on it again.
    grpc: Vec<Inherited>,
}

impl RunBrokers {
    /// The settings of a run whose paths each have `replicas` subscribers.
    pub fn new(brokers: &BrokerSettings, replicas: u16) -> anyhow::Result<Self> {
        let ns = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
        let grpc = (0..replicas.max(1))
            .map(|_| Inherited::bind("--grpc-listen-fd"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut settings = brokers.clone();
        let addrs = grpc.iter().map(|s| Ok(s.addr()?.to_string()));
        settings.grpc.addr = addrs.collect::<anyhow::Result<Vec<_>>>()?.join(",");
        settings.isolate(&format!("run-{ns}"));
        let args = settings.to_args();
        Ok(Self {
            settings,
            args,
            grpc,
        })
    }

    /// The sockets subscriber replica `replica` of `m` serves on besides its HTTP one.
    pub fn subscriber_sockets(&self, m: Middleware, replica: usize) -> Vec<Inherited> {
        match m {
            Middleware::Grpc => self.grpc.get(replica).cloned().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// What sets replica `replica` of `replicas` of path `m` apart from the others: its own
    /// Redis consumer name (replicas sharing one would take back each other's pending entries
    /// as their own on a restart). Nothing for a single subscriber, which keeps the default.
    pub fn replica_args(&self, m: Middleware, replica: usize, replicas: u16) -> Vec<String> {
        match m {
            Middleware::Redis if replicas > 1 => {
                let base = self.settings.redis.consumer_name();
                vec![format!("{REDIS_CONSUMER}{base}-{replica}")]
            }
            _ => Vec::new(),
        }
    }

    /// Deletes the run's stream, queue, topic and subscription (after its processes stopped).
    pub async fn remove_topology(&self, group: &[Middleware]) {
        for &m in group {
            if let Err(e) = self.settings.remove_topology(m).await {
                eprintln!("note: could not remove this run's {m} topology: {e}");
            }
        }
    }
}

/// The option naming a Redis subscriber's consumer: a replica's identity, not a setting the
/// ingress and the subscribers must agree on.
const REDIS_CONSUMER: &str = "--redis-consumer=";

/// The settings a child process reported running with, read back as options; a later option
/// overrides an earlier one (how an attached run says where it reaches the brokers itself).
#[derive(Parser)]
#[command(args_override_self = true)]
struct Reported {
    #[command(flatten)]
    brokers: BrokerSettings,
}

/// Broker settings from options as a process reports them (`/stats`), then `overrides`.
pub fn reported_settings(
    reported: &[String],
    overrides: &[String],
) -> Result<BrokerSettings, clap::Error> {
    let args = std::iter::once("reported".to_string())
        .chain(reported.iter().cloned())
        .chain(overrides.iter().cloned());
    Ok(Reported::try_parse_from(args)?.brokers)
}

/// What path `m` guaranteed in a run, judged from the settings its ingress reported in `/stats`
/// (not from what the runner meant to ask), which its subscriber must have reported too.
pub fn guarantee(m: Middleware, ticks: &[Tick]) -> Result<PathGuarantee, String> {
    let last = ticks.last().ok_or("no sample of the processes")?;
    let ingress = last
        .ingress
        .as_ref()
        .ok_or("the ingress did not report its settings")?;
    let subscriber = last
        .subscribers
        .iter()
        .find(|(s, _)| *s == m)
        .and_then(|(_, s)| s.as_ref());
    let subscriber =
        subscriber.ok_or_else(|| format!("the {m} subscriber did not report its settings"))?;
    if shared_settings(&subscriber.settings) != shared_settings(&ingress.settings) {
        return Err(format!(
            "the ingress and the {m} subscriber ran with different settings"
        ));
    }
    let settings = reported_settings(&ingress.settings, &[])
        .map_err(|e| format!("unreadable settings reported by the ingress: {e}"))?;
    let g = settings.guarantee(m);
    Ok(PathGuarantee {
        durability: settings.path.durability.to_string(),
        durable: g.durable,
        text: g.text.into(),
    })
}

/// Reported settings without a replica's own identity ([`RunBrokers::replica_args`]).
fn shared_settings(reported: &[String]) -> Vec<&String> {
    (reported.iter())
        .filter(|a| !a.starts_with(REDIS_CONSUMER))
        .collect()
}
