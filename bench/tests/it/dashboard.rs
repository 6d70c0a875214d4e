//! The dashboard against the real MongoDB (FerretDB) of the stack: known cases go into a fresh
//! database, `serve::run` runs in-process on a free port, and every figure of
//! `/api/cases/summary` must equal what the test counts itself from what it inserted.

use crate::fixture;

use std::collections::BTreeMap;

use brokerbench::serve::ServeOpts;
use brokerbench_common::settings::{Middleware, MongoSettings};
use mongodb::bson::Document;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The counts the dashboard should show for `docs`, computed here from the documents.
fn expected(docs: &[&Document]) -> Value {
    let count_by = |field: &str| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for d in docs {
            *m.entry(d.get_str(field).expect("text field").to_string())
                .or_default() += 1;
        }
        let mut v: Vec<(String, u64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let mut ages: BTreeMap<i64, u64> = BTreeMap::new();
    for d in docs {
        *ages
            .entry(i64::from(d.get_i32("age").expect("age")) / 10 * 10)
            .or_default() += 1;
    }
    let mut newest: Vec<&&Document> = docs.iter().collect();
    newest.sort_by_key(|d| {
        std::cmp::Reverse((
            d.get_datetime("stored_at")
                .expect("stored_at")
                .timestamp_millis(),
            d.get_str("_id").expect("id").to_string(),
        ))
    });
    serde_json::json!({
        "total": docs.len(),
        "top_locations": count_by("location").into_iter().take(5).map(|(k, n)| serde_json::json!({"key": k, "count": n})).collect::<Vec<_>>(),
        "infected_types": count_by("infectedtype").into_iter().collect::<BTreeMap<_, _>>(),
        "states": count_by("state").into_iter().collect::<BTreeMap<_, _>>(),
        "age_bins": ages,
        "last_ids": newest.iter().take(5).map(|d| d.get_str("_id").expect("id").to_string()).collect::<Vec<_>>(),
    })
}

fn shown(summary: &Value) -> Value {
    let map = |key: &str| -> BTreeMap<String, u64> {
        summary[key]
            .as_array()
            .expect("array")
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().expect("key").to_string(),
                    s["count"].as_u64().expect("count"),
                )
            })
            .collect()
    };
    let ages: BTreeMap<i64, u64> = summary["age_bins"]
        .as_array()
        .expect("bins")
        .iter()
        .map(|b| {
            (
                b["from"].as_i64().expect("from"),
                b["count"].as_u64().expect("count"),
            )
        })
        .collect();
    serde_json::json!({
        "total": summary["total"],
        "top_locations": summary["top_locations"],
        "infected_types": map("infected_types"),
        "states": map("states"),
        "age_bins": ages,
        "last_ids": summary["last_cases"].as_array().expect("cases").iter().map(|c| c["id"].clone()).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_analytics_match_the_stored_cases() {
    let client = mongodb::Client::with_uri_str(fixture::mongodb_uri())
        .await
        .expect("MongoDB URI");
    let db_name = fixture::test_db_name("dash");
    let db = client.database(&db_name);
    let inserted = fixture::insert_cases(&db).await;

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let opts = ServeOpts {
        listen: "127.0.0.1:0".into(),
        address_file: None,
        results_dir: std::env::temp_dir().join("bb-dashboard-no-runs"),
        mongo: MongoSettings {
            uri: fixture::mongodb_uri(),
            db: db_name.clone(),
        },
        access: Default::default(),
        connections: Default::default(),
    };
    let server = tokio::spawn(brokerbench::serve::run(opts, listener, shutdown.clone()));
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("request");
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<Value>().await.expect("JSON")
        }
    };

    // A page of another site, or a name rebound to loopback, gets nothing (DNS rebinding).
    for (name, value) in [("origin", "http://evil.example"), ("host", "evil.example")] {
        let r = http
            .get(format!("{base}/api/cases/summary"))
            .header(name, value)
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            reqwest::StatusCode::FORBIDDEN,
            "{name}: {value}"
        );
    }

    for route in std::iter::once("all").chain(Middleware::ALL.map(Middleware::name)) {
        let docs: Vec<&Document> = inserted
            .iter()
            .filter(|(m, _)| route == "all" || m.name() == route)
            .flat_map(|(_, d)| d.iter())
            .collect();
        let summary = get(format!("/api/cases/summary?route={route}")).await;
        assert_eq!(shown(&summary), expected(&docs), "route {route}");
        // Independently of the test's own arithmetic: MongoDB's own count per collection.
        for entry in summary["per_route"].as_array().expect("per route") {
            let m: Middleware = serde_json::from_value(entry["key"].clone()).expect("route name");
            let counted = db
                .collection::<Document>(&m.collection())
                .count_documents(mongodb::bson::doc! {})
                .await
                .expect("count");
            assert_eq!(
                entry["count"].as_u64(),
                Some(counted),
                "{route}: count of {m}"
            );
        }
        if let Some(top) = summary["top_location"].as_object() {
            assert_eq!(Some(top), summary["top_locations"][0].as_object());
        }
    }

    // Paging: newest first, 25 a page, every case exactly once.
    let total: usize = inserted.values().map(Vec::len).sum();
    let mut seen = Vec::new();
    let first = get("/api/cases?route=all&page=1".into()).await;
    let pages = first["pages"].as_u64().expect("pages");
    assert_eq!(pages, (total as u64).div_ceil(25));
    for page in 1..=pages {
        let reply = get(format!("/api/cases?route=all&page={page}")).await;
        seen.extend(
            reply["cases"]
                .as_array()
                .expect("cases")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_string()),
        );
    }
    let mut all: Vec<&Document> = inserted.values().flatten().collect();
    all.sort_by_key(|d| {
        std::cmp::Reverse((
            d.get_datetime("stored_at")
                .expect("date")
                .timestamp_millis(),
            d.get_str("_id").expect("id").to_string(),
        ))
    });
    assert_eq!(
        seen,
        all.iter()
            .map(|d| d.get_str("_id").expect("id").to_string())
            .collect::<Vec<_>>()
    );

    // Cases written without a subscriber (no tally) are named, not silently left out.
    let summary = get("/api/cases/summary?route=all".into()).await;
    assert_eq!(summary["untallied"], serde_json::json!([]));
    let untallied = Middleware::ALL[Middleware::ALL.len() - 1];
    assert_eq!(fixture::cases_per_route(untallied), 0);
    db.collection::<Document>(&untallied.collection())
        .insert_one(fixture::case_doc(untallied, 0))
        .await
        .expect("insert by hand");
    let summary = get("/api/cases/summary?route=all".into()).await;
    assert_eq!(
        summary["untallied"],
        serde_json::json!([untallied.collection()])
    );

    let bad = http
        .get(format!("{base}/api/cases/summary?route=mqtt"))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let ram = get("/api/host/ram".into()).await;
    assert!(
        ram["current"]["ram"]["total_kib"].as_u64().unwrap_or(0) > 0,
        "RAM sampled: {ram}"
    );
    let procs = get("/api/host/processes".into()).await;
    assert!(!procs["processes"].as_array().expect("processes").is_empty());
    assert!(matches!(
        procs["source"].as_str(),
        Some("proc" | "kernel-module")
    ));

    shutdown.cancel();
    server
        .await
        .expect("server task")
        .expect("server ends cleanly");
    db.drop().await.expect("drop test database");
}
