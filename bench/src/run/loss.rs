//! Loss counted case by case: the ids the ingress accepted (the generator knows them, from the
//! `Idempotency-Key` of each request answered 2xx) against the `_id`s in the path's collection
//! after the drain. Counters live in processes a fault may restart; ids in the store do not.

use std::collections::{BTreeSet, HashSet};

use anyhow::Context as _;
use brokerbench_common::settings::Middleware;
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc};

use super::load_stats::AcceptedCase;
use crate::results::loss::LossById;

/// Ids listed per category at most.
const LISTED: usize = 20;

/// Ids read per round trip. FerretDB answers a scan at the same cost per document whatever the
/// batch (it reads whole documents): 33,000 ids took 2.18 s in the driver's default batches of
/// 101 and 1.74 s in batches of 1,000 or more (mongosh against the stack).
const ID_BATCH: u32 = 10_000;

/// Every string `_id` of a collection, and how many documents it holds (a document set aside
/// with an id of its own counts there too).
async fn ids(db: &Database, collection: &str) -> anyhow::Result<(HashSet<String>, u64)> {
    let mut cursor = db
        .collection::<Document>(collection)
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .batch_size(ID_BATCH)
        .await
        .with_context(|| format!("cannot read the ids of {collection}"))?;
    let (mut out, mut documents) = (HashSet::new(), 0);
    while let Some(d) = cursor.try_next().await? {
        documents += 1;
        if let Some(Bson::String(id)) = d.get("_id") {
            out.insert(id.clone());
        }
    }
    Ok((out, documents))
}

/// One reading of what a group's paths hold: each path's stored and dead-lettered ids. Read
/// once at the end of a drain, it serves the drain's last check, the document count and the loss
/// by id alike. FerretDB reads whole documents to answer either (~65 µs a document here): a
/// 3,000 cases/s sweep step's 33,000 documents took 2.2 s to list and 1.4 s to count, and the
/// step listed them twice and counted them once, ~6 s of its 17.
#[derive(Debug, Default)]
pub struct StoreIds {
    paths: Vec<PathIds>,
}

#[derive(Debug)]
struct PathIds {
    middleware: Middleware,
    stored: HashSet<String>,
    documents: u64,
    dead: HashSet<String>,
}

impl StoreIds {
    /// Reads the collection and dead letters of each of `group`'s paths.
    pub async fn read(db: &Database, group: &[Middleware]) -> anyhow::Result<Self> {
        let mut paths = Vec::new();
        for &m in group {
            let (stored, documents) = ids(db, &m.collection()).await?;
            let (dead, _) = ids(db, &dead_letters(m)).await?;
            paths.push(PathIds {
                middleware: m,
                stored,
                documents,
                dead,
            });
        }
        Ok(Self { paths })
    }

    fn path(&self, m: Middleware) -> anyhow::Result<&PathIds> {
        (self.paths.iter().find(|p| p.middleware == m))
            .with_context(|| format!("the store was not read for {m}"))
    }

    /// Documents in path `m`'s collection.
    pub fn documents(&self, m: Middleware) -> anyhow::Result<u64> {
        Ok(self.path(m)?.documents)
    }

    /// Accepted ids (deduplicated) in neither the collection nor the dead letters of any of the
    /// paths read: what the drain waits for. Ids, not totals: a document nobody accepted cannot
    /// stand in for a missing case, and a write that timed out but landed (the subscriber
    /// counted its redelivery a duplicate) is found stored. A message set aside as not from the
    /// ingress has an `_id` of its own (`claimed_id` holds what it claimed), so it settles no
    /// accepted id.
    pub fn not_yet_settled(&self, accepted: &[String]) -> u64 {
        (self.paths.iter())
            .map(|p| unsettled(accepted, &p.stored, &p.dead))
            .sum()
    }

    /// Compares `accepted` with what path `m` stored and dead-lettered.
    pub fn settle(
        &self,
        m: Middleware,
        accepted: &[AcceptedCase],
        duplicates: u64,
    ) -> anyhow::Result<Settlement> {
        let PathIds { stored, dead, .. } = self.path(m)?;
        let ids: Vec<String> = accepted.iter().map(|c| c.id.clone()).collect();
        let mut seen = HashSet::new();
        let (mut unstored, mut dead_lettered) = (Vec::new(), Vec::new());
        for case in accepted.iter().filter(|c| seen.insert(c.id.as_str())) {
            if dead.contains(&case.id) {
                dead_lettered.push(case.clone());
            } else if !stored.contains(&case.id) {
                unstored.push(case.clone());
            }
        }
        Ok(Settlement {
            loss: compare(&ids, stored, dead, duplicates),
            unstored,
            dead_lettered,
        })
    }
}

