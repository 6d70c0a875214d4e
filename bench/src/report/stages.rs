//! The report's answers and its stage view: the verdict, which stage limited each path (with
//! the evidence), each stage's ceiling measured alone, and the backlog of every stage over time.

use brokerbench_common::settings::Middleware;
use maud::{Markup, html};
use plotters::style::RGBColor;

use super::charts::{Line, line_chart};
use super::data::RunData;
use super::layout::chart_or_error;
use super::layout::row_name;
use crate::report::terminal::limited_by;
use crate::results::ceilings::Ceilings;

/// The ranked answers the run opens with.
pub fn verdict(run: &RunData) -> Markup {
    html! {
        @if run.summary.verdict.is_empty() {
            p.muted { "This run folder has no verdict (written by an older brokerbench)." }
        } @else {
            ol id="verdict" {
                @for a in &run.summary.verdict { li { strong { (a.question) } ": " (a.text) } }
            }
            p.muted { "A lead counts as beyond noise only when a Mann–Whitney U test over the repeats (Holm-corrected over these answers) gives p < 0.05; with fewer than " (crate::analysis::significance::repeats_needed(2, 0.05)) " repeats per path no lead can." }
        }
    }
}

/// Which stage limited each path run, and why.
pub fn limits(run: &RunData) -> Markup {
    let repeated = run.repeated();
    html! {
        table id="limited-by" {
            thead { tr { th.l { "path" } th.l { "limited by" } th { "store busy" } th { "broker backlog growth (/s)" } th { "sink backlog growth (/s)" } th.l { "evidence" } } }
            tbody {
                @for p in &run.summary.paths {
                    tr {
                        td.l { (row_name(p, repeated)) }
                        td.l { strong { (limited_by(p)) } }
                        @if let Some(a) = &p.attribution {
                            td { (a.store_busy.map_or("-".into(), |b| format!("{:.0} %", b * 100.0))) }
                            td { (format!("{:.1}", a.growth_per_s.broker)) }
                            td { (format!("{:.1}", a.growth_per_s.sink)) }
                            td.l { (a.evidence) }
                        } @else {
                            td { "-" } td { "-" } td { "-" } td.l { "not attributed (older run)" }
                        }
                    }
                }
            }
        }
    }
}

/// Each stage alone, beside what the pipeline stored in this run.
pub fn ceilings(run: &RunData) -> Markup {
    let Some(c) = &run.summary.ceilings else {
        return html! { p.muted { "Stage ceilings were not measured in this run (" code { "run --ceilings" } ", or " code { "brokerbench ceilings" } ")." } };
    };
    ceilings_table(c, &crate::report::terminal::run_rates(&run.summary))
}

/// The ceilings, and beside them what the pipeline stored per path (`rates`).
pub fn ceilings_table(c: &Ceilings, rates: &[(Middleware, f64)]) -> Markup {
    let ms = |us: Option<u64>| us.map_or("-".into(), |u| format!("{:.2}", u as f64 / 1e3));
    html! {
        p.muted { (crate::report::terminal::CEILINGS_CAPTION) "." }
        table id="ceilings" {
            thead { tr { th.l { "stage" } th.l { "path" } th { "upper bound (cases/s)" } th { "p50 ms" } th { "p99 ms" } th.l { "note" } } }
            tbody {
                @for x in &c.ceilings {
                    tr {
                        td.l { (brokerbench_common::settings::value_name(&x.stage)) }
                        td.l { (x.middleware.map_or("all".into(), |m| m.to_string())) }
                        td { (format!("{:.0}", x.rate_per_s)) }
                        td { (ms(x.p50_us)) } td { (ms(x.p99_us)) }
                        td.l { (x.note) }
                    }
                }
                @for (m, rate) in rates {
                    tr { td.l { strong { "pipeline, this run" } } td.l { (m) } td { (format!("{rate:.0}")) } td { "-" } td { "-" } td.l { "stored/s (median over repeats)" } }
                }
            }
        }
        p.muted { "Each stage driven alone, closed loop, with the project's own code: " (c.concurrency) " operations outstanding, " (c.cases_per_request) " case(s) per request, " (c.sink_writers) " store writers × " (c.batch_size) " documents; envelope " (c.message_bytes) " B. A saturated stage's throughput is the fastest rate at which its backlog stays flat." }
    }
}

/// Cases waiting at each stage of one path, second by second.
pub fn backlog_chart(run: &RunData, m: Middleware) -> Markup {
    let rows: Vec<_> = run
        .series
        .iter()
        .filter(|row| row.middleware == m && row.repeat == 0)
        .collect();
    let line =
        |label: &str, color: RGBColor, pick: fn(&crate::results::rows::SeriesRow) -> f64| Line {
            label: label.into(),
            color,
            points: rows.iter().map(|x| (x.t_s, pick(x))).collect(),
        };
    let mut lines = vec![
        line("before the ingress", RGBColor(120, 120, 120), |x| {
            x.client_queue
        }),
        line("in the ingress", RGBColor(230, 160, 30), |x| {
            x.ingress_in_flight
        }),
        line("published, not yet received", RGBColor(60, 120, 200), |x| {
            x.broker_backlog
        }),
        line("in the sink", RGBColor(200, 60, 60), |x| x.sink_backlog),
    ];
    let ready: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|x| x.broker_ready.map(|r| (x.t_s, r)))
        .collect();
    if !ready.is_empty() {
        lines.push(Line {
            label: "of it, ready in the broker (its own count)".into(),
            color: RGBColor(20, 60, 120),
            points: ready,
        });
    }
    chart_or_error(
        &format!("chart-backlog-{m}"),
        line_chart(
            &format!("{m}: backlog per stage (repeat 0)"),
            "time since the measure phase began (s)",
            "cases waiting",
            &lines,
            &run.fault_bands(Some(m)),
        ),
        "a stage that cannot keep up shows a growing line; the furthest one down the pipeline is the limit. Published but not yet received and not ready in the broker either: delivered, waiting in the subscriber's client",
    )
}
