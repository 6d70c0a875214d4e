//! What `run` prints at its end: the verdict, then one row per path and repeat. The default
//! table fits 120 columns; `--wide` shows every figure.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::results::ceilings::Ceilings;
use crate::results::loss::{CensusValue, E2eCensus};
use crate::results::role::Role;
use crate::results::summary::{LatencySummary, PathResult, Summary};

fn ms(us: Option<u64>) -> String {
    us.map(|us| format!("{:.2}", us as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// Width of every line the terminal output prints.
const COLUMNS: usize = 120;

/// The ranked answers: each question, then its answer wrapped to 120 columns.
pub fn verdict_text(summary: &Summary) -> String {
    let mut out = String::from("verdict:\n");
    let indent = textwrap::Options::new(COLUMNS)
        .initial_indent("    ")
        .subsequent_indent("    ");
    for a in &summary.verdict {
        out.push_str(&format!("  {}:\n", a.question));
        out.push_str(&textwrap::fill(&a.text, &indent));
        out.push('\n');
    }
    out
}

/// One line on the clocks e2e spans: the largest bound of any path's subscriber clock against
/// the runner's, beside the smallest e2e p50 (a bound past 10 % of a path's p50 is in its
/// warnings and keeps it out of the latency ranking). `None` without clock readings.
pub fn clocks_line(summary: &Summary) -> Option<String> {
    let paths = summary.paths.iter();
    let bound_us = paths
        .clone()
        .filter_map(|p| crate::results::clock::e2e_bound_us(&p.clocks))
        .reduce(f64::max)?;
    let corrected = paths
        .clone()
        .flat_map(|p| &p.clocks)
        .filter(|c| matches!(c.role, Role::Subscriber(_)) && c.corrected())
        .count();
    let corrected = match corrected {
        0 => String::new(),
        n => format!(", {n} subscriber offset(s) corrected"),
    };
    let p50_us = paths
        .filter_map(|p| p.latencies.get(&LatencyMetric::E2e).map(|l| l.p50))
        .min();
    Some(format!(
        "clocks: e2e off by at most {:.3} ms for its clocks{corrected}; smallest e2e p50 {} ms",
        bound_us / 1e3,
        ms(p50_us)
    ))
}

/// The store's floor (PostgreSQL's own commit latency) beside the paths' store p50s, wrapped to
/// 120 columns; `None` when the run did not measure it.
pub fn store_floor_line(summary: &Summary) -> Option<String> {
    let f = summary.store_floor.as_ref()?;
    let store_p50_us = || {
        let paths = summary.paths.iter();
        paths.filter_map(|p| p.latencies.get(&LatencyMetric::Store).map(|l| l.p50))
    };
    let paths = match (store_p50_us().min(), store_p50_us().max()) {
        (Some(low), Some(high)) if low == high => format!("{} ms", ms(Some(low))),
        (Some(low), Some(high)) => format!("{}–{} ms", ms(Some(low)), ms(Some(high))),
        _ => "-".into(),
    };
    let line = format!(
        "store floor: PostgreSQL's own commit p50 {:.2} ms ({:.2}–{:.2} over {}; {}); paths' store \
         p50 {paths}",
        f.p50_ms,
        f.min_ms,
        f.max_ms,
        f.commits,
        f.what(),
    );
    let wrap = textwrap::Options::new(COLUMNS).subsequent_indent("  ");
    Some(textwrap::fill(&line, wrap))
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

/// One column of the path table: its header in `--wide`, its header in the default table (none
/// when only `--wide` shows it: the default fits 120 columns) and its cell.
struct Column {
    wide: &'static str,
    narrow: Option<&'static str>,
    cell: fn(&PathResult) -> String,
}

fn latency_ms(p: &PathResult, metric: LatencyMetric, pick: fn(&LatencySummary) -> u64) -> String {
    ms(p.latencies.get(&metric).map(pick))
}

/// An e2e percentile over every accepted case ("≥" when an unstored case may sit at it) where
/// the run took the census, else over the stored cases.
fn e2e_ms(
    p: &PathResult,
    census: fn(&E2eCensus) -> CensusValue,
    stored: fn(&LatencySummary) -> u64,
) -> String {
    match &p.e2e_census {
        Some(c) => census(c).ms(),
        None => latency_ms(p, LatencyMetric::E2e, stored),
    }
}

const TABLE: &[Column] = &[
    Column {
        wide: "path",
        narrow: Some("path"),
        cell: |p| p.middleware.to_string(),
    },
    Column {
        wide: "rep",
        narrow: Some("rep"),
        cell: |p| p.repeat.to_string(),
    },
    Column {
        wide: "offered/s",
        narrow: None,
        cell: |p| format!("{:.0}", p.rates.offered),
    },
    Column {
        wide: "achieved/s",
        narrow: Some("2xx/s"),
        cell: |p| format!("{:.0}", p.rates.achieved),
    },
    Column {
        wide: "stored/s",
        narrow: Some("stored/s"),
        cell: |p| format!("{:.0}", p.rates.stored_per_s),
    },
    Column {
        wide: "e2e p50 ms",
        narrow: Some("e2e p50"),
        cell: |p| e2e_ms(p, |c| c.p50, |x| x.p50),
    },
    Column {
        wide: "e2e p99 ms",
        narrow: Some("e2e p99"),
        cell: |p| e2e_ms(p, |c| c.p99, |x| x.p99),
    },
    Column {
        wide: "e2e max ms",
        narrow: None,
        cell: |p| latency_ms(p, LatencyMetric::E2e, |x| x.max),
    },
    Column {
        wide: "delivery p99 ms",
        narrow: Some("deliv p99"),
        cell: |p| latency_ms(p, LatencyMetric::Delivery, |x| x.p99),
    },
    Column {
        wide: "http p99 ms (corr)",
        narrow: None,
        cell: |p| latency_ms(p, LatencyMetric::HttpCorrected, |x| x.p99),
    },
    Column {
        wide: "http p99 ms (uncorr)",
        narrow: None,
        cell: |p| latency_ms(p, LatencyMetric::HttpUncorrected, |x| x.p99),
    },
    Column {
        wide: "sent",
        narrow: None,
        cell: |p| p.accounting.sent.to_string(),
    },
    Column {
        wide: "stored",
        narrow: None,
        cell: |p| p.accounting.stored.to_string(),
    },
    Column {
        wide: "unstored",
        narrow: Some("unstored"),
        cell: |p| p.accounting.unstored_at_deadline.to_string(),
    },
    Column {
        wide: "no 2xx",
        narrow: None,
        cell: |p| {
            let a = &p.accounting;
            a.sent_requests.saturating_sub(a.http_2xx).to_string()
        },
    },
    Column {
        wide: "dups",
        narrow: Some("dups"),
        cell: |p| p.accounting.duplicates.to_string(),
    },
    Column {
        wide: "cpu s/10k",
        narrow: Some("cpu s/10k"),
        cell: |p| {
            p.cpu_seconds_per_10k_cases
                .map_or_else(|| "-".into(), |c| format!("{c:.2}"))
        },
    },
    Column {
        wide: "disk MiB/10k",
        narrow: None,
        cell: |p| {
            p.disk_bytes_per_10k_cases
                .map_or_else(|| "-".into(), |b| format!("{:.2}", b / 1_048_576.0))
        },
    },
    Column {
        wide: "limited by",
        narrow: Some("limited by"),
        cell: limited_by,
    },
    Column {
        wide: "ok",
        narrow: Some("ok"),
        cell: |p| if p.accounting.consistent { "yes" } else { "NO" }.into(),
    },
];

/// Printed above the default table, whose latency headers leave out their unit.
pub const TABLE_CAPTION: &str =
    "2xx/s: cases answered 2xx a second; latencies in ms; --wide shows every figure";

/// One row per path and repeat: every column with `wide`, else those that fit 120 columns.
pub fn summary_table(summary: &Summary, wide: bool) -> Table {
    let shown: Vec<(&str, &Column)> = TABLE
        .iter()
        .filter_map(|c| if wide { Some(c.wide) } else { c.narrow }.map(|h| (h, c)))
        .collect();
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(shown.iter().map(|(h, _)| *h).collect::<Vec<_>>());
    for p in &summary.paths {
        table.add_row(shown.iter().map(|(_, c)| (c.cell)(p)).collect::<Vec<_>>());
    }
    table
}

/// What the ceilings are, printed above their table.
pub const CEILINGS_CAPTION: &str = "stage ceilings, each measured alone with the machine to itself: upper bounds, not sustainable rates";

/// The table `ceilings` prints and the report shows, wrapped to 120 columns.
pub fn ceilings_table(c: &Ceilings, saturation: &[(Middleware, f64)]) -> Table {
    let mut table = Table::new();
    table
        .set_width(COLUMNS as u16)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["stage", "path", "cases/s", "p50 ms", "p99 ms", "note"]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::verdict::Answer;

    fn widest(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn the_verdict_and_the_default_table_fit_120_columns() {
        let mut summary = crate::results::summary::tests::sample();
        // The longest path name, and the widest figures a row can hold.
        let longest = Middleware::ALL.into_iter().max_by_key(|m| m.name().len());
        for p in &mut summary.paths {
            p.middleware = longest.expect("at least one path");
            p.rates.achieved = 12_345.0;
            p.rates.stored_per_s = 12_345.0;
            p.accounting.unstored_at_deadline = 1_234_567;
        }
        let long = "rabbitmq kept up at 3000/s, fell behind at 4000/s (broker); ".repeat(6);
        summary.verdict = vec![Answer {
            question: "highest sustainable rate (the sweep's knee)".into(),
            ranking: Vec::new(),
            unit: "cases/s".into(),
            text: long.clone(),
        }];
        let verdict = verdict_text(&summary);
        assert!(widest(&verdict) <= COLUMNS, "{verdict}");
        assert!(
            verdict
                .replace(['\n', ' '], "")
                .contains(&long.replace(' ', ""))
        );
        let table = summary_table(&summary, false).to_string();
        assert!(widest(&table) <= COLUMNS, "{table}");
        let wide = summary_table(&summary, true).to_string();
        assert!(widest(&wide) > COLUMNS, "--wide shows every figure");
        assert_eq!(clocks_line(&summary), None, "no clock was read");
        summary.paths[0].clocks = vec![crate::results::clock::ComponentClock {
            role: crate::results::role::Role::Subscriber(Middleware::Nats),
            offset_us: -12.0,
            uncertainty_us: 41.0,
        }];
        let clocks = clocks_line(&summary).expect("a clocks line");
        assert!(widest(&clocks) <= COLUMNS, "{clocks}");
        assert!(
            clocks.contains("at most 0.053 ms for its clocks;"),
            "{clocks}"
        );
        summary.paths[0].clocks[0].offset_us = -12_345.678;
        let clocks = clocks_line(&summary).expect("a clocks line");
        assert!(widest(&clocks) <= COLUMNS, "{clocks}");
        assert!(
            clocks.contains("at most 0.041 ms for its clocks, 1 subscriber offset(s) corrected"),
            "{clocks}"
        );
    }

    #[test]
    fn the_store_floor_line_fits_120_columns_and_says_when_it_is_no_durable_floor() {
        let mut summary = crate::results::summary::tests::sample();
        assert_eq!(store_floor_line(&summary), None, "not measured");
        summary.store_floor = Some(crate::results::store_floor::StoreFloor {
            commits: 20,
            p50_ms: 1_234.567,
            min_ms: 1_000.5,
            max_ms: 12_345.678,
            server_version: "15.14".into(),
            fsync: "off".into(),
            synchronous_commit: "remote_apply".into(),
        });
        let line = store_floor_line(&summary).expect("a floor line");
        assert!(widest(&line) <= COLUMNS, "{line}");
        let flat = line.replace("\n ", "");
        assert!(
            flat.contains("p50 1234.57 ms (1000.50–12345.68 over 20;"),
            "{line}"
        );
        assert!(
            flat.contains("synchronous_commit remote_apply: not durable"),
            "{line}"
        );
    }
}
