//! The report of one run: configuration, headline tables, latency distributions, time series,
//! accounting, resource cost and the host.

use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;
use maud::{Markup, html};

use super::charts::{Line, line_chart, path_color, percentile_chart, percentile_points};
use super::data::RunData;
use super::layout::{best, cell, chart_or_error, ms, row_name};
use super::{census, host, stages, tables};
use crate::analysis::compute::LATE_GENERATOR_US;
use crate::results::figures::Better;
use crate::results::generator::Generator;
use crate::results::summary::PathResult;

pub const LOCUST_LABEL: &str = "closed-loop generator without coordinated-omission correction";

/// How a run's generator is named on every page.
pub fn generator_label(generator: Generator) -> String {
    match generator {
        Generator::Locust => format!("locust — {LOCUST_LABEL}"),
        Generator::Builtin => {
            "open-loop — fixed rate, latency corrected for coordinated omission".into()
        }
    }
}

pub fn body(run: &RunData) -> Markup {
    let s = &run.summary;
    let inconsistent: Vec<&PathResult> = s
        .paths
        .iter()
        .filter(|p| !p.accounting.consistent)
        .collect();
    html! {
        h1 { "brokerbench run " (s.label) @if s.config["sink"] == serde_json::json!(crate::subscriber::SinkKind::None) { " — middleware only (sink none: nothing stored, e2e ends at the subscriber)" } }
        p.muted { "Folder " code { (run.name) } " · started " (s.started_at) " · generator: " strong { (generator_label(s.generator)) } }
        @if let Some(a) = &s.attached { (super::attached::note(a)) }
        @if s.generator == Generator::Locust {
            p.note id="locust-note" {
                "This run was driven by locust, a " strong { (LOCUST_LABEL) } ": it waits for each answer before sending the next request, so when the system stalls it sends less and the HTTP latencies below leave out the time requests would have waited. Compare its latencies with open-loop runs only with that in mind."
            }
        }
        @if !inconsistent.is_empty() {
            div.banner id="accounting-alarm" {
                "INCONSISTENT ACCOUNTING in " (inconsistent.len()) " of " (s.paths.len()) " measured paths — the figures of these paths do not add up:"
                ul { @for p in &inconsistent { @for problem in &p.accounting.problems { li { strong { (row_name(p, run.repeated())) } ": " (problem) } } } }
            }
        }
        @if !run.missing.is_empty() {
            div.note { "Some files of the run folder could not be read; their sections are empty:" ul { @for m in &run.missing { li { (m) } } } }
        }
        (warnings_line(run))
        h2 { "Verdict" }
        (stages::verdict(run))
        div.charts id="headline" {
            (percentile(run, LatencyMetric::E2e))
            @if !run.sweep.is_empty() { (super::sweep_page::curve(&super::sweep_page::steps(&run.sweep))) }
        }
        @if !run.sweep.is_empty() {
            p.muted { "Left: each path's e2e latency by percentile (the measure phase's cases, all repeats). Right: each path's rate stepped up from the run's rate until it fell behind (" code { "run --sweep-to" } "; step runs in " code { "sweep/" } "), e2e p50 and p99 against the achieved rate, medians over each step's repeats; the vertical line is each path's knee, the last rate every repeat kept up with." }
        }
        h2 { "Summary" }
        (tables::guarantees(run))
        (tables::throughput(run))
        (tables::latency(run))
        (super::store_floor::note(run))
        (census::table(run))
        (super::clocks::table(run))
        h2 { "What limited each path" }
        (stages::limits(run))
        h2 { "Stage ceilings" }
        (stages::ceilings(run))
        h2 { "Coordinated omission: corrected vs uncorrected HTTP latency" }
        (omission_note(run))
        h2 { "Latency distributions" }
        p.muted { "Percentile curves from the HdrHistogram interval logs: the cases whose intended send time fell in the measure phase, all repeats summed, as in the tables above." }
        div.charts { @for metric in LatencyMetric::ALL.into_iter().filter(|m| *m != LatencyMetric::E2e) { (percentile(run, metric)) } }
        h2 { "Time series" }
        div.charts {
            @for m in run.middlewares() { (rates_chart(run, m)) (stages::backlog_chart(run, m)) }
            (e2e_p99_chart(run))
        }
        (super::resilience::section(run))
        h2 { "Delivery accounting" }
        (tables::accounting(run))
        (super::resilience::loss_table(run))
        h2 { "Resource cost" }
        (tables::resources(run))
        h2 { "Host" }
        (host::section(run))
        (warnings_detail(run))
        h2 { "Configuration" }
        (tables::json_table("config", &s.config))
        h2 { "Environment and versions" }
        (tables::json_table("environment", &s.environment))
    }
}

