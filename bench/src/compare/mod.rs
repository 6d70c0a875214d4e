//! `brokerbench compare`: several run folders side by side, per path and headline figure, with
//! deltas against the first run. With repeated runs a difference is marked significant only
//! when the spreads (min–max over repeats) do not overlap.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::run::output::read_summary;
use crate::run::summary::{PathAggregate, Spread, Summary};

#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Two or more run folders; the first is the baseline.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Folder for the comparison page (default: results/compare-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Figures compared, with whether lower is better.
const FIGURES: [(&str, bool); 9] = [
    ("achieved_per_s", false),
    ("stored_per_s", false),
    ("e2e_p50_us", true),
    ("e2e_p99_us", true),
    ("e2e_p999_us", true),
    ("http_corrected_p99_us", true),
    ("publish_p99_us", true),
    ("delivery_p99_us", true),
    ("cpu_seconds_per_10k_cases", true),
];

pub fn run(opts: &CompareOpts) -> anyhow::Result<()> {
    let summaries: Vec<Summary> = opts.runs.iter().map(|d| read_summary(d)).collect::<Result<_, _>>()?;
    println!("{}", table(&summaries));
    let out = match &opts.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("results").join(format!("compare-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))),
    };
    std::fs::create_dir_all(&out)?;
    println!("comparison page: {}", crate::report::write_comparison(&opts.runs, &out)?.display());
    Ok(())
}

fn find<'a>(s: &'a Summary, path: &PathAggregate) -> Option<&'a PathAggregate> {
    s.aggregate.iter().find(|a| a.middleware == path.middleware)
}

/// One cell: the value, and against the baseline the relative change and its significance.
pub fn cell(value: &Spread, runs: u32, base: Option<(&Spread, u32)>) -> String {
    let mut text = format_value(value.median);
    if runs > 1 {
        text.push_str(&format!(" [{}–{}]", format_value(value.min), format_value(value.max)));
    }
    if let Some((b, base_runs)) = base
        && b.median != 0.0
    {
        let delta = (value.median - b.median) / b.median * 100.0;
        let verdict = if runs > 1 && base_runs > 1 {
            if value.overlaps(b) { " (within noise)" } else { " SIGNIFICANT" }
        } else {
            ""
        };
        text.push_str(&format!(" {delta:+.1}%{verdict}"));
    }
    text
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

pub fn table(summaries: &[Summary]) -> Table {
    let mut table = Table::new();
    let mut header = vec!["path".to_string(), "figure".into()];
    header.extend(summaries.iter().map(|s| format!("{} ({})", s.label, s.started_at.get(..19).unwrap_or(&s.started_at))));
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    let Some(base) = summaries.first() else { return table };
    for path in &base.aggregate {
        for (figure, lower_is_better) in FIGURES {
            let Some(b) = path.figures.get(figure) else { continue };
            let mut row = vec![path.middleware.to_string(), format!("{figure}{}", if lower_is_better { " ↓" } else { " ↑" })];
            row.push(cell(b, path.runs, None));
            for other in &summaries[1..] {
                row.push(match find(other, path).and_then(|a| a.figures.get(figure).map(|f| (f, a.runs))) {
                    Some((f, runs)) => cell(f, runs, Some((b, path.runs))),
                    None => "-".into(),
                });
            }
            table.add_row(row);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significance_needs_repeats_and_separate_spreads() {
        let base = Spread { median: 10.0, min: 9.0, max: 11.0 };
        let near = Spread { median: 10.5, min: 10.0, max: 12.0 };
        let far = Spread { median: 20.0, min: 19.0, max: 21.0 };
        assert!(cell(&near, 3, Some((&base, 3))).contains("within noise"));
        assert!(cell(&far, 3, Some((&base, 3))).contains("+100.0% SIGNIFICANT"));
        assert!(!cell(&far, 1, Some((&base, 1))).contains("SIGNIFICANT"));
    }
}
