//! The static report and comparison pages, rendered from synthetic run folders: every chart is
//! an inline, non-empty SVG, best values are highlighted, locust runs and broken accounting are
//! labelled, and nothing on the page reaches for the network.

use crate::fixture;

use brokerbench_common::latency::LatencyMetric;
use fixture::{RunSpec, write_run};

/// The `<figure data-chart>` elements of a page: (id, inner HTML).
fn charts(html: &str) -> Vec<(String, String)> {
    html.split("<figure class=\"chart\" id=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap_or_default().to_string();
            // plotters puts each <text>'s content on a line of its own.
            let inner = rest
                .split("</figure>")
                .next()
                .unwrap_or_default()
                .replace('\n', "");
            (id, inner)
        })
        .collect()
}

/// A chart is drawn when its SVG holds at least one line with points or one bar.
fn drawn(inner: &str) -> bool {
    inner.contains("<svg")
        && (inner.contains("<polyline") && inner.contains("points=\"") || inner.contains("<rect"))
}

fn assert_offline(html: &str) {
    // The SVG namespace (xmlns="http://www.w3.org/2000/svg") is a name, not a fetch.
    for needle in [
        "<script src",
        "<link rel=\"stylesheet\"",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(needle),
            "a self-contained report must not contain {needle:?}"
        );
    }
}

#[test]
fn report_has_every_chart_table_and_note() {
    let tmp = tempdir();
    let dir = write_run(&tmp, &RunSpec::new("20260101T000000Z-fixture"));
    let path = brokerbench::report::write_report(&dir).expect("report written");
    let html = std::fs::read_to_string(path).expect("report readable");
    assert_offline(&html);

    let charts = charts(&html);
    let ids: Vec<&str> = charts.iter().map(|(id, _)| id.as_str()).collect();
    for metric in [
        "http_corrected",
        "http_uncorrected",
        "publish",
        "delivery",
        "e2e",
    ] {
        assert!(
            ids.contains(&format!("chart-percentiles-{metric}").as_str()),
            "percentile chart of {metric} in {ids:?}"
        );
    }
    for id in [
        "chart-rates-grpc",
        "chart-rates-nats",
        "chart-e2e-p99",
        "chart-host-ram",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    for (id, inner) in &charts {
        assert!(drawn(inner), "chart {id} is empty");
    }
    // Every percentile chart names both paths in its legend and labels its axes with units.
    for (id, inner) in charts
        .iter()
        .filter(|(id, _)| id.starts_with("chart-percentiles"))
    {
        assert!(
            inner.contains(">grpc<") && inner.contains(">nats<"),
            "{id} legend names the paths"
        );
        assert!(
            inner.contains("latency (ms)") && inner.contains("99.999%"),
            "{id} axes"
        );
    }

    // nats is the faster path with the higher rate: its cells are the highlighted ones.
    let row = |path: &str, table: &str| {
        let t = html
            .split(&format!("id=\"{table}\""))
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .expect("table present")
            .to_string();
        // A path without a durable guarantee carries a " †" after its name.
        t.split("<tr")
            .find(|r| {
                r.contains(&format!("<td class=\"l\">{path}<"))
                    || r.contains(&format!("<td class=\"l\">{path} †<"))
            })
            .map(str::to_owned)
            .expect("row present")
    };
    let nats = row("nats", "summary-table");
    let grpc = row("grpc", "summary-table");
    assert!(
        nats.contains("class=\"best\" title=\"best of this column\">200.5<"),
        "achieved rate of nats highlighted: {nats}"
    );
    assert!(
        nats.contains(">25.0<") && nats.matches("class=\"best\"").count() >= 2,
        "cpu per 10k of nats highlighted: {nats}"
    );
    assert!(
        !grpc.contains(">199.0<")
            || !grpc.contains("class=\"best\" title=\"best of this column\">199.0<")
    );
    let nats_latency = row("nats", "latency-table-wide");
    let grpc_latency = row("grpc", "latency-table-wide");
    assert_eq!(
        nats_latency.matches("class=\"best\"").count(),
        4 * LatencyMetric::ALL.len(),
        "every latency column (4 percentiles per metric) is best for nats"
    );
    assert_eq!(
        row("nats", "latency-table")
            .matches("class=\"best\"")
            .count(),
        2 * 5,
        "the first latency table: p50 and p99 of five metrics"
    );
    assert_eq!(grpc_latency.matches("class=\"best\"").count(), 0);
    assert!(
        html.contains("± clocks</th>"),
        "the clocks' bound beside the e2e figures"
    );

    assert!(
        html.contains("id=\"omission-note\""),
        "coordinated-omission note present"
    );
    assert!(
        html.contains("largest difference at p99"),
        "the note states the difference"
    );
    assert!(
        html.contains("/proc (kernel modules not loaded)")
            || html.contains("kernel module (/proc/bb_ram"),
        "host source labelled"
    );
    assert!(!html.contains("INCONSISTENT ACCOUNTING"));
    assert!(!html.contains(brokerbench::report::LOCUST_LABEL));
}

#[test]
fn locust_runs_and_broken_accounting_are_labelled() {
    let tmp = tempdir();
    let mut spec = RunSpec::new("20260101T000000Z-locust");
    spec.generator = brokerbench::results::generator::Generator::Locust;
    spec.inconsistent_nats = true;
    let dir = write_run(&tmp, &spec);
    let html = std::fs::read_to_string(brokerbench::report::write_report(&dir).expect("report"))
        .expect("readable");
    assert!(html.contains("id=\"locust-note\""));
    assert!(html.contains("closed-loop generator without coordinated-omission correction"));
    assert!(html.contains("id=\"accounting-alarm\"") && html.contains("INCONSISTENT ACCOUNTING"));
    assert!(html.contains("10 accepted cases were not stored by the drain deadline"));
    let census = html
        .split("id=\"census-table\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("the e2e census table");
    assert!(
        census.contains(">≥ 30015.49<") && census.contains(">9.00<"),
        "the unstored cases make p99.9 a lower bound, p99 stays a figure: {census}"
    );
    assert!(
        html.contains("id=\"unlike-guarantees\""),
        "paths with unlike guarantees are marked"
    );
}

#[test]
fn comparison_overlays_every_run() {
    let tmp = tempdir();
    let a = write_run(&tmp, &RunSpec::new("20260101T000000Z-a"));
    let mut slow = RunSpec::new("20260101T000100Z-b");
    slow.slowdown = 2;
    let b = write_run(&tmp, &slow);
    let out = tmp.join("compare");
    let html = std::fs::read_to_string(
        brokerbench::report::write_comparison(
            &[a, b],
            &out,
            &brokerbench::analysis::comparison::Judging::default(),
        )
        .expect("comparison"),
    )
    .expect("readable");
    assert_offline(&html);
    let charts = charts(&html);
    assert_eq!(
        charts.len(),
        2 * LatencyMetric::ALL.len(),
        "a chart per path and metric"
    );
    for (id, inner) in &charts {
        assert!(drawn(inner), "chart {id} is empty");
        assert!(
            inner.contains("#1 20260101T000000Z-a") && inner.contains("#2 20260101T000100Z-b"),
            "{id} overlays both runs"
        );
    }
    assert!(html.contains("id=\"compare-grpc\"") && html.contains("id=\"compare-nats\""));
    assert!(
        html.contains("+100.0%"),
        "the slower run's latencies show their change against run #1"
    );
}

/// A fresh folder, removed when the test ends.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("bb-report-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}
