//! The terminal summary printed at the end of `run`.

use brokerbench_common::latency::LatencyMetric;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::summary::{LatencySummary, Summary};

fn ms(us: Option<u64>) -> String {
    us.map(|us| format!("{:.2}", us as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

pub fn summary_table(summary: &Summary) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "path",
        "rep",
        "offered/s",
        "achieved/s",
        "stored/s",
        "e2e p50 ms",
        "e2e p99 ms",
        "e2e max ms",
        "http p99 ms (corr)",
        "http p99 ms (uncorr)",
        "sent",
        "stored",
        "unstored",
        "no 2xx",
        "dups",
        "cpu s/10k",
        "ok",
    ]);
    for p in &summary.paths {
        let l = |metric: LatencyMetric, pick: fn(&LatencySummary) -> u64| {
            p.latencies.get(&metric).map(pick)
        };
        let a = &p.accounting;
        table.add_row(vec![
            p.middleware.to_string(),
            p.repeat.to_string(),
            format!("{:.0}", p.rates.offered),
            format!("{:.1}", p.rates.achieved),
            format!("{:.1}", p.rates.stored_per_s),
            ms(l(LatencyMetric::E2e, |x| x.p50)),
            ms(l(LatencyMetric::E2e, |x| x.p99)),
            ms(l(LatencyMetric::E2e, |x| x.max)),
            ms(l(LatencyMetric::HttpCorrected, |x| x.p99)),
            ms(l(LatencyMetric::HttpUncorrected, |x| x.p99)),
            a.sent.to_string(),
            a.stored.to_string(),
            a.unstored_at_deadline.to_string(),
            a.sent_requests.saturating_sub(a.http_2xx).to_string(),
            a.duplicates.to_string(),
            p.cpu_seconds_per_10k_cases
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            if a.consistent {
                "yes".into()
            } else {
                "NO".into()
            },
        ]);
    }
    table
}
