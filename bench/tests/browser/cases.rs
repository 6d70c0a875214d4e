//! Stored cases with known figures, for the dashboard and browser tests: documents as the
//! subscribers write them, in a database of the test's own.

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;
use brokerbench_common::tally;
use mongodb::bson::{DateTime, Document, doc};

pub const LOCATIONS: [&str; 6] = [
    "Guatemala",
    "Escuintla",
    "Petén",
    "Quetzaltenango",
    "Izabal",
    "Jutiapa",
];
pub const TYPES: [&str; 3] = ["imported", "non-imported", "communitary"];
pub const STATES: [&str; 2] = ["symptomatic", "asymptomatic"];

/// The `i`-th known case of route `m`, as a subscriber stores it.
pub fn case_doc(m: Middleware, i: usize) -> Document {
    // Skewed so the locations have distinct counts: Guatemala most, then the rest in order.
    let location = match i {
        _ if i % 17 == 5 => LOCATIONS[4],
        _ if i % 19 == 7 => LOCATIONS[5],
        _ => LOCATIONS[[0, 0, 0, 0, 1, 1, 1, 2, 2, 3][i % 10]],
    };
    let stored = 1_790_000_000_000i64 + i as i64 * 1000 + m as i64;
    doc! {
        "_id": format!("{}-{m}-{i:05}", uuid::Uuid::now_v7()),
        "name": format!("Caso {m} {i}"),
        "location": location,
        "age": ((i * 7) % 97) as i32,
        "infectedtype": TYPES[i % 3],
        "state": STATES[(i / 3) % 2],
        "route": m.name(),
        "accepted_at": DateTime::from_millis(stored - 5),
        "stored_at": DateTime::from_millis(stored),
    }
}

/// How many known cases each route gets: a different number each, and none for the last one
/// (a route with an empty collection must show as such).
pub fn cases_per_route(m: Middleware) -> usize {
    const COUNTS: [usize; 5] = [37, 23, 11, 5, 0];
    let i = Middleware::ALL
        .iter()
        .position(|x| *x == m)
        .expect("a middleware");
    if i + 1 == Middleware::ALL.len() {
        0
    } else {
        COUNTS[i % (COUNTS.len() - 1)]
    }
}

/// Inserts the known cases into `db` and, as the subscribers do, their tallies; returns them
/// per route.
pub async fn insert_cases(db: &mongodb::Database) -> BTreeMap<Middleware, Vec<Document>> {
    let mut all = BTreeMap::new();
    for m in Middleware::ALL {
        let docs: Vec<Document> = (0..cases_per_route(m)).map(|i| case_doc(m, i)).collect();
        if !docs.is_empty() {
            db.collection::<Document>(&m.collection())
                .insert_many(docs.clone())
                .await
                .expect("insert known cases");
            tally_as_a_subscriber(db, m, &docs).await;
        }
        all.insert(m, docs);
    }
    all
}

/// Writes the tally of `docs` the way a subscriber that stored them would.
pub async fn tally_as_a_subscriber(db: &mongodb::Database, m: Middleware, docs: &[Document]) {
    let mut counts = tally::Tally::default();
    docs.iter().for_each(|d| counts.add_document(d));
    let mut newest: Vec<Document> = docs.to_vec();
    newest.sort_by_key(|d| {
        std::cmp::Reverse((
            d.get_datetime("stored_at")
                .map(|t| t.timestamp_millis())
                .ok(),
            d.get_str("_id").map(str::to_owned).ok(),
        ))
    });
    newest.truncate(tally::RECENT);
    db.collection::<Document>(tally::COLLECTION)
        .update_one(
            doc! { "_id": m.name() },
            tally::update(&counts, Some(newest)),
        )
        .upsert(true)
        .await
        .expect("write the tally");
}

/// A fresh database name, dropped by the test that uses it.
pub fn test_db_name(prefix: &str) -> String {
    format!(
        "bbtest_{prefix}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into())
}
