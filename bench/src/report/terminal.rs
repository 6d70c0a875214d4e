//! What `run` prints at its end: the verdict, then one row per path and repeat. The default
//! table fits 120 columns; `--wide` shows every figure.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::results::ceilings::Ceilings;
use crate::results::summary::{LatencySummary, PathResult, Summary};

fn ms(us: Option<u64>) -> String {
    us.map(|us| format!("{:.2}", us as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// The ranked answers, one line each.
pub fn verdict_text(summary: &Summary) -> String {
    let mut out = String::from("verdict:\n");
    for a in &summary.verdict {
        out.push_str(&format!("  {}: {}\n", a.question, a.text));
    }
    out
}

/// Each path's stored/s in this run (median over repeats), for beside the ceilings.
pub fn run_rates(summary: &Summary) -> Vec<(Middleware, f64)> {
    summary
        .aggregate
        .iter()
        .filter_map(|a| {
            a.figures
                .get("stored_per_s")
                .map(|s| (a.middleware, s.median))
        })
        .collect()
}

/// The stage that limited a path run, or `-` when it kept up.
pub fn limited_by(p: &PathResult) -> String {
    match p.attribution.as_ref().and_then(|a| a.limited_by) {
        Some(stage) => stage.label().into(),
        None if p.attribution.is_some() => "kept up".into(),
        None => "-".into(),
    }
}

pub fn summary_table(summary: &Summary, wide: bool) -> Table {
    let mut table = Table::new();
    let header: &[&str] = if wide {
        &[
            "path",
            "rep",
            "offered/s",
            "achieved/s",
            "stored/s",
            "e2e p50 ms",
            "e2e p99 ms",
            "e2e max ms",
            "delivery p99 ms",
            "http p99 ms (corr)",
            "http p99 ms (uncorr)",
            "sent",
            "stored",
            "unstored",
            "no 2xx",
            "dups",
            "cpu s/10k",
            "limited by",
            "ok",
        ]
    } else {
        &[
            "path",
            "rep",
            "achieved/s",
            "e2e p50 ms",
            "e2e p99 ms",
            "delivery p99",
            "unstored",
            "dups",
            "cpu s/10k",
            "limited by",
            "ok",
        ]
    };
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for p in &summary.paths {
        let l = |metric: LatencyMetric, pick: fn(&LatencySummary) -> u64| {
            p.latencies.get(&metric).map(pick)
        };
        let a = &p.accounting;
        let cpu = p
            .cpu_seconds_per_10k_cases
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "-".into());
        let ok = if a.consistent { "yes" } else { "NO" };
        let row: Vec<String> = if wide {
            vec![
                p.middleware.to_string(),
                p.repeat.to_string(),
                format!("{:.0}", p.rates.offered),
                format!("{:.1}", p.rates.achieved),
                format!("{:.1}", p.rates.stored_per_s),
                ms(l(LatencyMetric::E2e, |x| x.p50)),
                ms(l(LatencyMetric::E2e, |x| x.p99)),
                ms(l(LatencyMetric::E2e, |x| x.max)),
                ms(l(LatencyMetric::Delivery, |x| x.p99)),
                ms(l(LatencyMetric::HttpCorrected, |x| x.p99)),
                ms(l(LatencyMetric::HttpUncorrected, |x| x.p99)),
                a.sent.to_string(),
                a.stored.to_string(),
                a.unstored_at_deadline.to_string(),
                a.sent_requests.saturating_sub(a.http_2xx).to_string(),
                a.duplicates.to_string(),
                cpu,
                limited_by(p),
                ok.into(),
            ]
        } else {
            vec![
                p.middleware.to_string(),
                p.repeat.to_string(),
                format!("{:.0}", p.rates.achieved),
                ms(l(LatencyMetric::E2e, |x| x.p50)),
                ms(l(LatencyMetric::E2e, |x| x.p99)),
                ms(l(LatencyMetric::Delivery, |x| x.p99)),
                a.unstored_at_deadline.to_string(),
                a.duplicates.to_string(),
                cpu,
                limited_by(p),
                ok.into(),
            ]
        };
        table.add_row(row);
    }
    table
}

/// The table `ceilings` prints and the report shows.
pub fn ceilings_table(c: &Ceilings, saturation: &[(Middleware, f64)]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "stage",
        "path",
        "ceiling/s",
        "p50 ms",
        "p99 ms",
        "note",
    ]);
    let ms = |us: Option<u64>| us.map_or("-".into(), |u| format!("{:.2}", u as f64 / 1e3));
    for x in &c.ceilings {
        table.add_row(vec![
            brokerbench_common::settings::value_name(&x.stage),
            x.middleware.map_or("all".into(), |m| m.to_string()),
            format!("{:.0}", x.rate_per_s),
            ms(x.p50_us),
            ms(x.p99_us),
            x.note.clone(),
        ]);
    }
    for (m, rate) in saturation {
        table.add_row(vec![
            "pipeline (run)".into(),
            m.to_string(),
            format!("{rate:.0}"),
            "-".into(),
            "-".into(),
            "stored/s of the run".into(),
        ]);
    }
    table
}
