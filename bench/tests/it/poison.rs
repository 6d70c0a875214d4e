//! A valid case the store refuses is set aside in `dead_<path>` after the delivery limit, on
//! every path that redelivers, and the cases around it are stored as usual. The store is made to
//! refuse it as a store with a validation rule would (see [`store_refuses_name`]); the poison
//! case is published straight to the broker.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;
use brokerbench_publishers::Publisher;
use mongodb::bson::{Document, doc};
use serde_json::Value;
use support::{Pipeline, case, new_ns, stats};

const LIMIT: i64 = 3;

/// The name of the case the store refuses.
const POISON_NAME: &str = "Refused By The Store";

/// Makes the store refuse every case named `name` in path `m`'s collection of `db`: a
/// PostgreSQL check constraint on the table FerretDB keeps the collection in. FerretDB answers
/// the insert with an error about the document, as MongoDB answers a validation rule. Only the
/// stack's store, FerretDB on PostgreSQL (`BB_STORE_PG_URL`), can be told so; with another
/// store the test is skipped, and says so.
pub async fn store_refuses_name(db: &str, m: Middleware, name: &str) -> bool {
    let Ok(pg) = std::env::var("BB_STORE_PG_URL") else {
        eprintln!("skipped: the store is not FerretDB on PostgreSQL (no BB_STORE_PG_URL)");
        return false;
    };
    let collection = m.collection();
    support::mongo()
        .await
        .database(db)
        .create_collection(&collection)
        .await
        .expect("create the collection");
    let sql = format!(
        "DO $$ DECLARE t text; BEGIN \
         SELECT table_name INTO STRICT t FROM information_schema.tables \
         WHERE table_schema = '{db}' AND starts_with(table_name, '{collection}_'); \
         EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT bb_refuse \
         CHECK ((_jsonb->>''name'') IS DISTINCT FROM %L)', '{db}', t, '{name}'); END $$;"
    );
    let out = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &pg, "-c", &sql])
        .output()
        .await
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql could not add the constraint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// Whether the store of this stack refuses a string holding a NUL character, as FerretDB on
/// PostgreSQL does (jsonb cannot hold `\u0000`); MongoDB itself and other FerretDB backends may
/// take it, and then there is no poison document to test with.
pub async fn store_refuses_nul(db: &str) -> bool {
    let probe = support::mongo()
        .await
        .database(db)
        .collection::<Document>("nul_probe");
    let refused = probe.insert_one(doc! { "name": "a\u{0}b" }).await.is_err();
    if !refused {
        eprintln!(
            "skipped: this store takes a NUL character, so nothing here is a poison document"
        );
    }
    refused
}

fn counter(stats: &Stats, metric: CounterMetric, m: Middleware) -> u64 {
    stats.counter(metric, Some(m)).unwrap_or(0)
}

async fn poison_case_is_dead_lettered(m: Middleware, broker_extra: &[&str]) {
    let limit = format!("--delivery-limit={LIMIT}");
    let pipeline = Pipeline::start_with(&new_ns(), &[m], "single", broker_extra, &[&limit]).await;
    if !store_refuses_name(&pipeline.db, m, POISON_NAME).await {
        return;
    }
    let poison = Envelope::accept(
        Case {
            name: POISON_NAME.into(),
            location: "Escuintla".into(),
            age: 30,
            infectedtype: "imported".into(),
            state: "symptomatic".into(),
        },
        now_ns(),
        None,
    );
    let publisher = Publisher::connect(m, &pipeline.settings())
        .await
        .expect("publisher connects");
    publisher
        .publish(std::slice::from_ref(&poison))
        .await
        .expect("the broker takes the poison case");

    let mut valid = BTreeSet::new();
    for i in 0..5 {
        let body = Value::Array((0..4).map(|j| case(i * 4 + j)).collect());
        let response = pipeline.post(&body).await;
        assert_eq!(response.status(), 202, "{m}: ingress refused valid cases");
        let reply: Value = response.json().await.expect("reply JSON");
        valid.extend(
            reply["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| id.as_str().expect("id").to_string()),
        );
    }

    let subscriber = pipeline.subscriber(m).to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let settled = loop {
        let s = stats(&subscriber).await;
        let stored =
            counter(&s, CounterMetric::Stored, m) + counter(&s, CounterMetric::Duplicates, m);
        if counter(&s, CounterMetric::DeadLettered, m) >= 1 && stored >= valid.len() as u64 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{m}: poison case not dead-lettered or valid cases not stored in time: stored {stored}, dead_lettered {}",
            counter(&s, CounterMetric::DeadLettered, m)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        counter(&settled, CounterMetric::DeadLettered, m),
        1,
        "{m}: dead_lettered"
    );

    let stored: BTreeSet<String> = pipeline.stored_ids(m).await;
    assert_eq!(
        stored, valid,
        "{m}: the collection holds exactly the valid cases"
    );

    let dead = pipeline.dead_letters(m).await;
    assert_eq!(dead.len(), 1, "{m}: one dead letter: {dead:?}");
    let letter = &dead[0];
    assert_eq!(
        letter.get_str("_id"),
        Ok(poison.id.as_str()),
        "{m}: dead letter id"
    );
    let attempts = letter
        .get("attempts")
        .and_then(|a| a.as_i64().or(a.as_i32().map(i64::from)));
    assert_eq!(attempts, Some(LIMIT), "{m}: attempts: {letter:?}");
    let case_json = letter.get_str("case_json").expect("case_json");
    assert!(
        case_json.contains(POISON_NAME),
        "{m}: the case is kept as JSON: {case_json}"
    );
    assert_eq!(letter.get_str("route"), Ok(m.name()));
    assert!(!letter.get_str("error").expect("error").is_empty());
    assert!(letter.get_datetime("accepted_at").is_ok() && letter.get_datetime("dead_at").is_ok());

    // Acknowledged once set aside: the broker does not deliver it again.
    let received = counter(&stats(&subscriber).await, CounterMetric::Received, m);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = stats(&subscriber).await;
    assert_eq!(
        counter(&after, CounterMetric::Received, m),
        received,
        "{m}: something was delivered again after the dead letter"
    );
    assert_eq!(
        counter(&after, CounterMetric::DeadLettered, m),
        1,
        "{m}: dead_lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_dead_letters_a_poison_case() {
    poison_case_is_dead_lettered(Middleware::Nats, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_dead_letters_a_poison_case() {
    poison_case_is_dead_lettered(Middleware::Rabbitmq, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_dead_letters_a_poison_case() {
    poison_case_is_dead_lettered(Middleware::Pubsub, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dead_letters_a_poison_case() {
    // A refused entry comes again once idle this long (claims every half of it).
    poison_case_is_dead_lettered(Middleware::Redis, &["--redis-claim-idle-ms=1000"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dead_letters_a_poison_case() {
    poison_case_is_dead_lettered(Middleware::Kafka, &[]).await;
}
