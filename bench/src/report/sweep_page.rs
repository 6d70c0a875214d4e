//! The page of a `sweep` folder: the classic latency-vs-throughput curve of every path (e2e p50
//! and p99 against the achieved rate, medians over the repeats of each step, the knee marked),
//! the steps with what limited each, and the stage ceilings if they were measured.

use std::collections::BTreeMap;
use std::path::Path;

use maud::{Markup, html};
use plotters::style::RGBColor;

use super::charts::{Line, line_chart, nth_color};
use super::layout::chart_or_error;
use super::stages::ceilings_table;
use crate::results::ceilings::Ceilings;
use crate::results::rows::{self, SweepRow};
use crate::results::summary::Spread;

/// One rate step of one path, over its repeats.
pub(super) struct Step {
    offered: f64,
    stored: f64,
    p50_ms: f64,
    p99_ms: f64,
    kept_up: bool,
    limits: Vec<String>,
}

fn median(v: Vec<f64>) -> f64 {
    Spread::of(&v).map_or(0.0, |s| s.median)
}

pub(super) fn steps(rows: &[SweepRow]) -> BTreeMap<String, Vec<Step>> {
    let mut by: BTreeMap<String, BTreeMap<u64, Vec<&SweepRow>>> = BTreeMap::new();
    for r in rows {
        by.entry(r.middleware.clone())
            .or_default()
            .entry(r.offered_per_s.round() as u64)
            .or_default()
            .push(r);
    }
    by.into_iter()
        .map(|(m, rates)| {
            let steps = rates
                .into_values()
                .map(|rs| Step {
                    offered: rs[0].offered_per_s,
                    stored: median(rs.iter().map(|r| r.stored_per_s).collect()),
                    p50_ms: median(rs.iter().map(|r| r.e2e_p50_us as f64 / 1e3).collect()),
                    p99_ms: median(rs.iter().map(|r| r.e2e_p99_us as f64 / 1e3).collect()),
                    kept_up: rs.iter().all(|r| r.consistent && r.limited_by == "kept up"),
                    limits: rs.iter().map(|r| r.limited_by.clone()).collect(),
                })
                .collect();
            (m, steps)
        })
        .collect()
}

pub(super) fn curve(paths: &BTreeMap<String, Vec<Step>>) -> Markup {
    let mut lines = Vec::new();
    let top = paths
        .values()
        .flatten()
        .map(|s| s.p99_ms)
        .fold(0.0, f64::max);
    for (i, (m, steps)) in paths.iter().enumerate() {
        let color = nth_color(i);
        let light = RGBColor(color.0 / 2 + 127, color.1 / 2 + 127, color.2 / 2 + 127);
        lines.push(Line {
            label: format!("{m} p99"),
            color,
            points: steps.iter().map(|s| (s.stored, s.p99_ms)).collect(),
        });
        lines.push(Line {
            label: format!("{m} p50"),
            color: light,
            points: steps.iter().map(|s| (s.stored, s.p50_ms)).collect(),
        });
        if let Some(knee) = steps.iter().rfind(|s| s.kept_up) {
            lines.push(Line {
                label: format!("{m} knee {:.0}/s", knee.offered),
                color,
                points: vec![(knee.stored, 0.0), (knee.stored, top)],
            });
        }
    }
    chart_or_error(
        "chart-sweep-latency",
        line_chart(
            "end-to-end latency vs throughput",
            "achieved (stored cases per second, median over repeats)",
            "e2e latency (ms)",
            &lines,
            &[],
        ),
        "each point is one rate step; the vertical line is the last rate every repeat kept up with",
    )
}

/// The body of a sweep folder's page.
fn body(dir: &Path, rows: &[SweepRow], ceilings: Option<&Ceilings>) -> Markup {
    let paths = steps(rows);
    html! {
        h1 { "brokerbench sweep" }
        p.muted { "Folder " code { (dir.display()) } }
        h2 { "Latency vs throughput" }
        div.charts { (curve(&paths)) }
        h2 { "Steps" }
        table id="sweep-steps" {
            thead { tr { th.l { "path" } th { "offered/s" } th { "stored/s" } th { "e2e p50 ms" } th { "e2e p99 ms" } th.l { "kept up" } th.l { "limited by (each repeat)" } } }
            tbody {
                @for (m, steps) in &paths { @for s in steps {
                    tr.bad[!s.kept_up] {
                        td.l { (m) } td { (format!("{:.0}", s.offered)) } td { (format!("{:.0}", s.stored)) }
                        td { (format!("{:.2}", s.p50_ms)) } td { (format!("{:.2}", s.p99_ms)) }
                        td.l { (if s.kept_up { "yes" } else { "no" }) } td.l { (s.limits.join(", ")) }
                    }
                } }
            }
        }
        h2 { "Stage ceilings" }
        @if let Some(c) = ceilings { (ceilings_table(c, &[])) } @else { p.muted { "Not measured (sweep --ceilings)." } }
    }
}

/// Writes `<dir>/report.html` of a sweep folder; returns its path.
pub fn write(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let rows: Vec<SweepRow> = rows::read(&dir.join("sweep.csv"))?;
    let ceilings: Option<Ceilings> = std::fs::read(dir.join("ceilings.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let page = super::layout::page(
        "brokerbench · sweep",
        None,
        body(dir, &rows, ceilings.as_ref()),
    );
    let path = dir.join("report.html");
    std::fs::write(&path, page.into_string())?;
    Ok(path)
}
