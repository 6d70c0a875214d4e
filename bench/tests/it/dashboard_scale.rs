//! The dashboard over 200,000 stored cases, `serve` in a process of its own: the cases page and
//! the first page of `/api/cases` answer from the tallies, a deep page is cut by the database
//! (one route) or merged as the routes' cursors stream (all routes), every row where it belongs,
//! and `serve` never holds a collection: its peak RSS stays under a bound. Before the tallies,
//! the last page of all routes made `serve` hold every document of every collection.

use crate::fixture;

use std::process::Stdio;
use std::time::{Duration, Instant};

use brokerbench_common::settings::Middleware;
use mongodb::bson::Document;
use serde_json::Value;

/// Cases stored; `BB_DASHBOARD_CASES` changes it for a benchmark (the closing note's 1,000,000).
fn cases() -> usize {
    std::env::var("BB_DASHBOARD_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}
/// Peak RSS `serve` may reach, in MiB (measured: see the closing note of the change).
const RSS_BOUND_MIB: u64 = 100;
/// The route that holds the cases; the others stay empty.
const ROUTE: Middleware = Middleware::Nats;

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024
}

/// `serve` started on port 0 for `db`; its address once it listens.
async fn start_serve(db: &str, dir: &std::path::Path) -> (tokio::process::Child, String) {
    let address_file = dir.join("serve.addr");
    let binary = std::env::var("BROKERBENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokerbench").into());
    let child = tokio::process::Command::new(binary)
        .args(["serve", "--listen=127.0.0.1:0"])
        .arg(format!("--address-file={}", address_file.display()))
        .arg(format!("--results-dir={}", dir.display()))
        .arg(format!("--mongodb-uri={}", fixture::mongodb_uri()))
        .arg(format!("--mongodb-db={db}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(addr) = std::fs::read_to_string(&address_file) {
            return (child, format!("http://{addr}"));
        }
        assert!(
            Instant::now() < deadline,
            "serve did not announce its address"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of one page of `/api/cases`, and how long it took.
async fn page_ids(base: &str, route: &str, page: u64) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let reply: Value = reqwest::get(format!("{base}/api/cases?route={route}&page={page}"))
        .await
        .expect("request")
        .error_for_status()
        .expect("a page")
        .json()
        .await
        .expect("JSON");
    let ids = reply["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    (ids, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_cases_page_without_serve_holding_them() {
    let client = mongodb::Client::with_uri_str(fixture::mongodb_uri())
        .await
        .expect("MongoDB URI");
    let db_name = fixture::test_db_name("dashscale");
    let db = client.database(&db_name);
    let total = cases();
    let docs: Vec<Document> = (0..total).map(|i| fixture::case_doc(ROUTE, i)).collect();
    let cases = db.collection::<Document>(&ROUTE.collection());
    for chunk in docs.chunks(5_000) {
        cases.insert_many(chunk).await.expect("insert cases");
    }
    fixture::tally_as_a_subscriber(&db, ROUTE, &docs).await;
    // Newest first, as every page orders them (stored_at grows with i).
    let newest: Vec<String> = docs
        .iter()
        .rev()
        .map(|d| d.get_str("_id").expect("_id").to_string())
        .collect();
    drop(docs);

    let dir = std::env::temp_dir().join(&db_name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (child, base) = start_serve(&db_name, &dir).await;
    let pid = child.id().expect("pid");

    // Twice: the first answer includes serve's first connections to MongoDB.
    let mut cases_page = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let page = reqwest::get(format!("{base}/cases?route=all"))
            .await
            .expect("request");
        assert!(page.status().is_success(), "{}", page.status());
        let html = page.text().await.expect("page");
        cases_page.push(format!("{:.0} ms", started.elapsed().as_secs_f64() * 1e3));
        assert!(
            html.contains(&format!("data-count=\"{total}\"")),
            "total shown"
        );
    }

    let pages = (total as u64).div_ceil(25);
    let mut timings = Vec::new();
    for (route, page) in [
        ("all", 1),
        (ROUTE.name(), 1),
        (ROUTE.name(), pages / 2),
        ("all", pages),
    ] {
        let (ids, took) = page_ids(&base, route, page).await;
        let from = ((page - 1) * 25) as usize;
        let expected = &newest[from..(from + 25).min(total)];
        assert_eq!(ids, expected, "route {route}, page {page}");
        timings.push(format!(
            "{route} page {page}: {:.0} ms",
            took.as_secs_f64() * 1e3
        ));
    }
    let peak = peak_rss_mib(pid);
    println!(
        "dashboard over {total} cases: /cases {} (first, second); {}; serve peak RSS {peak} MiB",
        cases_page.join(", "),
        timings.join("; ")
    );
    assert!(
        peak < RSS_BOUND_MIB,
        "serve peaked at {peak} MiB over {total} cases (bound {RSS_BOUND_MIB} MiB)"
    );
    drop(child);
    db.drop().await.expect("drop the test database");
    let _ = std::fs::remove_dir_all(&dir);
}
