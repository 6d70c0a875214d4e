//! Comparing runs: which figures are tested and at what level, whether the runs' configurations
//! differ, and what the significance of each difference is called.

use clap::Args;

use super::significance::{self, MIN_REPEATS, Verdict, Verdicts};
use crate::results::figures::FIGURES;
use crate::results::summary::Summary;

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
