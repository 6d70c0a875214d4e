//! `run --target FILE`: measure a pipeline that is already running, started with docker compose,
//! on Kubernetes or by hand on other hosts. The runner starts nothing. It asks the ingress and
//! every subscriber what they serve and with which broker settings, tells them the phases,
//! drives load at the ingress, reads their `/stats` once a second (counting only what they
//! counted after its first reading) and counts loss by id in the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use brokerbench_common::metrics::{Serves, Stats};
use brokerbench_common::path_settings::without_credentials;
use brokerbench_common::settings::{BrokerSettings, Middleware, MongoSettings};
use serde::Deserialize;

use super::{RunOpts, RunRouting};
use crate::processes::brokers::reported_settings;
use crate::results::attached::Attached;

/// The target file (TOML); `compose/targets/` has one per compose file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// The ingress's base URL, or a list of them (replicas, each reached directly): cases go
    /// to `<ingress>/cases`, request by request in turn, and figures come from `/stats`.
    ingress: Ingresses,
    /// Each path's subscriber: the base URL of its `/stats`.
    subscribers: BTreeMap<Middleware, String>,
    /// The store the subscribers write to; unset fields fall back to `--mongodb-uri` and
    /// `--mongodb-db` (or their environment variables), so no password needs to be in the file.
    #[serde(default)]
    mongodb: TargetMongo,
    /// Broker options as `run` takes them (`--nats-url=…`), over what the components report:
    /// where this machine reaches the brokers to read their depth.
    #[serde(default)]
    broker_options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ingresses {
    One(String),
    Several(Vec<String>),
}

impl Ingresses {
    fn urls(&self) -> Vec<String> {
        let urls = match self {
            Self::One(url) => std::slice::from_ref(url),
            Self::Several(urls) => urls.as_slice(),
        };
        urls.iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetMongo {
    uri: Option<String>,
    db: Option<String>,
}

impl TargetFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the target file {}", path.display()))?;
        toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a target file (compose/targets/ has examples)",
                path.display()
            )
        })
    }

    /// The store to count in: the file's, else the run's own settings.
    pub fn mongo(&self, run: &MongoSettings) -> MongoSettings {
        MongoSettings {
            uri: self.mongodb.uri.clone().unwrap_or_else(|| run.uri.clone()),
            db: self.mongodb.db.clone().unwrap_or_else(|| run.db.clone()),
        }
    }
}

/// A running pipeline, as the runner found it.
#[derive(Debug, Clone)]
pub struct AttachedPipeline {
    /// Never empty.
    pub ingresses: Vec<String>,
    pub subscribers: Vec<(Middleware, String)>,
    /// The ingress's paths, in its order; each gets every case.
    pub middlewares: Vec<Middleware>,
    /// The broker settings the components report, with the file's `broker_options` over them.
    pub brokers: BrokerSettings,
    pub record: Attached,
}

/// Every ingress's reading, checked: each one an ingress serving what the first serves, with
/// its broker settings.
async fn read_ingresses(
    client: &reqwest::Client,
    urls: &[String],
) -> anyhow::Result<Vec<(String, Stats)>> {
    ensure!(!urls.is_empty(), "the target names no ingress");
    let mut readings: Vec<(String, Stats)> = Vec::new();
    for url in urls {
        let s = read_stats(client, url).await?;
        ensure!(
            matches!(s.serves, Some(Serves::Ingress { .. })),
            "{} does not say it is a brokerbench ingress (its /stats has no `serves`)",
            without_credentials(url)
        );
        if let Some((_, first)) = readings.first() {
            ensure!(
                s.serves == first.serves && s.settings == first.settings,
                "the ingresses {} and {} serve different paths or run with different settings",
                without_credentials(&urls[0]),
                without_credentials(url)
            );
        }
        readings.push((format!("the ingress {}", without_credentials(url)), s));
    }
    Ok(readings)
}

/// Asks every component of the target what it is, and checks that together they form a
/// pipeline the run can count: ingresses giving every case to each path, one subscriber per
/// path, all with the same broker settings.
pub async fn attach(
    path: &Path,
    file: &TargetFile,
    client: &reqwest::Client,
) -> anyhow::Result<AttachedPipeline> {
    let ingresses = file.ingress.urls();
    let mut stats = read_ingresses(client, &ingresses).await?;
    let ingress_stats = stats[0].1.clone();
    let Some(Serves::Ingress {
        middlewares,
        every_case_to_each,
    }) = ingress_stats.serves.clone()
    else {
        bail!("not an ingress");
    };
    check_paths(&middlewares, file)?;
    let mut subscribers = Vec::new();
    for &m in &middlewares {
        let url = file.subscribers[&m].trim_end_matches('/').to_string();
        let s = read_stats(client, &url).await?;
        ensure!(
            s.serves == Some(Serves::Subscriber { middleware: m }),
            "{url} is named the {m} subscriber, but its /stats says it serves {:?}",
            s.serves
        );
        ensure!(
            s.settings == ingress_stats.settings,
            "the ingress and the {m} subscriber run with different broker settings: {:?} against {:?}",
            ingress_stats.settings,
            s.settings
        );
        stats.push((format!("the {m} subscriber"), s));
        subscribers.push((m, url));
    }
    let names: Vec<&str> = middlewares.iter().map(|m| m.name()).collect();
    ensure!(
        every_case_to_each,
        "the ingress splits its cases among {} (--routing split): each path would get only its \
         share of the offered rate; start it with --routing all, or with one middleware",
        names.join(", ")
    );
    let brokers = reported_settings(&ingress_stats.settings, &file.broker_options)
        .context("cannot read the broker settings the ingress reports, with broker_options")?;
    let record = Attached {
        target: path.display().to_string(),
        ingresses: ingresses.iter().map(|u| without_credentials(u)).collect(),
        subscribers: subscribers
            .iter()
            .map(|(m, url)| (*m, without_credentials(url)))
            .collect(),
        not_observed: not_observed(&stats),
    };
    Ok(AttachedPipeline {
        ingresses,
        subscribers,
        middlewares,
        brokers,
        record,
    })
}

