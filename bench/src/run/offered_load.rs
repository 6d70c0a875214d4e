//! Who offers a group run's load: the built-in open-loop generator or Locust, started on the
//! ingress with the run's Idempotency-Key prefix, and waited for at the end of the load phases.

use std::sync::Arc;

use anyhow::Context as _;
use brokerbench_common::settings::Middleware;

use super::generator_thread::GeneratorThread;
use super::group_processes::Context;
use super::loadgen::{LoadConfig, LoadStats, LoadWindow};
use super::{Generator, RunOpts};

/// Whoever offers the load in this run.
#[expect(clippy::large_enum_variant, reason = "one per group run, built once")]
pub(super) enum Load {
    Builtin(GeneratorThread),
    Locust(super::locust::LocustRun),
}

/// What names and starts the load of one group run.
pub(super) struct RunLoad<'a> {
    pub opts: &'a RunOpts,
    pub ctx: &'a Context,
    pub group: &'a [Middleware],
    pub repeat: u32,
}

impl RunLoad<'_> {
    fn names(&self) -> String {
        let names: Vec<&str> = self.group.iter().map(|m| m.name()).collect();
        names.join("+")
    }

    /// The prefix of every request's Idempotency-Key: run folder, paths, repeat.
    pub fn key_prefix(&self) -> String {
        let run_name = self.ctx.dir.file_name().map(|n| n.to_string_lossy());
        format!(
            "{}-{}-r{}",
            run_name.unwrap_or_default(),
            self.names(),
            self.repeat
        )
    }

    /// Starts the built-in generator on the ingresses at `urls`, or Locust on the first.
    pub fn start(
        &self,
        urls: &[String],
        key_prefix: &str,
        load: &Arc<LoadStats>,
        window: LoadWindow,
    ) -> anyhow::Result<Load> {
        let opts = self.opts;
        let config = LoadConfig {
            urls: urls.to_vec(),
            rate: opts.rate,
            cases_per_request: opts.cases_per_request,
            connections: opts.connections,
            seed: opts.seed + u64::from(self.repeat),
            key_prefix: key_prefix.to_string(),
            retries: opts.retries,
        };
        Ok(match opts.generator {
            Generator::Builtin => Load::Builtin(GeneratorThread::start(
                opts.generator_nice,
                config,
                load.clone(),
                window,
            )?),
            Generator::Locust => Load::Locust(super::locust::spawn(
                opts,
                urls.first().context("no ingress")?,
                opts.warmup_s() + opts.duration,
                &self.ctx.dir,
                &format!("{}-r{}", self.names(), self.repeat),
            )?),
        })
    }
}

impl Load {
    /// Waits for the load to end; Locust's own statistics when it offered the load.
    pub async fn finish(self) -> anyhow::Result<Option<super::locust::LocustStats>> {
        match self {
            Load::Builtin(generator) => {
                generator
                    .finish()
                    .await
                    .context("the load generator failed")?;
                Ok(None)
            }
            Load::Locust(run) => Ok(Some(run.wait().await?)),
        }
    }
}
