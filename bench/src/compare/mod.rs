//! `brokerbench compare`: several run folders side by side, per path and headline figure, with
//! deltas against the first run and, with at least 5 repeats a side, whether each difference is
//! significant (Mann–Whitney U, Holm-corrected over the table; see `analysis::significance`).

use std::path::PathBuf;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::analysis::comparison::{Judging, config_differences, verdict_note, verdict_text};
use crate::analysis::significance::{Verdict, Verdicts};
use crate::results::figures::FIGURES;
use crate::results::files::read_summary;
use crate::results::summary::{PathAggregate, Spread, Summary};

#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Two or more run folders; the first is the baseline.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Folder for the comparison page (default: results/compare-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub judging: Judging,
    /// Compare runs whose configurations differ in more than the label (rate, durability, holds…);
    /// the differences are printed and shown on the page.
    #[arg(long)]
    pub allow_config_differences: bool,
}

pub fn run(opts: &CompareOpts) -> anyhow::Result<()> {
    let known: Vec<&str> = FIGURES.iter().map(|f| f.0).collect();
    if let Some(unknown) = opts
        .judging
        .figures
        .iter()
        .find(|f| !known.contains(&f.as_str()) && *f != "all")
    {
        anyhow::bail!(
            "unknown figure {unknown:?}; known: all, {}",
            known.join(", ")
        );
    }
    anyhow::ensure!(
        opts.judging.alpha > 0.0 && opts.judging.alpha < 1.0,
        "--alpha must be between 0 and 1"
    );
    let summaries: Vec<Summary> = opts
        .runs
        .iter()
        .map(|d| read_summary(d))
        .collect::<Result<_, _>>()?;
    let differences = config_differences(&summaries);
    if !differences.is_empty() {
        let list = differences.join("\n  ");
        anyhow::ensure!(
            opts.allow_config_differences,
            "these runs differ in more than their label, so their figures do not compare like with like:\n  {list}\n(--allow-config-differences compares them anyway)"
        );
        eprintln!("!!! CONFIGURATIONS DIFFER (compared anyway):\n  {list}");
    }
    let refs: Vec<&Summary> = summaries.iter().collect();
    let verdicts = opts.judging.judge(&refs);
    println!("{}", table(&summaries, &verdicts));
    println!("{}", verdict_note(&summaries, &verdicts));
    let out = match &opts.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("results").join(format!(
            "compare-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        )),
    };
    std::fs::create_dir_all(&out)?;
    println!(
        "comparison page: {}",
        crate::report::write_comparison(&opts.runs, &out, &opts.judging)?.display()
    );
    Ok(())
}

fn find<'a>(s: &'a Summary, path: &PathAggregate) -> Option<&'a PathAggregate> {
    s.aggregate.iter().find(|a| a.middleware == path.middleware)
}

/// One cell: the value, and against the baseline the relative change and its verdict.
fn cell(value: &Spread, runs: u32, base: Option<(&Spread, Option<Verdict>)>) -> String {
    let mut text = format_value(value.median);
    if runs > 1 {
        text.push_str(&format!(
            " [{}–{}]",
            format_value(value.min),
            format_value(value.max)
        ));
    }
    if let Some((b, verdict)) = base
        && b.median != 0.0
    {
        let delta = (value.median - b.median) / b.median * 100.0;
        text.push_str(&format!(" {delta:+.1}%"));
        if let Some(Verdict::Tested { p, .. }) = verdict {
            text.push_str(&format!(" p={p:.3}"));
        }
        let words = verdict_text(verdict);
        if !words.is_empty() {
            text.push_str(&format!(" ({words})"));
        }
    }
    text
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn table(summaries: &[Summary], verdicts: &Verdicts) -> Table {
    let mut table = Table::new();
    let mut header = vec!["path".to_string(), "figure".into()];
    header.extend(summaries.iter().map(|s| {
        format!(
            "{} ({})",
            s.label,
            s.started_at.get(..19).unwrap_or(&s.started_at)
        )
    }));
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    let Some(base) = summaries.first() else {
        return table;
    };
    for path in &base.aggregate {
        for (figure, _, better) in FIGURES {
            let Some(b) = path.figures.get(figure) else {
                continue;
            };
            let mut row = vec![
                path.middleware.to_string(),
                format!("{figure} {}", better.arrow()),
            ];
            row.push(cell(b, path.runs, None));
            for (i, other) in summaries.iter().enumerate().skip(1) {
                row.push(
                    match find(other, path).and_then(|a| a.figures.get(figure).map(|f| (f, a.runs)))
                    {
                        Some((f, runs)) => {
                            cell(f, runs, Some((b, verdicts.get(path.middleware, figure, i))))
                        }
                        None => "-".into(),
                    },
                );
            }
            table.add_row(row);
        }
    }
    table
}
