//! A run empties the collections its paths write to (`cases_<path>`, `dead_<path>`), so that it
//! counts only its own cases. It must never empty anyone else's: a database is a run's once a
//! run found it empty and marked it (collection [`MARKER`]); one that holds collections and no
//! mark (a subscriber's, a Locust session's, someone's own) is refused unless the operator says
//! `--overwrite-db`, which marks it from then on.

use anyhow::Context as _;
use mongodb::Database;
use mongodb::bson::{DateTime, Document, doc};

/// The collection that marks a database as one runs may empty.
pub const MARKER: &str = "brokerbench_run";

/// Makes sure runs may empty collections in `db`, marking it if it is empty (or if
/// `overwrite`); refuses a database that holds collections no run created.
pub async fn claim(db: &Database, overwrite: bool) -> anyhow::Result<()> {
    let names = db.list_collection_names().await.with_context(|| {
        format!(
            "cannot list the collections of MongoDB database {}",
            db.name()
        )
    })?;
    if names.iter().any(|n| n == MARKER) {
        return Ok(());
    }
    let mut foreign: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("system."))
        .collect();
    foreign.sort_unstable();
    if !foreign.is_empty() && !overwrite {
        anyhow::bail!(
            "MongoDB database {} holds collections no run created ({}), and a run empties the \
             cases_<path> and dead_<path> collections it writes to. Name another database with \
             --mongodb-db (a run creates it), or pass --overwrite-db to let runs empty them in \
             this one from now on (runs before 2026-12-03 left no mark: if only runs wrote here, \
             pass it once)",
            db.name(),
            foreign.join(", ")
        );
    }
    let mark = doc! {
        "_id": "owner",
        "note": "runs of brokerbench empty cases_<path> and dead_<path> in this database",
        "since": DateTime::now(),
    };
    db.collection::<Document>(MARKER)
        .insert_one(mark)
        .await
        .with_context(|| format!("cannot mark MongoDB database {} as a run's", db.name()))?;
    Ok(())
}
