//! `brokerbench compare`: several run folders side by side, per path and headline figure, with
//! deltas against the first run and, with at least 5 repeats a side, whether each difference is
//! significant (Mann–Whitney U, Holm-corrected over the table; see [`significance`]).

pub mod significance;

use std::path::PathBuf;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::report::FIGURES;
use crate::run::output::read_summary;
use crate::run::summary::{PathAggregate, Spread, Summary};
use significance::{MIN_REPEATS, Verdict, Verdicts};

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

/// Which figures are tested, and at what level.
#[derive(Debug, Clone, Args)]
pub struct Judging {
    /// Only these headline figures (comma-separated, e.g. e2e_p50_us,achieved_per_s). Fewer figures
    /// make a smaller Holm family, so a real difference needs fewer repeats to show.
    #[arg(long, value_delimiter = ',')]
    pub figures: Vec<String>,
    /// Chance of calling even one difference in the table significant when there is none.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

impl Default for Judging {
    fn default() -> Self {
        Self {
            figures: Vec::new(),
            alpha: 0.05,
        }
    }
}

impl Judging {
    /// The figure keys compared, in table order.
    pub fn figures(&self) -> Vec<&'static str> {
        FIGURES
            .iter()
            .map(|f| f.0)
            .filter(|k| self.figures.is_empty() || self.figures.iter().any(|f| f == k))
            .collect()
    }

    pub fn judge(&self, runs: &[&Summary]) -> Verdicts {
        significance::judge(runs, &self.figures(), self.alpha)
    }
}

pub fn run(opts: &CompareOpts) -> anyhow::Result<()> {
    let known: Vec<&str> = FIGURES.iter().map(|f| f.0).collect();
    if let Some(unknown) = opts
        .judging
        .figures
        .iter()
        .find(|f| !known.contains(&f.as_str()))
    {
        anyhow::bail!("unknown figure {unknown:?}; known: {}", known.join(", "));
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

/// The configuration keys (dotted) in which a run differs from the first, besides its label and
/// where it was written.
pub fn config_differences(summaries: &[Summary]) -> Vec<String> {
    const IGNORED: [&str; 3] = ["label", "results_dir", "binary"];
    let Some(base) = summaries.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, s) in summaries.iter().enumerate().skip(1) {
        let (Some(a), Some(b)) = (base.config.as_object(), s.config.as_object()) else {
            continue;
        };
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys.into_iter().filter(|k| !IGNORED.contains(&k.as_str())) {
            let (x, y) = (a.get(key), b.get(key));
            if x != y {
                let show = |v: Option<&serde_json::Value>| {
                    v.map(|v| v.to_string())
                        .unwrap_or_else(|| "(absent)".into())
                };
                out.push(format!(
                    "run #{}: {key} = {} (run #1: {})",
                    i + 1,
                    show(y),
                    show(x)
                ));
            }
        }
    }
    out
}

/// How many comparisons were tested together, and what it takes to be significant.
pub fn verdict_note(summaries: &[Summary], verdicts: &Verdicts) -> String {
    let fewest = summaries
        .iter()
        .flat_map(|s| s.aggregate.iter().map(|a| a.runs as usize))
        .min()
        .unwrap_or(0);
    let mut note = format!(
        "Significance: Mann–Whitney U on the repeats of each side, Holm-corrected over {} comparisons at α = {}; fewer than {MIN_REPEATS} repeats a side: \"too few repeats\".",
        verdicts.family, verdicts.alpha
    );
    if verdicts.family > 0 && !verdicts.attainable((fewest, fewest)) {
        note.push_str(&format!(
            " With {fewest} repeats a side no difference can reach significance over {} comparisons (the smallest possible p is {:.4}): repeat more, or test fewer figures (--figures).",
            verdicts.family,
            significance::smallest_p(fewest, fewest)
        ));
    }
    note
}

fn find<'a>(s: &'a Summary, path: &PathAggregate) -> Option<&'a PathAggregate> {
    s.aggregate.iter().find(|a| a.middleware == path.middleware)
}

/// A verdict in words, for the terminal and the page.
pub fn verdict_text(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Tested {
            significant: true, ..
        }) => "SIGNIFICANT",
        Some(Verdict::Tested {
            significant: false, ..
        }) => "within noise",
        Some(Verdict::TooFewRepeats) => "too few repeats",
        None => "",
    }
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
