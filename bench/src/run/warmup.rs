//! How long each path is warmed up: `--warmup`, else the path's own (its [`Descriptor`]'s
//! `warmup_s`), so that a broker that is slow until its own code is compiled (Kafka's JVM) is
//! measured warm without every other path waiting as long.
//!
//! [`Descriptor`]: brokerbench_common::middleware::Descriptor

use std::collections::BTreeMap;

use brokerbench_common::middleware::WARMUP_S;
use brokerbench_common::settings::Middleware;

use super::{RunOpts, group_run};

impl RunOpts {
    /// The warm-up of the run being measured: `--warmup`, resolved per group by
    /// [`Self::for_group`] before any group runs.
    pub fn warmup_s(&self) -> u64 {
        self.warmup.unwrap_or(WARMUP_S)
    }

    /// These options for one group run: `--warmup`, else the longest of its paths' own.
    pub(crate) fn for_group(&self, group: &[Middleware]) -> Self {
        let own = group.iter().map(|m| m.descriptor().warmup_s).max();
        Self {
            warmup: Some(self.warmup.unwrap_or(own.unwrap_or(WARMUP_S))),
            ..self.clone()
        }
    }
}

/// The warm-up each path of the run gets, for summary.json's config (where `warmup` is null
/// when `--warmup` was not given).
pub(super) fn by_path(opts: &RunOpts) -> BTreeMap<&'static str, u64> {
    group_run::groups(opts)
        .iter()
        .flat_map(|g| {
            let w = opts.for_group(g).warmup_s();
            g.iter().map(move |m| (m.name(), w))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Command, Opts};

    fn opts(args: &[&str]) -> crate::run::RunOpts {
        let all = ["brokerbench", "run"].iter().chain(args);
        match Opts::parse_from(all).command {
            Command::Run(opts) => *opts,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn each_path_gets_its_own_warmup_unless_one_is_given() {
        let own = opts(&["--middlewares=nats,kafka"]);
        let by_path = super::by_path(&own);
        assert_eq!(by_path["nats"], 5);
        assert_eq!(by_path["kafka"], 30);
        let given = opts(&["--middlewares=nats,kafka", "--warmup=2"]);
        assert!(super::by_path(&given).values().all(|w| *w == 2));
        let together = opts(&["--middlewares=nats,kafka", "--routing=all"]);
        assert!(super::by_path(&together).values().all(|w| *w == 30));
    }
}
