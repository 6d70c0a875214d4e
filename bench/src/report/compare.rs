//! The comparison page: several runs side by side, per path and headline figure (deltas against
//! the first run), and each path's latency distributions with one curve per run.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use maud::{Markup, html};

use super::charts::{Line, nth_color, percentile_chart, percentile_points};
use super::data::RunData;
use super::layout::{best, chart_or_error, ms, num};
use super::single::generator_label;
use crate::analysis::comparison::{Judging, config_differences, verdict_note, verdict_text};
use crate::analysis::significance::Verdicts;
use crate::results::figures::{Better, FIGURES};
use crate::results::generator::Generator;
use crate::results::summary::{PathAggregate, Summary};

/// How a run is named in the legends and column heads.
fn run_name(i: usize, run: &RunData) -> String {
    format!("#{} {}", i + 1, run.name)
}

fn format_figure(key: &str, v: f64) -> String {
    if key.ends_with("_us") { ms(v) } else { num(v) }
}

pub fn body(runs: &[RunData], judging: &Judging) -> Markup {
    let mut paths: Vec<Middleware> = Vec::new();
    for run in runs {
        for m in run.middlewares() {
            if !paths.contains(&m) {
                paths.push(m);
            }
        }
    }
    let problems: Vec<String> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.summary
                .paths
                .iter()
                .filter(|p| !p.accounting.consistent)
                .map(move |p| {
                    format!(
                        "{} {} r{}: {}",
                        run_name(i, r),
                        p.middleware,
                        p.repeat,
                        p.accounting.problems.join("; ")
                    )
                })
        })
        .collect();
    let summaries: Vec<Summary> = runs.iter().map(|r| r.summary.clone()).collect();
    let verdicts = judging.judge(&summaries.iter().collect::<Vec<_>>());
    let differences = config_differences(&summaries);
    html! {
        h1 { "brokerbench: comparison of " (runs.len()) " runs" }
        @if !differences.is_empty() {
            div.banner id="config-differences" { "CONFIGURATIONS DIFFER: these runs do not compare like with like." ul { @for d in &differences { li { (d) } } } }
        }
        @if runs.iter().any(|r| r.summary.generator == Generator::Locust) {
            p.note { "Some runs used locust, a closed-loop generator without coordinated-omission correction: their HTTP latencies are not comparable with open-loop runs." }
        }
        @if !problems.is_empty() {
            div.banner id="accounting-alarm" { "INCONSISTENT ACCOUNTING:" ul { @for p in &problems { li { (p) } } } }
        }
        table id="runs-table" {
            thead { tr { th.l { "run" } th.l { "label" } th.l { "started" } th.l { "generator" } th { "offered (cases/s)" } th.l { "paths" } th { "repeats" } } }
            tbody {
                @for (i, r) in runs.iter().enumerate() {
                    tr {
                        td.l { (run_name(i, r)) } td.l { (r.summary.label) } td.l { (r.summary.started_at.get(..19).unwrap_or(&r.summary.started_at)) }
                        td.l { (generator_label(r.summary.generator)) }
                        td { (r.summary.paths.first().map(|p| num(p.rates.offered)).unwrap_or_default()) }
                        td.l { (r.middlewares().iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")) }
                        td { (r.summary.aggregate.iter().map(|a| a.runs).max().unwrap_or(0)) }
                    }
                }
            }
        }
        p.muted id="significance-note" { "Cells: median over repeats, [min–max] when repeated, and the change against run #1. " (verdict_note(&summaries, &verdicts)) " Best value of each row highlighted." }
        @for m in &paths {
            h2 { "Path " (m) }
            (figure_table(runs, *m, &verdicts))
            div.charts {
                @for metric in LatencyMetric::ALL { (overlay(runs, *m, metric)) }
            }
        }
    }
}

fn figure_table(runs: &[RunData], m: Middleware, verdicts: &Verdicts) -> Markup {
    let aggregates: Vec<Option<&PathAggregate>> = runs
        .iter()
        .map(|r| r.summary.aggregate.iter().find(|a| a.middleware == m))
        .collect();
    html! {
        table.compare id=(format!("compare-{m}")) {
            thead { tr { th.l { "figure" } @for (i, r) in runs.iter().enumerate() { th { (run_name(i, r)) } } } }
            tbody {
                @for (key, title, better) in FIGURES {
                    @let values: Vec<Option<f64>> = aggregates.iter().map(|a| a.and_then(|a| a.figures.get(key)).map(|s| s.median)).collect();
                    @let top = best(&values, better);
                    @let base = aggregates.first().copied().flatten().and_then(|a| a.figures.get(key).map(|s| (*s, a.runs)));
                    tr {
                        td.l { (title) (if better == Better::Lower { " ↓" } else { " ↑" }) }
                        @for (i, a) in aggregates.iter().enumerate() {
                            @match a.and_then(|a| a.figures.get(key).map(|s| (*s, a.runs))) {
                                Some((spread, n)) => {
                                    td.best[top == Some(spread.median)] {
                                        (format_figure(key, spread.median))
                                        @if n > 1 { span.muted { " [" (format_figure(key, spread.min)) "–" (format_figure(key, spread.max)) "]" } }
                                        @if let (true, Some((b, _))) = (i > 0, base) {
                                            @if b.median != 0.0 {
                                                " " (format!("{:+.1}%", (spread.median - b.median) / b.median * 100.0))
                                                @match verdicts.get(m, key, i) {
                                                    Some(v @ crate::analysis::significance::Verdict::Tested { p, significant: true }) => { strong { " " (verdict_text(Some(v))) } span.muted { " p=" (format!("{p:.3}")) } }
                                                    Some(v) => { span.muted { " (" (verdict_text(Some(v))) ")" } }
                                                    None => {}
                                                }
                                            }
                                        }
                                    }
                                }
                                None => { td.muted { "–" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn overlay(runs: &[RunData], m: Middleware, metric: LatencyMetric) -> Markup {
    let lines: Vec<Line> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.histogram(m, metric).map(|h| Line {
                label: run_name(i, r),
                color: nth_color(i),
                points: percentile_points(h),
            })
        })
        .collect();
    let title = format!("{m}: {metric}");
    chart_or_error(
        &format!("chart-compare-{m}-{metric}"),
        percentile_chart(&title, &lines),
        metric.title(),
    )
}
