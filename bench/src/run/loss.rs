//! Loss counted case by case: the ids the ingress accepted (the generator knows them, from the
//! `Idempotency-Key` of each request answered 2xx) against the `_id`s in the path's collection
//! after the drain. Counters live in processes a fault may restart; ids in the store do not.

use std::collections::HashSet;

use anyhow::Context as _;
use brokerbench_common::settings::Middleware;
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc};

use crate::results::loss::LossById;

/// Ids listed per category at most.
const LISTED: usize = 20;

/// Every `_id` of a collection.
async fn ids(db: &Database, collection: &str) -> anyhow::Result<HashSet<String>> {
    let mut cursor = db
        .collection::<Document>(collection)
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .await
        .with_context(|| format!("cannot read the ids of {collection}"))?;
    let mut out = HashSet::new();
    while let Some(d) = cursor.try_next().await? {
        if let Some(Bson::String(id)) = d.get("_id") {
            out.insert(id.clone());
        }
    }
    Ok(out)
}

/// The name of a path's dead-letter collection.
pub fn dead_letters(m: Middleware) -> String {
    format!("dead_{}", m.name())
}

/// Compares `accepted` with what path `m` stored and dead-lettered in `db`.
pub async fn count(
    db: &Database,
    m: Middleware,
    accepted: &[String],
    duplicates: u64,
) -> anyhow::Result<LossById> {
    let stored = ids(db, &m.collection()).await?;
    let dead = ids(db, &dead_letters(m)).await?;
    let accepted_set: HashSet<&str> = accepted.iter().map(String::as_str).collect();
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
    for id in stored
        .iter()
        .filter(|id| !accepted_set.contains(id.as_str()))
    {
        loss.unexpected += 1;
        if loss.unexpected_ids.len() < LISTED {
            loss.unexpected_ids.push(id.clone());
        }
    }
    loss.lost_ids.sort();
    loss.unexpected_ids.sort();
    Ok(loss)
}

/// Accepted cases not yet in the store (collection or dead letters) of any of `group`'s paths:
/// what the drain waits for when a fault may have restarted the processes holding the counters.
pub async fn not_yet_stored(db: &Database, group: &[Middleware], accepted: u64) -> Option<u64> {
    let mut behind = 0;
    for &m in group {
        let mut there = 0;
        for name in [m.collection(), dead_letters(m)] {
            there += db
                .collection::<Document>(&name)
                .count_documents(doc! {})
                .await
                .ok()?;
        }
        behind += accepted.saturating_sub(there);
    }
    Some(behind)
}