/// The paths that have warnings.
fn warned_paths(run: &RunData) -> Vec<&PathResult> {
    let paths = run.summary.paths.iter();
    paths.filter(|p| !p.warnings.is_empty()).collect()
}

/// Every path's warnings folded into one line near the top, linking to them in full.
fn warnings_line(run: &RunData) -> Markup {
    let warned = warned_paths(run);
    if warned.is_empty() {
        return html! {};
    }
    let count: usize = warned.iter().map(|p| p.warnings.len()).sum();
    let names: Vec<String> = warned.iter().map(|p| row_name(p, run.repeated())).collect();
    html! {
        p.note id="warnings-line" {
            strong { (count) " warning(s)" } " on " (names.join(", ")) " — "
            a href="#warnings" { "details" }
        }
    }
}

fn warnings_detail(run: &RunData) -> Markup {
    let warned = warned_paths(run);
    html! {
        @if !warned.is_empty() {
            h2 id="warnings" { "Warnings" }
            ul { @for p in warned { @for w in &p.warnings { li { strong { (row_name(p, run.repeated())) ": " } (w) } } } }
        }
    }
}

fn percentile(run: &RunData, metric: LatencyMetric) -> Markup {
    let lines: Vec<Line> = run
        .middlewares()
        .into_iter()
        .filter_map(|m| {
            run.histogram(m, metric).map(|h| Line {
                label: m.to_string(),
                color: path_color(m),
                points: percentile_points(h),
            })
        })
        .collect();
    let caption = format!("{} — {} paths", metric.title(), lines.len());
    chart_or_error(
        &format!("chart-percentiles-{metric}"),
        percentile_chart(metric.title(), &lines),
        &caption,
    )
}

/// Offered, accepted and stored cases per second of one path, over the run's seconds.
fn rates_chart(run: &RunData, m: Middleware) -> Markup {
    let repeated = run.repeated();
    let mut lines = Vec::new();
    let repeats: Vec<u32> = run
        .summary
        .paths
        .iter()
        .filter(|p| p.middleware == m)
        .map(|p| p.repeat)
        .collect();
    for (i, r) in repeats.iter().enumerate() {
        let rows: Vec<_> = run
            .series
            .iter()
            .filter(|row| row.middleware == m && row.repeat == *r)
            .collect();
        let suffix = if repeated {
            format!(" r{r}")
        } else {
            String::new()
        };
        let shade = |c: plotters::style::RGBColor| {
            if i == 0 {
                c
            } else {
                plotters::style::RGBColor(c.0 / 2, c.1 / 2, c.2 / 2)
            }
        };
        lines.push(Line {
            label: format!("offered{suffix}"),
            color: shade(plotters::style::RGBColor(120, 120, 120)),
            points: rows.iter().map(|x| (x.t_s, x.offered_per_s)).collect(),
        });
        lines.push(Line {
            label: format!("accepted{suffix}"),
            color: shade(plotters::style::RGBColor(230, 160, 30)),
            points: rows.iter().map(|x| (x.t_s, x.accepted_per_s)).collect(),
        });
        lines.push(Line {
            label: format!("stored{suffix}"),
            color: shade(path_color(m)),
            points: rows.iter().map(|x| (x.t_s, x.stored_per_s)).collect(),
        });
    }
    let title = format!("{m}: offered vs stored rate");
    chart_or_error(
        &format!("chart-rates-{m}"),
        line_chart(
            &title,
            "time since the measure phase began (s) — faults shaded red",
            "cases per second",
            &lines,
            &run.fault_bands(Some(m)),
        ),
        "measure phase, then the drain: the subscriber stores what is still in flight",
    )
}

