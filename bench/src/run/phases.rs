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
use super::loss::StoreIds;
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
            warmup: bar(opts.warmup_s(), format!("{title} warm-up"), "s"),
            measure: bar(opts.duration, format!("{title} measure"), "s"),
            drain: bar(opts.drain_timeout, format!("{title} drain"), "s"),
            warmup_s: opts.warmup_s(),
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

/// The backlog read from the store: accepted ids (the generator knows each one) not yet in any
/// of the group's collections or dead letters. Counters miss both ways: a document nobody
/// accepted hides a missing case from a total, and a write that timed out but landed is counted
/// a duplicate on redelivery, never stored; a killed process takes what it counted after its
/// last reading with it.
pub struct StoreBacklog {
    pub db: mongodb::Database,
    pub group: Vec<Middleware>,
    pub load: Arc<LoadStats>,
    pub key_prefix: String,
    pub cases_per_request: usize,
}

impl StoreBacklog {
    /// The store's ids and how many accepted ids they do not settle yet.
    async fn read(&self) -> Option<(StoreIds, u64)> {
        let accepted = self
            .load
            .accepted_ids(&self.key_prefix, self.cases_per_request);
        match StoreIds::read(&self.db, &self.group).await {
            Ok(ids) => {
                let behind = ids.not_yet_settled(&accepted);
                Some((ids, behind))
            }
            Err(e) => {
                tracing::warn!("drain: cannot read the stored ids: {e:#}");
                None
            }
        }
    }
}

/// What the drain does about the store at one poll.
#[derive(Debug, PartialEq)]
enum StorePlan {
    /// Read the stored ids now.
    Read,
    /// The last reading still holds: nothing moved since it.
    Known(u64),
    /// The subscribers are still busy and the counters say this many are behind: no reading yet.
    Counted(u64),
}

/// When the drain reads the store. A reading scans every id (FerretDB pushes no range or `$in`
/// filter down: 200,000 documents took 12.8 s to count here), so it is taken only once the
/// counters say nothing is behind or the subscribers' activity stopped moving, and it holds
/// until the activity moves again: a drain usually reads the store once.
#[derive(Default)]
struct StoreReadings {
    /// The activity total at the last reading, and what it found unsettled.
    last: Option<(u64, u64)>,
    /// The activity total at the previous poll.
    previous_activity: Option<u64>,
    /// The ids of the last reading.
    ids: Option<StoreIds>,
}

impl StoreReadings {
    fn plan(&mut self, counted_behind: u64, activity: u64) -> StorePlan {
        let stalled = self.previous_activity == Some(activity);
        self.previous_activity = Some(activity);
        match self.last {
            Some((seen, unsettled)) if seen == activity => StorePlan::Known(unsettled),
            _ if counted_behind == 0 || stalled => StorePlan::Read,
            _ => StorePlan::Counted(counted_behind),
        }
    }

    fn record(&mut self, activity: u64, unsettled: u64) {
        self.last = Some((activity, unsettled));
    }

    /// The last reading's ids with the activity total they were read at.
    fn into_last(self) -> Option<(u64, StoreIds)> {
        Some((self.last?.0, self.ids?))
    }

    /// `(behind, activity)` for the quiet watch, the store's word on "behind" once it is due;
    /// none when a component or the store could not be read.
    async fn state(
        &mut self,
        counted: Option<(u64, u64)>,
        store: &StoreBacklog,
    ) -> Option<(u64, u64)> {
        let (behind, activity) = counted?;
        let behind = match self.plan(behind, activity) {
            StorePlan::Read => {
                let (ids, unsettled) = store.read().await?;
                self.record(activity, unsettled);
                self.ids = Some(ids);
                unsettled
            }
            StorePlan::Known(unsettled) => unsettled,
            StorePlan::Counted(behind) => behind,
        };
        Some((behind, activity))
    }
}

/// What one drain reading says.
#[derive(Debug, PartialEq)]
enum Reading {
    /// Nothing behind, and no subscriber activity for the quiet period.
    Quiet,
    /// Nothing behind; waiting for the quiet period (late redeliveries may still come).
    Settling,
    /// Cases accepted but not yet stored.
    Behind(u64),
    /// A component's figures could not be read.
    Unreadable,
}

/// Follows the drain's readings: quiet once nothing is behind and the subscribers' activity
/// total has not moved for `quiet`.
struct QuietWatch {
    quiet: Duration,
    /// The activity total when it was last seen to change, and when.
    idle_since: Option<(u64, Instant)>,
}

impl QuietWatch {
    fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            idle_since: None,
        }
    }

    /// One reading: `(behind, activity)`, or none when a component could not be read.
    fn read(&mut self, state: Option<(u64, u64)>, now: Instant) -> Reading {
        match state {
            Some((0, activity)) => match self.idle_since {
                Some((seen, since)) if seen == activity => {
                    if now - since >= self.quiet {
                        Reading::Quiet
                    } else {
                        Reading::Settling
                    }
                }
                _ => {
                    self.idle_since = Some((activity, now));
                    Reading::Settling
                }
            },
            Some((behind, _)) => {
                self.idle_since = None;
                Reading::Behind(behind)
            }
            None => {
                self.idle_since = None;
                Reading::Unreadable
            }
        }
    }
}

/// How a drain ended.
pub struct Drained {
    /// Every accepted case stored and the subscribers idle for the quiet period (else: the
    /// deadline).
    pub quietly: bool,
    /// The drain's last reading of the store, with the activity total it was read at: still what
    /// the store holds while that total has not moved.
    pub store: Option<(u64, StoreIds)>,
}

/// Waits until every accepted case is stored and the subscribers were idle for `quiet`, or
/// until `timeout`. Every reading is appended to `ticks`.
/// With `store`, "behind" is the accepted ids the store does not hold yet (see [`StoreReadings`]).
pub async fn drain(
    sampler: &Sampler,
    ticks: &mut Vec<Tick>,
    timeout: Duration,
    quiet: Duration,
    progress: &Progress,
    store: Option<&StoreBacklog>,
) -> Drained {
    let began = Instant::now();
    let mut watch = QuietWatch::new(quiet);
    let mut readings = StoreReadings::default();
    let quietly = loop {
        let tick = sampler.tick().await;
        let now = Instant::now();
        let state = match store {
            Some(store) => readings.state(backlog(&tick), store).await,
            None => backlog(&tick),
        };
        ticks.push(tick);
        let text = match watch.read(state, now) {
            Reading::Quiet => {
                let text = format!("all stored, quiet for {:.1} s", quiet.as_secs_f64());
                progress.drained(text);
                break true;
            }
            Reading::Settling => "all stored; waiting for late redeliveries".into(),
            Reading::Behind(behind) => format!("{behind} cases not yet stored"),
            Reading::Unreadable => "cannot read a component's /stats; retrying".into(),
        };
        progress.draining(now - began, text);
        if now - began >= timeout {
            progress.drained("deadline reached".into());
            break false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    };
    Drained {
        quietly,
        store: readings.into_last(),
    }
}

/// The subscribers' activity total in `tick` (see [`backlog`]).
pub fn activity(tick: &Tick) -> Option<u64> {
    backlog(tick).map(|(_, activity)| activity)
}

#[cfg(test)]
#[path = "phases_tests.rs"]
mod tests;
