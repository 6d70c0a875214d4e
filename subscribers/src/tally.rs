//! One path's share of the dashboard's tallies ([`brokerbench_common::tally`]): the writers
//! count each case whose write is confirmed, in memory, and [`keep`] adds the counts and the
//! newest cases to the path's tally document once a second. One upsert a second, after the
//! cases were acknowledged, is all the dashboard costs the store, against one insert per
//! batch for the cases themselves.

use std::sync::Mutex;
use std::time::Duration;

use brokerbench_common::settings::Middleware;
use brokerbench_common::tally::{self, RECENT, Tally};
use futures::FutureExt as _;
use mongodb::Collection;
use mongodb::bson::{Document, doc};

/// How often the counts are added to the tally document.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What was stored since the last flush, and the newest cases by `stored_at` (then `_id`),
/// newest first: writers confirm out of order, so the newest are kept by their stamps, the
/// order the dashboard's pages use, not by when their writes were confirmed.
#[derive(Default)]
struct Pending {
    counts: Tally,
    recent: Vec<Document>,
    recent_changed: bool,
}

/// The order of the dashboard's pages, newest first.
fn newest_first(a: &Document, b: &Document) -> std::cmp::Ordering {
    let key = |d: &Document| {
        (
            d.get_datetime("stored_at")
                .ok()
                .map(|t| t.timestamp_millis()),
            d.get_str("_id").ok().map(str::to_owned),
        )
    };
    key(b).cmp(&key(a))
}

/// The counts of one path's writers; cheap to share between them.
#[derive(Default)]
pub(crate) struct Tallier {
    pending: Mutex<Pending>,
}

impl Tallier {
    /// Counts a case whose document the store confirmed.
    pub(crate) fn stored(&self, document: &Document) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        pending.counts.add_document(document);
        let at = pending
            .recent
            .partition_point(|kept| newest_first(kept, document).is_lt());
        if at < RECENT {
            pending.recent.insert(at, document.clone());
            pending.recent.truncate(RECENT);
            pending.recent_changed = true;
        }
    }

    /// The counts since the last flush (reset) and, if it changed, the newest cases.
    fn take(&self) -> (Tally, Option<Vec<Document>>) {
        let Ok(mut pending) = self.pending.lock() else {
            return (Tally::default(), None);
        };
        let counts = std::mem::take(&mut pending.counts);
        let recent = std::mem::take(&mut pending.recent_changed).then(|| pending.recent.clone());
        (counts, recent)
    }

    /// A flush that failed: its counts go out with the next one.
    fn put_back(&self, counts: Tally) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.counts.merge(counts);
            pending.recent_changed = true;
        }
    }

    /// Starts from the newest cases a previous run of this path's subscriber left, so that a
    /// restart does not shorten the first page.
    fn seed(&self, newest_first_seen: Vec<Document>) {
        if let Ok(mut pending) = self.pending.lock() {
            let mut recent = newest_first_seen;
            recent.sort_by(newest_first);
            recent.truncate(RECENT);
            pending.recent = recent;
        }
    }
}

/// Adds what `tallier` counted to `m`'s tally document every second until `done` completes,
/// then once more.
pub(crate) async fn keep(
    tallier: &Tallier,
    tallies: Collection<Document>,
    m: Middleware,
    done: impl Future<Output = ()>,
) {
    if let Ok(Some(existing)) = tallies.find_one(doc! { "_id": m.name() }).await {
        tallier.seed(tally::recent(&existing));
    }
    let done = done.fuse();
    tokio::pin!(done);
    let mut every = tokio::time::interval(FLUSH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let finished = tokio::select! {
            _ = every.tick() => false,
            () = &mut done => true,
        };
        flush(tallier, &tallies, m).await;
        if finished {
            return;
        }
    }
}

async fn flush(tallier: &Tallier, tallies: &Collection<Document>, m: Middleware) {
    let (counts, recent) = tallier.take();
    if counts.is_empty() && recent.is_none() {
        return;
    }
    let written = tallies
        .update_one(doc! { "_id": m.name() }, tally::update(&counts, recent))
        .upsert(true)
        .await;
    if let Err(e) = written {
        tracing::warn!("{m}: cannot update the dashboard's tally (next second again): {e}");
        tallier.put_back(counts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(n: i32) -> Document {
        doc! { "_id": format!("{n:03}"), "location": "Escuintla", "age": n,
        "infectedtype": "imported", "state": "symptomatic",
        "stored_at": mongodb::bson::DateTime::from_millis(1_000 + i64::from(n)) }
    }

    #[test]
    fn the_newest_cases_come_newest_first_and_stop_at_a_page() {
        let tallier = Tallier::default();
        // Confirmed out of order: 20–29 first, then 0–19.
        for n in (20..30).chain(0..20) {
            tallier.stored(&case(n));
        }
        let (counts, recent) = tallier.take();
        assert_eq!(counts.total, 30);
        let recent = recent.expect("cases were stored");
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].get_str("_id").ok(), Some("029"));
        assert_eq!(recent[RECENT - 1].get_str("_id").ok(), Some("005"));
        // Nothing new: nothing to write.
        let (counts, recent) = tallier.take();
        assert!(counts.is_empty() && recent.is_none());
    }

    #[test]
    fn counts_of_a_failed_flush_are_not_lost() {
        let tallier = Tallier::default();
        tallier.stored(&case(1));
        let (counts, _) = tallier.take();
        tallier.stored(&case(2));
        tallier.put_back(counts);
        let (counts, recent) = tallier.take();
        assert_eq!(counts.total, 2);
        assert_eq!(recent.map(|r| r.len()), Some(2));
    }
}
