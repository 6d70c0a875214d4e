//! A run never empties a database someone else uses: one holding collections no run created is
//! refused until the operator says `--overwrite-db`; an empty one is marked as a run's.

use crate::support;

use brokerbench::run::store_claim::{MARKER, claim};
use mongodb::bson::doc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_someone_elses_collections_is_refused_until_told() {
    let own = support::OwnDb::new();
    let db = support::mongo().await.database(&own.name);
    let theirs = db.collection("cases_nats");
    theirs
        .insert_one(doc! { "_id": "theirs", "name": "Ana" })
        .await
        .expect("someone's case");

    let refused = claim(&db, false).await.expect_err("refused");
    let text = refused.to_string();
    assert!(
        text.contains("cases_nats") && text.contains("--overwrite-db"),
        "{text}"
    );
    assert_eq!(
        theirs.count_documents(doc! {}).await.expect("count"),
        1,
        "nothing touched"
    );
    let names = db.list_collection_names().await.expect("names");
    assert!(
        !names.contains(&MARKER.to_string()),
        "not marked: {names:?}"
    );

    claim(&db, true).await.expect("told to overwrite");
    claim(&db, false)
        .await
        .expect("marked as a run's from then on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_database_becomes_a_runs() {
    let own = support::OwnDb::new();
    let db = support::mongo().await.database(&own.name);
    claim(&db, false).await.expect("an empty database is taken");
    let names = db.list_collection_names().await.expect("names");
    assert_eq!(names, [MARKER.to_string()]);
    db.collection::<mongodb::bson::Document>("cases_nats")
        .insert_one(doc! { "_id": "a run's" })
        .await
        .expect("a run's case");
    claim(&db, false).await.expect("still a run's");
}
