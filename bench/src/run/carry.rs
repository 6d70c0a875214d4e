//! Figures that go on across a restart. A process a fault killed and the runner started again
//! counts from zero; the sampler adds what its predecessors had counted, so that the run's
//! cumulative figures, and every difference of two ticks (a phase's totals, a second's rates),
//! continue across the restart instead of falling to zero or going negative.
//!
//! What a killed process counted after its last reading is lost with it; so before a kill the
//! runner reads it once more ([`Carry::last_words`]), leaving only what it counted in the moment
//! between that reading and the signal.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::metrics::Stats;

/// Per component (its stats URL, which a restarted process keeps): its latest reading and what
/// its killed predecessors counted.
#[derive(Debug, Default)]
pub struct Carry {
    components: Mutex<HashMap<String, Lineage>>,
}

#[derive(Debug, Default)]
struct Lineage {
    /// The running process's latest figures, its own counts only.
    latest: Option<Stats>,
    /// Everything its predecessors counted, summed.
    predecessors: Option<Stats>,
    /// Cases killed predecessors held at their last reading (see [`in_hand`]).
    in_hand_at_kills: u64,
}

impl Carry {
    /// The figures just `read` from the process at `url`, continued from its predecessors'.
    pub fn continued(&self, url: &str, read: Option<Stats>) -> Option<Stats> {
        let read = read?;
        let mut components = self
            .components
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lineage = components.entry(url.to_owned()).or_default();
        lineage.note(read.clone());
        match &lineage.predecessors {
            None => Some(read),
            Some(earlier) => match read.clone().continuing(earlier) {
                Ok(continued) => Some(continued),
                Err(e) => {
                    tracing::warn!(%url, error = %e, "cannot continue a restarted process's figures");
                    Some(read)
                }
            },
        }
    }

    /// The last figures of the process at `url`, read just before it is killed.
    pub fn last_words(&self, url: &str, read: Stats) {
        let mut components = self
            .components
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lineage = components.entry(url.to_owned()).or_default();
        lineage.in_hand_at_kills += in_hand(&read);
        lineage.note(read);
    }

    /// What the processes killed at `url` held at their last readings: the most cases they can
    /// have stored after those readings, unseen by any counter.
    pub fn in_hand_at_kills(&self, url: &str) -> u64 {
        let components = self
            .components
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        components.get(url).map_or(0, |l| l.in_hand_at_kills)
    }
}

/// Cases a subscriber had received and not yet stored, found stored or set aside: the ones it
/// may store in the moment after a reading.
fn in_hand(stats: &Stats) -> u64 {
    let sum = |metric: CounterMetric| -> u64 {
        let key = metric.key();
        let values = stats.counters.iter().filter(|c| c.key.name == key);
        values.map(|c| c.value).sum()
    };
    let settled = [
        CounterMetric::Stored,
        CounterMetric::Duplicates,
        CounterMetric::DeadLettered,
        CounterMetric::Invalid,
    ];
    sum(CounterMetric::Received).saturating_sub(settled.into_iter().map(sum).sum())
}

impl Lineage {
    /// Takes a reading: a new process's first one moves the latest of the one it replaced to
    /// the predecessors; of the same process, the reading that counted more is kept (two reads
    /// in flight at once may answer out of order).
    fn note(&mut self, read: Stats) {
        match self.latest.take() {
            Some(latest) if latest.pid != read.pid => {
                self.predecessors = Some(match self.predecessors.take() {
                    None => latest,
                    Some(earlier) => latest.continuing(&earlier).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "a killed process's figures are lost");
                        earlier
                    }),
                });
                self.latest = Some(read);
            }
            Some(latest) if total(&latest) > total(&read) => self.latest = Some(latest),
            _ => self.latest = Some(read),
        }
    }
}

fn total(stats: &Stats) -> u64 {
    stats.counters.iter().map(|c| c.value).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_common::metrics::Registry;
    use brokerbench_common::settings::Middleware;

    const URL: &str = "http://127.0.0.1:1";

    fn reading(pid: u32, stored: u64) -> Stats {
        let reg = Registry::new("subscriber");
        reg.counter(CounterMetric::Stored, Some(Middleware::Redis))
            .add(stored);
        Stats {
            pid: Some(pid),
            ..reg.stats()
        }
    }

    fn stored(stats: Option<Stats>) -> Option<u64> {
        stats?.counter(CounterMetric::Stored, Some(Middleware::Redis))
    }

    #[test]
    fn every_restart_continues_from_the_last_figures_of_the_process_it_replaced() {
        let carry = Carry::default();
        assert_eq!(stored(carry.continued(URL, Some(reading(1, 10)))), Some(10));
        assert_eq!(stored(carry.continued(URL, Some(reading(1, 20)))), Some(20));
        carry.last_words(URL, reading(1, 26));
        assert_eq!(stored(carry.continued(URL, Some(reading(2, 5)))), Some(31));
        assert_eq!(stored(carry.continued(URL, Some(reading(2, 9)))), Some(35));
        assert_eq!(
            stored(carry.continued(URL, Some(reading(3, 1)))),
            Some(36),
            "a second restart carries both predecessors"
        );
        assert_eq!(
            stored(carry.continued("http://127.0.0.1:2", Some(reading(4, 7)))),
            Some(7),
            "another component has a lineage of its own"
        );
    }

    #[test]
    fn a_late_answer_cannot_undo_the_last_words_and_a_failed_read_stays_failed() {
        let carry = Carry::default();
        carry.last_words(URL, reading(1, 26));
        assert_eq!(
            stored(carry.continued(URL, Some(reading(1, 20)))),
            Some(20),
            "the late answer is itself reported as read"
        );
        assert_eq!(stored(carry.continued(URL, Some(reading(2, 1)))), Some(27));
        assert_eq!(carry.continued(URL, None).map(|s| s.pid), None);
    }

    #[test]
    fn what_each_killed_process_held_at_its_last_reading_adds_up() {
        let held = |pid, received, stored, duplicates| {
            let reg = Registry::new("subscriber");
            let m = Some(Middleware::Redis);
            reg.counter(CounterMetric::Received, m).add(received);
            reg.counter(CounterMetric::Stored, m).add(stored);
            reg.counter(CounterMetric::Duplicates, m).add(duplicates);
            Stats {
                pid: Some(pid),
                ..reg.stats()
            }
        };
        let carry = Carry::default();
        carry.last_words(URL, held(1, 100, 90, 4));
        carry.last_words(URL, held(2, 50, 49, 0));
        assert_eq!(carry.in_hand_at_kills(URL), 7, "6 and 1");
        assert_eq!(
            carry.in_hand_at_kills("http://127.0.0.1:2"),
            0,
            "never killed"
        );
        carry.last_words(URL, held(3, 10, 12, 0));
        assert_eq!(
            carry.in_hand_at_kills(URL),
            7,
            "more settled than received: none in hand"
        );
    }
}
