//! The pages as a person sees them, in Debian's headless Chromium: the static report opened from
//! disk, and the dashboard's Runs, Compare, Cases and Host pages served in-process against the
//! real MongoDB. Every chart must be drawn, the Cases numbers must equal MongoDB's own counts,
//! no page may log a console error, and each page leaves a screenshot in results/screenshots/.

use crate::cdp;
use crate::fixture;

mod pages;

use std::path::PathBuf;

use brokerbench::serve::ServeOpts;
use brokerbench_common::settings::MongoSettings;
use cdp::Browser;
use fixture::{RunSpec, write_run};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the report's first screen (1,400 × 900) shows, and every visible table wider than 1,280 px.
const FIRST_SCREEN_JS: &str = r##"(() => {
  const seen = sel => { const e = document.querySelector(sel); return !!e && e.getBoundingClientRect().bottom <= window.innerHeight; };
  return {
    verdict: seen('#verdict'),
    e2e: seen('#headline #chart-percentiles-e2e'),
    sweep: seen('#headline #chart-sweep-latency'),
    banners: document.querySelectorAll('.banner').length,
    folded: !!document.querySelector('#warnings-line a[href="#warnings"]') && document.querySelector('#warnings + ul')?.children.length === 2,
    too_wide: [...document.querySelectorAll('table')].filter(t => !t.closest('details:not([open])') && t.getBoundingClientRect().width > 1280).map(t => `${t.id || t.className} ${Math.round(t.getBoundingClientRect().width)}`),
  };
})()"##;

/// Every `<figure data-chart>` of the page: its SVG's size, lines with points, and rectangles.
const CHARTS_JS: &str = r#"[...document.querySelectorAll('figure[data-chart]')].map(f => {
  const s = f.querySelector('svg');
  const r = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
  return { id: f.id, width: r.width, height: r.height,
    lines: s ? [...s.querySelectorAll('polyline')].filter(p => (p.getAttribute('points') || '').trim().split(/\s+/).length > 1).length : 0,
    rects: s ? s.querySelectorAll('rect').length : 0,
    wedges: s ? s.querySelectorAll('polygon').length : 0 };
})"#;

/// The Cases page's pie charts (shares of infected types and states): drawn as wedges.
pub(crate) const PIES: [&str; 2] = ["chart-infected-types", "chart-states"];

pub(crate) fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/screenshots")
}

/// Checks the page's charts: `expected` ids present, every chart drawn with a visible size.
pub(crate) async fn assert_charts(
    browser: &mut Browser,
    page: &str,
    expected: &[&str],
    bars: &[&str],
) {
    let charts = browser.eval(CHARTS_JS).await;
    let charts = charts.as_array().expect("chart list");
    let ids: Vec<&str> = charts.iter().filter_map(|c| c["id"].as_str()).collect();
    for id in expected {
        assert!(ids.contains(id), "{page}: chart {id} missing from {ids:?}");
    }
    for c in charts {
        let id = c["id"].as_str().unwrap_or_default();
        assert!(
            c["width"].as_f64() > Some(100.0) && c["height"].as_f64() > Some(100.0),
            "{page}: chart {id} has no size: {c}"
        );
        let drawn = if bars.contains(&id) {
            c["rects"].as_u64() > Some(2)
        } else if PIES.contains(&id) {
            c["wedges"].as_u64() > Some(0)
        } else {
            c["lines"].as_u64() > Some(0)
        };
        assert!(drawn, "{page}: chart {id} is empty: {c}");
    }
}