fn e2e_p99_chart(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let lines: Vec<Line> = run
        .summary
        .paths
        .iter()
        .map(|p| Line {
            label: row_name(p, repeated),
            color: path_color(p.middleware),
            points: run
                .series
                .iter()
                .filter(|r| r.middleware == p.middleware && r.repeat == p.repeat)
                .filter_map(|r| r.e2e_p99_us.map(|v| (r.t_s, v as f64 / 1000.0)))
                .collect(),
        })
        .collect();
    chart_or_error(
        "chart-e2e-p99",
        line_chart(
            "p99 end-to-end latency per second",
            "time since the measure phase began (s)",
            "p99 e2e latency (ms)",
            &lines,
            &run.fault_bands(None),
        ),
        "p99 of the cases stored in each one-second interval",
    )
}

/// Per path, how much the uncorrected HTTP latency understates the corrected one.
fn omission_note(run: &RunData) -> Markup {
    let locust = run.summary.generator == Generator::Locust;
    let repeated = run.repeated();
    let rows: Vec<(&PathResult, [(u64, u64); 4])> = run
        .summary
        .paths
        .iter()
        .filter_map(|p| {
            let c = p.latencies.get(&LatencyMetric::HttpCorrected)?;
            let u = p.latencies.get(&LatencyMetric::HttpUncorrected)?;
            let late = p
                .latencies
                .get(&LatencyMetric::GeneratorLateness)
                .cloned()
                .unwrap_or_default();
            Some((
                p,
                [
                    (c.p50, u.p50),
                    (c.p99, u.p99),
                    (c.p999, u.p999),
                    (late.p50, late.p99),
                ],
            ))
        })
        .collect();
    let diff = |(c, u): (u64, u64)| c as f64 - u as f64;
    let worst = rows.iter().map(|(_, v)| diff(v[1])).fold(0.0, f64::max);
    let worst_cells: Vec<Option<f64>> = rows.iter().map(|(_, v)| Some(diff(v[1]))).collect();
    let least = best(&worst_cells, Better::Lower);
    html! {
        div id="omission-note" {
            @if locust {
                p.note { "locust is a " (LOCUST_LABEL) ": it records no corrected latency, so both HTTP figures are the closed-loop response times and their difference says nothing about coordinated omission." }
            } @else {
                p {
                    "The corrected HTTP latency is measured from the moment each request was " em { "due" } " on the fixed-rate schedule; the uncorrected one from when it was actually sent. When the system stalls, requests queue in the generator and only the corrected figure shows that wait (coordinated omission). "
                    @if worst > 0.0 {
                        "In this run the largest difference at p99 is " strong { (ms(worst)) " ms" } "."
                    } @else {
                        "In this run the two agree at p99: the generator kept its schedule."
                    }
                }
            }
            @if !locust {
                p.muted id="lateness-note" {
                    "Generator lateness is the instrument's own error: how long after its intended time each request was dispatched. The corrected figures include it; a p99 above 1 ms (marked) means the generator, not only the system under test, was late."
                }
            }
            table {
                thead { tr {
                    th.l { "path" } th { "p50 corrected (ms)" } th { "p50 uncorrected" } th { "p99 corrected" } th { "p99 uncorrected" } th { "p99 difference (ms)" } th { "p99 difference (%)" } th { "p99.9 corrected" } th { "p99.9 uncorrected" }
                    th { "generator lateness p50" } th { "generator lateness p99" }
                } }
                tbody {
                    @for (p, v) in &rows {
                        tr {
                            td.l { (row_name(p, repeated)) }
                            td { (ms(v[0].0 as f64)) } td { (ms(v[0].1 as f64)) }
                            td { (ms(v[1].0 as f64)) } td { (ms(v[1].1 as f64)) }
                            (cell(Some(diff(v[1])), least, ms))
                            td { (if v[1].1 > 0 { format!("{:+.1}%", diff(v[1]) / v[1].1 as f64 * 100.0) } else { "–".into() }) }
                            td { (ms(v[2].0 as f64)) } td { (ms(v[2].1 as f64)) }
                            td { (ms(v[3].0 as f64)) } td.bad[v[3].1 > LATE_GENERATOR_US] { (ms(v[3].1 as f64)) }
                        }
                    }
                }
            }
        }
    }
}
