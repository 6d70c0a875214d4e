//! The end of a run: progress on the terminal and the drain, which waits until every accepted
//! case is stored *and* nothing more arrives for a quiet period, so that late redeliveries
//! (AckWait, a nack, a requeue at stop) are counted before the counters are read.

use std::sync::Arc;
use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::settings::Middleware;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use super::RunOpts;
use super::loadgen::LoadStats;
use super::sampler::Sampler;
use crate::analysis::tick::Tick;

/// How often the drain looks at the counters.
const DRAIN_POLL: Duration = Duration::from_millis(500);

/// The progress bars of one group run: warm-up, measure, drain.
pub struct Progress {
    warmup: ProgressBar,
    measure: ProgressBar,
    drain: ProgressBar,
    warmup_s: u64,
}

fn bar(len: u64, prefix: String, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = format!("{{prefix:>24}} [{{bar:30}}] {{pos:>3}}/{{len}}{unit} {{msg}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

impl Progress {
    pub fn new(title: &str, opts: &RunOpts) -> Self {
        Self {
            warmup: bar(opts.warmup, format!("{title} warm-up"), "s"),
            measure: bar(opts.duration, format!("{title} measure"), "s"),
            drain: bar(opts.drain_timeout, format!("{title} drain"), "s"),
            warmup_s: opts.warmup,
        }
    }

    /// Second `k` of the load has passed, at `rate` cases/s sent so far.
    pub fn load_tick(&self, k: u64, rate: f64) {
        let msg = format!("{rate:.0} cases/s sent");
        if k <= self.warmup_s {
            self.warmup.set_position(k);
            self.warmup.set_message(msg);
        } else {
            self.measure.set_position(k - self.warmup_s);
            self.measure.set_message(msg);
        }
    }

    /// The load has stopped; the last answers are awaited.
    pub fn answers(&self) {
        self.warmup.finish();
        self.measure
            .finish_with_message("waiting for the last answers");
    }

    fn draining(&self, waited: Duration, message: String) {
        self.drain
            .set_position(waited.as_secs().min(self.drain.length().unwrap_or(0)));
        self.drain.set_message(message);
    }

    fn drained(&self, message: String) {
        self.drain.finish_with_message(message);
    }
}

/// Cases accepted but not yet stored, and a running total of everything the subscribers did
/// (received + stored + duplicates): when it stops moving, nothing is arriving any more.
fn backlog(tick: &Tick) -> Option<(u64, u64)> {
    let accepted = tick
        .ingress
        .as_ref()?
        .counter(CounterMetric::Accepted, None)?;
    let (mut behind, mut activity) = (0, 0);
    for (m, stats) in &tick.subscribers {
        let count =
            |metric: CounterMetric| stats.as_ref().and_then(|s| s.counter(metric, Some(*m)));
        // A dead-lettered case is settled too: it will never be stored.
        let stored =
            count(CounterMetric::Stored)? + count(CounterMetric::DeadLettered).unwrap_or(0);
        behind += accepted.saturating_sub(stored);
        activity += count(CounterMetric::Received)? + stored + count(CounterMetric::Duplicates)?;
    }
    Some((behind, activity))
}

/// The backlog read from the store instead of the counters: accepted cases (as the generator
/// saw them) not yet in the paths' collections or dead letters.
pub struct StoreBacklog {
    pub db: mongodb::Database,
    pub group: Vec<Middleware>,
    pub load: Arc<LoadStats>,
    pub cases_per_request: u64,
}

impl StoreBacklog {
    async fn behind(&self) -> Option<u64> {
        let accepted = self.load.http_2xx.get() * self.cases_per_request;
        super::loss::not_yet_stored(&self.db, &self.group, accepted).await
    }
}

/// Waits until every accepted case is stored and the subscribers were idle for `quiet`, or
/// until `timeout`; returns whether it ended quietly. Every reading is appended to `ticks`.
/// With `store`, "stored" is read from the store (the counters may have restarted).
pub async fn drain(
    sampler: &Sampler,
    ticks: &mut Vec<Tick>,
    timeout: Duration,
    quiet: Duration,
    progress: &Progress,
    store: Option<&StoreBacklog>,
) -> bool {
    let began = Instant::now();
    let mut idle_since: Option<(u64, Instant)> = None;
    loop {
        let tick = sampler.tick().await;
        let now = Instant::now();
        let mut state = backlog(&tick);
        if let Some(store) = store {
            state = match (state, store.behind().await) {
                (Some((_, activity)), Some(behind)) => Some((behind, activity)),
                _ => None,
            };
        }
        ticks.push(tick);
        match state {
            Some((0, activity)) => match idle_since {
                Some((seen, since)) if seen == activity => {
                    if now - since >= quiet {
                        progress.drained(format!(
                            "all stored, quiet for {:.1} s",
                            quiet.as_secs_f64()
                        ));
                        return true;
                    }
                    progress.draining(
                        now - began,
                        "all stored; waiting for late redeliveries".into(),
                    );
                }
                _ => idle_since = Some((activity, now)),
            },
            Some((behind, _)) => {
                idle_since = None;
                progress.draining(now - began, format!("{behind} cases not yet stored"));
            }
            None => {
                idle_since = None;
                progress.draining(
                    now - began,
                    "cannot read a component's /stats; retrying".into(),
                );
            }
        }
        if now - began >= timeout {
            progress.drained("deadline reached".into());
            return false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}