/// The name of a path's dead-letter collection.
pub fn dead_letters(m: Middleware) -> String {
    format!("dead_{}", m.name())
}

/// What became of the cases a path accepted: loss by id, and the cases themselves that are still
/// unstored or were dead-lettered (for the e2e census, which needs their send times).
#[derive(Debug)]
pub struct Settlement {
    pub loss: LossById,
    pub unstored: Vec<AcceptedCase>,
    pub dead_lettered: Vec<AcceptedCase>,
}

/// Sorts each accepted id into stored, dead-lettered or lost, and counts stored ids nobody
/// accepted; the ids listed are the first in sort order, so two runs list comparable ids.
fn compare(
    accepted: &[String],
    stored: &HashSet<String>,
    dead: &HashSet<String>,
    duplicates: u64,
) -> LossById {
    let accepted_set: BTreeSet<&str> = accepted.iter().map(String::as_str).collect();
    let mut loss = LossById {
        accepted: accepted_set.len() as u64,
        duplicates,
        ..LossById::default()
    };
    for id in &accepted_set {
        if stored.contains(*id) {
            loss.stored += 1;
        } else if dead.contains(*id) {
            loss.dead_lettered += 1;
        } else {
            loss.lost += 1;
            if loss.lost_ids.len() < LISTED {
                loss.lost_ids.push((*id).to_string());
            }
        }
    }
    let mut unexpected: Vec<&String> = stored
        .iter()
        .filter(|id| !accepted_set.contains(id.as_str()))
        .collect();
    unexpected.sort();
    loss.unexpected = unexpected.len() as u64;
    loss.unexpected_ids = unexpected.into_iter().take(LISTED).cloned().collect();
    loss
}

/// Distinct accepted ids in neither `stored` nor `dead`.
fn unsettled(accepted: &[String], stored: &HashSet<String>, dead: &HashSet<String>) -> u64 {
    let distinct: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    distinct
        .into_iter()
        .filter(|id| !stored.contains(*id) && !dead.contains(*id))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_accepted_id_is_stored_dead_lettered_or_lost() {
        let accepted: Vec<String> = ["a", "b", "c", "d", "b"].map(String::from).to_vec();
        let loss = compare(&accepted, &set(&["a", "x"]), &set(&["c"]), 4);
        assert_eq!(
            (loss.accepted, loss.stored, loss.dead_lettered, loss.lost),
            (4, 1, 1, 2)
        );
        assert_eq!(loss.lost_ids, ["b", "d"]);
        assert_eq!(
            (loss.unexpected, loss.unexpected_ids),
            (1, vec!["x".to_string()])
        );
        assert_eq!(loss.duplicates, 4);
    }

    #[test]
    fn a_stranger_in_the_collection_does_not_settle_a_missing_case() {
        let accepted: Vec<String> = ["a", "b", "c", "a"].map(String::from).to_vec();
        // As many documents as accepted ids, one of them nobody accepted: a total says none is
        // missing, the ids say "b" is.
        assert_eq!(unsettled(&accepted, &set(&["a", "x"]), &set(&["c"])), 1);
        assert_eq!(unsettled(&accepted, &set(&["a", "b"]), &set(&["c"])), 0);
    }

    #[test]
    fn listed_ids_stop_at_twenty_but_the_counts_do_not() {
        let accepted: Vec<String> = (0..50).map(|i| format!("id-{i:02}")).collect();
        let strangers: HashSet<String> = (0..30).map(|i| format!("other-{i:02}")).collect();
        let loss = compare(&accepted, &strangers, &HashSet::new(), 0);
        assert_eq!((loss.lost, loss.unexpected), (50, 30));
        assert_eq!(
            (loss.lost_ids.len(), loss.unexpected_ids.len()),
            (LISTED, LISTED)
        );
        assert_eq!(loss.lost_ids.first().map(String::as_str), Some("id-00"));
        assert_eq!(loss.lost_ids.last().map(String::as_str), Some("id-19"));
        assert_eq!(
            loss.unexpected_ids.last().map(String::as_str),
            Some("other-19")
        );
    }
}