pub(crate) fn assert_no_errors(browser: &mut Browser, page: &str) {
    let errors = browser.take_errors();
    assert!(
        errors.is_empty(),
        "{page} logged console errors: {errors:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_in_chromium() {
    let results =
        std::env::temp_dir().join(format!("bb-browser-{}", uuid::Uuid::now_v7().simple()));
    let mut older = RunSpec::new("20260101T000000Z-older");
    older.warned = true;
    let older = write_run(&results, &older);
    let mut spec = RunSpec::new("20260101T000100Z-newer");
    spec.slowdown = 2;
    spec.inconsistent_nats = true;
    let newer = write_run(&results, &spec);
    let report = brokerbench::report::write_report(&older).expect("report of the older run");

    let client = mongodb::Client::with_uri_str(fixture::mongodb_uri())
        .await
        .expect("MongoDB URI");
    let db_name = fixture::test_db_name("browser");
    let db = client.database(&db_name);
    fixture::insert_cases(&db).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let opts = ServeOpts {
        listen: "127.0.0.1:0".into(),
        address_file: None,
        results_dir: results.clone(),
        mongo: MongoSettings {
            uri: fixture::mongodb_uri(),
            db: db_name.clone(),
        },
        access: Default::default(),
        connections: Default::default(),
    };
    let server = tokio::spawn(brokerbench::serve::run(opts, listener, shutdown.clone()));
    let shots = screenshots();
    let mut browser = Browser::launch().await;

    // The static report, from disk.
    browser.open(&format!("file://{}", report.display())).await;
    let percentiles = [
        "http_corrected",
        "http_uncorrected",
        "publish",
        "delivery",
        "e2e",
    ]
    .map(|m| format!("chart-percentiles-{m}"));
    let mut expected: Vec<&str> = percentiles.iter().map(String::as_str).collect();
    expected.extend([
        "chart-rates-grpc",
        "chart-rates-nats",
        "chart-e2e-p99",
        "chart-host-ram",
        "chart-backlog-grpc",
        "chart-backlog-nats",
        "chart-sweep-latency",
    ]);
    assert_charts(&mut browser, "report.html", &expected, &[]).await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#summary-table td.best').length > 0")
            .await,
        json!(true)
    );
    let stages = browser
        .eval("[document.querySelectorAll('#verdict li').length, document.querySelectorAll('#ceilings tbody tr').length, [...document.querySelectorAll('#limited-by td strong')].map(e => e.textContent)]")
        .await;
    assert_eq!(
        stages,
        json!([3, 7, ["kept up", "store"]]),
        "verdict, ceilings and limits"
    );
    let faults = browser
        .eval("[document.querySelectorAll('#resilience tbody tr').length, document.querySelectorAll('#loss-by-id tbody tr').length, document.querySelectorAll('#chart-rates-nats rect[opacity=\"0.15\"]').length]")
        .await;
    assert_eq!(
        faults,
        json!([1, 2, 1]),
        "resilience row, loss by id, fault band"
    );
    let first_screen = browser.eval(FIRST_SCREEN_JS).await;
    assert_eq!(
        first_screen,
        json!({"verdict": true, "e2e": true, "sweep": true, "banners": 0, "folded": true, "too_wide": []}),
        "the first screen: verdict and its picture, warnings in one line, no table over 1,280 px"
    );
    browser.screenshot(&shots.join("report.png")).await;
    assert_no_errors(&mut browser, "report.html");

    // The sweep's page: latency against throughput, knee marked.
    let sweep_dir = results.with_extension("sweep");
    let sweep = fixture::write_sweep(&sweep_dir);
    browser.open(&format!("file://{}", sweep.display())).await;
    assert_charts(
        &mut browser,
        "sweep report.html",
        &["chart-sweep-latency"],
        &[],
    )
    .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#sweep-steps tr.bad').length")
            .await,
        json!(1),
        "grpc fell behind at 400/s"
    );
    browser.screenshot(&shots.join("sweep.png")).await;
    assert_no_errors(&mut browser, "sweep report.html");
    let _ = std::fs::remove_dir_all(&sweep_dir);

    // Runs: newest first; the newer run's report is generated when opened.
    browser.open(&format!("{base}/")).await;
    let order = browser
        .eval("[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.run)")
        .await;
    assert_eq!(
        order,
        json!(["20260101T000100Z-newer", "20260101T000000Z-older"])
    );
    browser.screenshot(&shots.join("runs.png")).await;
    assert_no_errors(&mut browser, "Runs");
    browser
        .open(&format!("{base}/runs/20260101T000100Z-newer/report.html"))
        .await;
    assert!(
        newer.join("report.html").is_file(),
        "report generated on open"
    );
    assert_eq!(
        browser
            .eval("!!document.querySelector('#accounting-alarm')")
            .await,
        json!(true)
    );
    assert_charts(&mut browser, "served report", &expected, &[]).await;
    assert_no_errors(&mut browser, "served report");

    // Compare: tick both runs and submit the form.
    browser.open(&format!("{base}/")).await;
    browser.eval("document.querySelectorAll('input[name=run]').forEach(c => c.checked = true); document.getElementById('compare-form').submit(); true").await;
    browser.wait_load().await;
    assert_eq!(browser.eval("location.pathname").await, json!("/compare"));
    let compare: Vec<String> = ["grpc", "nats"]
        .iter()
        .flat_map(|p| {
            percentiles
                .iter()
                .map(move |c| c.replace("percentiles", &format!("compare-{p}")))
        })
        .collect();
    assert_charts(
        &mut browser,
        "Compare",
        &compare.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;
    browser.screenshot(&shots.join("compare.png")).await;
    assert_no_errors(&mut browser, "Compare");

    pages::cases(&mut browser, &base, &db, &shots).await;
    pages::host(&mut browser, &base, &shots).await;

    drop(browser);
    shutdown.cancel();
    server
        .await
        .expect("server task")
        .expect("server ends cleanly");
    db.drop().await.expect("drop test database");
    let _ = std::fs::remove_dir_all(&results);
}