/// Every path of the ingress has a subscriber in the file, and the file none the ingress lacks.
fn check_paths(middlewares: &[Middleware], file: &TargetFile) -> anyhow::Result<()> {
    for m in middlewares {
        ensure!(
            file.subscribers.contains_key(m),
            "the ingress publishes through {m}, but the target names no {m} subscriber: its \
             cases could not be counted"
        );
    }
    for m in file.subscribers.keys() {
        ensure!(
            middlewares.contains(m),
            "the target names a {m} subscriber, but the ingress does not publish through {m}"
        );
    }
    Ok(())
}

/// What an attached run cannot see, one sentence each.
fn not_observed(stats: &[(String, Stats)]) -> Vec<String> {
    let mut lines = vec![
        "CPU and memory of the brokers and the store: only the ingress and the subscribers \
         report their own"
            .to_string(),
        "the host's CPU and RAM figures are this machine's (the runner's), not the components' \
         hosts'"
            .to_string(),
        "the versions of the brokers and the store".to_string(),
    ];
    for (who, s) in stats {
        if s.usage.is_none() {
            lines.push(format!(
                "CPU and memory of {who}: its /stats does not report them"
            ));
        }
    }
    lines
}

/// What a run attached to a pipeline cannot do: everything that acts on processes of its own.
fn validate_attached(opts: &RunOpts) -> anyhow::Result<()> {
    let refused = [
        (!opts.faults.is_empty(), "--fault"),
        (opts.ceilings, "--ceilings"),
        (opts.stall_at.is_some(), "--stall-at"),
        (opts.duplicate_every > 0, "--duplicate-every"),
        (opts.hold_batch_ms > 0.0, "--hold-batch-ms"),
        (opts.hold_answer_ms > 0.0, "--hold-answer-ms"),
        (
            opts.diag_subscriber_clock_offset_ms != 0.0,
            "--diag-subscriber-clock-offset-ms",
        ),
    ];
    for (given, flag) in refused {
        anyhow::ensure!(
            !given,
            "{flag} acts on processes the run starts; with --target the run starts none \
             (start the components with their own diagnostic options instead)"
        );
    }
    Ok(())
}

/// With `--target`: the pipeline it names, found and checked; the run's paths, routing, store
/// and broker settings become the pipeline's.
pub(crate) async fn attach_if_targeted(
    opts: &mut RunOpts,
) -> anyhow::Result<Option<AttachedPipeline>> {
    let Some(path) = opts.target.clone() else {
        return Ok(None);
    };
    validate_attached(opts)?;
    let file = TargetFile::read(&path)?;
    let pipeline = attach(&path, &file, &crate::control::client()?).await?;
    opts.mongo = file.mongo(&opts.mongo);
    opts.middlewares = pipeline.middlewares.clone();
    opts.routing = match pipeline.middlewares.len() {
        1 => RunRouting::Single,
        _ => RunRouting::All,
    };
    opts.brokers = pipeline.brokers.clone();
    ensure!(
        pipeline.ingresses.len() == 1
            || opts.generator == crate::results::generator::Generator::Builtin,
        "Locust sends to one host: several ingresses need the built-in generator (or Locust \
         workers run by hand, one per ingress)"
    );
    eprintln!(
        "attached to {} ({}): it starts nothing",
        pipeline.record.ingresses.join(", "),
        opts.middlewares
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Some(pipeline))
}

/// `<url>/stats`, or why not.
async fn read_stats(client: &reqwest::Client, url: &str) -> anyhow::Result<Stats> {
    let shown = without_credentials(url);
    let answer = client
        .get(format!("{url}/stats"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("cannot reach {shown}/stats"))?;
    let status = answer.status();
    ensure!(
        status != reqwest::StatusCode::UNAUTHORIZED,
        "{shown}/stats wants the control token: set BB_CONTROL_TOKEN to the components' token"
    );
    ensure!(status.is_success(), "{shown}/stats answered {status}");
    answer
        .json()
        .await
        .with_context(|| format!("{shown}/stats is not brokerbench's /stats"))
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
