//! The dashboard's Cases and Host pages in the browser: the Cases numbers equal MongoDB's own
//! counts for every route, and the Host page's process list refreshes and filters.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use brokerbench_common::settings::Middleware;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use super::{PIES, assert_charts, assert_no_errors};
use crate::cdp::Browser;
use crate::fixture::{self, LOCATIONS, STATES, TYPES};

/// The numbers the Cases page shows, read from the text of its cells.
const CASES_JS: &str = r#"(() => {
  const cells = (sel, key) => Object.fromEntries([...document.querySelectorAll(sel)].map(td => [td.dataset[key], Number(td.textContent)]));
  return {
    total: Number(document.querySelector('#cases-total').textContent),
    per_route: cells('#per-route td[data-route]', 'route'),
    top_location: document.querySelector('#top-location').textContent,
    locations: cells('#top-locations td[data-location]', 'location'),
    types: cells('#infected-types td[data-key]', 'key'),
    states: cells('#states td[data-key]', 'key'),
    ages: cells('#age-bins td[data-bin]', 'bin'),
    rows: document.querySelectorAll('#cases-table tbody tr').length,
    last: document.querySelectorAll('#last-cases tbody tr').length,
  };
})()"#;

/// What the Cases page should show for `route`, counted by MongoDB itself, filter by filter.
async fn mongo_counts(db: &mongodb::Database, route: &str) -> Value {
    let colls: Vec<Middleware> = Middleware::ALL
        .into_iter()
        .filter(|m| route == "all" || m.name() == route)
        .collect();
    let count = |filter: Document| {
        let colls = colls.clone();
        async move {
            let mut n = 0;
            for m in colls {
                n += db
                    .collection::<Document>(&m.collection())
                    .count_documents(filter.clone())
                    .await
                    .expect("count");
            }
            n
        }
    };
    let mut per_route = BTreeMap::new();
    for m in &colls {
        per_route.insert(
            m.name().to_string(),
            db.collection::<Document>(&m.collection())
                .count_documents(doc! {})
                .await
                .expect("count"),
        );
    }
    let mut locations = Vec::new();
    for l in LOCATIONS {
        locations.push((l.to_string(), count(doc! { "location": l }).await));
    }
    locations.retain(|(_, n)| *n > 0);
    locations.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut types = BTreeMap::new();
    for t in TYPES {
        types.insert(t.to_string(), count(doc! { "infectedtype": t }).await);
    }
    types.retain(|_, n| *n > 0);
    let mut states = BTreeMap::new();
    for s in STATES {
        states.insert(s.to_string(), count(doc! { "state": s }).await);
    }
    states.retain(|_, n| *n > 0);
    let mut ages = BTreeMap::new();
    for from in (0..130).step_by(10) {
        let n = count(doc! { "age": { "$gte": from, "$lt": from + 10 } }).await;
        if n > 0 {
            ages.insert(from.to_string(), n);
        }
    }
    let total = count(doc! {}).await;
    json!({
        "total": total,
        "per_route": per_route,
        "top_location": locations.first().map(|l| l.0.clone()).unwrap_or_else(|| "–".into()),
        "locations": locations.into_iter().take(5).collect::<BTreeMap<_, _>>(),
        "types": types,
        "states": states,
        "ages": ages,
        "rows": total.min(25),
        "last": total.min(5),
    })
}

/// The Cases page, for all routes and for each one.
pub(super) async fn cases(browser: &mut Browser, base: &str, db: &mongodb::Database, shots: &Path) {
    // Cases: the numbers shown equal MongoDB's counts, for all routes and for each one.
    let routes = std::iter::once("all").chain(Middleware::ALL.map(Middleware::name));
    for route in routes {
        browser.open(&format!("{base}/cases?route={route}")).await;
        let shown = browser.eval(CASES_JS).await;
        assert_eq!(
            shown,
            mongo_counts(db, route).await,
            "Cases page, route {route}"
        );
        if route == "all" || fixture::cases_per_route(route.parse().expect("a route")) > 0 {
            assert_charts(
                browser,
                "Cases",
                &["chart-ages", "chart-locations", PIES[0], PIES[1]],
                &["chart-ages", "chart-locations"],
            )
            .await;
        }
        if route == "all" || route == "grpc" {
            browser
                .screenshot(&shots.join(format!("cases-{route}.png")))
                .await;
        }
        assert_no_errors(browser, "Cases");
    }
    browser
        .open(&format!("{base}/cases?route=all&page=2"))
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#cases-table tbody tr').length")
            .await,
        json!(25)
    );
}

/// The Host page: a live RAM chart, its source labelled, a filterable process list that refreshes.
pub(super) async fn host(browser: &mut Browser, base: &str, shots: &Path) {
    // Host: live RAM chart, labelled source, a filterable process list that refreshes.
    browser.open(&format!("{base}/host")).await;
    assert_charts(browser, "Host", &["chart-host-ram"], &[]).await;
    let source = browser.eval("document.querySelector('#ram-source').textContent + ' | ' + document.querySelector('#proc-source').textContent").await;
    assert!(
        source
            .as_str()
            .is_some_and(|s| s.contains("/proc") || s.contains("kernel module")),
        "source labelled: {source}"
    );
    browser.idle(Duration::from_secs(4)).await;
    let refreshed = browser
        .eval("document.querySelector('#refreshed').textContent")
        .await;
    assert!(
        refreshed
            .as_str()
            .is_some_and(|s| s != "at load" && !s.contains("failed")),
        "the page refreshed: {refreshed}"
    );
    let rows = browser
        .eval("document.querySelectorAll('#processes tbody tr').length")
        .await;
    assert!(rows.as_u64() > Some(3), "processes listed: {rows}");
    browser.screenshot(&shots.join("host.png")).await;
    let filtered = browser
        .eval("const f = document.querySelector('#proc-filter'); f.value = 'chromium'; f.dispatchEvent(new Event('input')); [...document.querySelectorAll('#processes tbody tr')].filter(r => !r.hidden).map(r => r.cells[2].textContent)")
        .await;
    let names = filtered.as_array().expect("names");
    assert!(
        !names.is_empty() && (names.len() as u64) < rows.as_u64().unwrap_or(0),
        "the filter narrows the list: {filtered}"
    );
    assert_no_errors(browser, "Host");
}
