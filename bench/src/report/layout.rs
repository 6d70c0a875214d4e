//! The page frame shared by the reports and the dashboard: inline CSS (a report opens from disk
//! with no network) and the number formats every table uses.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::results::figures::Better;
use crate::results::summary::PathResult;

const CSS: &str = r#"
:root { --fg:#1d2430; --muted:#5b6675; --line:#d8dee6; --bg:#f6f8fa; --best:#d9f2dd; --bad:#fde2e1; --badline:#c62828; --warn:#fff4d6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; background: #fff; }
header.top { background: #1d2430; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header.top a { color: #cfe3ff; text-decoration: none; font-weight: 600; }
header.top a.here { color: #fff; text-decoration: underline; }
main { padding: 12px 24px 40px; max-width: 1328px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: var(--bg); font-weight: 600; white-space: normal; max-width: 6em; }
td.l, th.l { text-align: left; }
td.best { background: var(--best); font-weight: 700; }
tr.bad td, td.bad { background: var(--bad); }
.banner { border: 2px solid var(--badline); background: var(--bad); padding: 10px 14px; margin: 12px 0; font-weight: 600; }
.banner ul { margin: 4px 0 0; font-weight: 400; }
.note { border-left: 4px solid #e0a800; background: var(--warn); padding: 8px 12px; margin: 10px 0; }
.ok { color: #1b7f2a; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
figure.chart { margin: 0; border: 1px solid var(--line); padding: 4px; background: #fff; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart figcaption { color: var(--muted); font-size: 12px; padding: 2px 6px; }
.kv td:first-child { text-align: left; color: var(--muted); }
.kv td { text-align: left; white-space: normal; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); padding: 8px 14px; background: var(--bg); min-width: 160px; }
.card .big { font-size: 22px; font-weight: 700; }
details summary { cursor: pointer; color: var(--muted); }
input[type=search] { padding: 4px 8px; width: 280px; }
button { padding: 4px 12px; }
"#;

/// A whole page: `nav` is the dashboard's bar (none in a report opened from disk).
pub fn page(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No favicon request: a report opens from disk, and a 404 would be a console error.
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                @if let Some(nav) = nav { (nav) }
                main { (body) }
            }
        }
    }
}

/// An inline SVG chart with a caption; `id` lets tests and scripts find it.
pub fn chart(id: &str, svg: &str, caption: &str) -> Markup {
    html! {
        figure.chart id=(id) data-chart="1" {
            (PreEscaped(svg))
            @if !caption.is_empty() { figcaption { (caption) } }
        }
    }
}

/// A chart that could not be drawn: the page still renders, and says why.
pub fn chart_or_error(id: &str, svg: anyhow::Result<String>, caption: &str) -> Markup {
    match svg {
        Ok(svg) => chart(id, &svg, caption),
        Err(e) => html! { p.banner { "chart " (id) " could not be drawn: " (format!("{e:#}")) } },
    }
}

/// Microseconds as milliseconds, with three significant digits or more.
pub fn ms(us: f64) -> String {
    let v = us / 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A rate or other measured figure, with precision falling as it grows.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The best of a column's values, if there are at least two to compare.
pub fn best(values: &[Option<f64>], better: Better) -> Option<f64> {
    let present: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if present.len() < 2 {
        return None;
    }
    present.into_iter().reduce(|a, b| match better {
        Better::Lower => a.min(b),
        Better::Higher => a.max(b),
    })
}

/// A numeric cell, marked `best` when it holds its column's best value.
pub fn cell(value: Option<f64>, best: Option<f64>, format: fn(f64) -> String) -> Markup {
    match value {
        Some(v) if best == Some(v) => html! { td.best title="best of this column" { (format(v)) } },
        Some(v) => html! { td { (format(v)) } },
        None => html! { td.muted { "–" } },
    }
}

/// The name of one measured path in tables: `grpc`, or `grpc r1` when paths were repeated.
/// A path's row head; a path that was not durable in this run is marked †, so its figures are
/// not read as like for like beside durable ones (the guarantees table says why).
pub fn row_name(p: &PathResult, repeated: bool) -> String {
    let mark = if p.guarantee.as_ref().is_some_and(|g| !g.durable) {
        " †"
    } else {
        ""
    };
    if repeated {
        format!("{} r{}{mark}", p.middleware, p.repeat)
    } else {
        format!("{}{mark}", p.middleware)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_needs_two_values() {
        assert_eq!(
            best(&[Some(3.0), None, Some(1.0)], Better::Lower),
            Some(1.0)
        );
        assert_eq!(best(&[Some(3.0), Some(1.0)], Better::Higher), Some(3.0));
        assert_eq!(best(&[Some(3.0), None], Better::Lower), None);
    }

    #[test]
    fn milliseconds_keep_three_digits() {
        assert_eq!(ms(753.0), "0.753");
        assert_eq!(ms(9015.0), "9.02");
        assert_eq!(ms(118_911.0), "119");
    }
}
