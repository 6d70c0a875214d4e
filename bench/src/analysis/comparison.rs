//! Comparing runs: which figures are tested and at what level, whether the runs' configurations
//! differ, and what the significance of each difference is called.

use clap::Args;

use super::significance::{self, Verdict, Verdicts};
use crate::results::figures::FIGURES;
use crate::results::summary::Summary;

/// The figures tested when none are named: what a choice between middlewares turns on. With 5
/// paths they make a family of 15, which 6 repeats a side can resolve; all 10 figures would make
/// 50 and need 7.
pub const TESTED_BY_DEFAULT: [&str; 3] = ["stored_per_s", "e2e_p50_us", "e2e_p99_us"];

/// Which figures are tested, and at what level.
#[derive(Debug, Clone, Args)]
pub struct Judging {
    /// Test these figures for significance (comma-separated; default stored_per_s,e2e_p50_us,
    /// e2e_p99_us). Every figure is shown; only these are tested. Fewer figures make a smaller Holm
    /// family, so a real difference needs fewer repeats to show; `all` tests all ten.
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
    /// The figure keys tested, in table order.
    pub fn figures(&self) -> Vec<&'static str> {
        let named = |k: &str| match self.figures.as_slice() {
            [] => TESTED_BY_DEFAULT.contains(&k),
            [all] if all == "all" => true,
            names => names.iter().any(|f| f == k),
        };
        FIGURES.iter().map(|f| f.0).filter(|k| named(k)).collect()
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
                let (x, y) = shown_difference(key, x, y);
                out.push(format!("run #{}: {key} = {y} (run #1: {x})", i + 1));
            }
        }
    }
    out
}

/// Two differing values of config `key`, as a person reads them: the broker options that
/// differ (not every option), and each cluster as its path and nodes.
fn shown_difference(
    key: &str,
    x: Option<&serde_json::Value>,
    y: Option<&serde_json::Value>,
) -> (String, String) {
    let items = |v: Option<&serde_json::Value>| -> Vec<serde_json::Value> {
        v.and_then(|v| v.as_array()).cloned().unwrap_or_default()
    };
    match key {
        "brokers" => {
            let (xs, ys) = (items(x), items(y));
            let only = |these: &[serde_json::Value], other: &[serde_json::Value]| {
                let rest: Vec<String> = (these.iter())
                    .filter(|o| !other.contains(o))
                    .map(|o| o.as_str().map_or_else(|| o.to_string(), String::from))
                    .collect();
                rest.join(" ")
            };
            (only(&xs, &ys), only(&ys, &xs))
        }
        "clusters" => {
            let show = |v: Option<&serde_json::Value>| {
                let clusters: Vec<String> = (items(v).iter())
                    .map(|c| {
                        let nodes = c["nodes"].as_array().map_or(0, Vec::len);
                        format!(
                            "{} on {nodes} node(s)",
                            c["middleware"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                if clusters.is_empty() {
                    "none".into()
                } else {
                    clusters.join(", ")
                }
            };
            (show(x), show(y))
        }
        _ => {
            let show = |v: Option<&serde_json::Value>| {
                v.map(|v| v.to_string())
                    .unwrap_or_else(|| "(absent)".into())
            };
            (show(x), show(y))
        }
    }
}

/// How many comparisons were tested together, and what it takes to be significant.
pub fn verdict_note(summaries: &[Summary], verdicts: &Verdicts) -> String {
    let fewest = summaries
        .iter()
        .flat_map(|s| s.aggregate.iter().map(|a| a.runs as usize))
        .min()
        .unwrap_or(0);
    let mut note = format!(
        "Significance: Mann–Whitney U on the repeats of each side, Holm-corrected over {} comparisons ({}) at α = {}; a cell whose repeats could not reach significance in a family this large says \"not testable\" and how many repeats it needs.",
        verdicts.family,
        verdicts.figures.join(", "),
        verdicts.alpha
    );
    if verdicts.family > 0 && !verdicts.attainable((fewest, fewest)) {
        note.push_str(&format!(
            " With {fewest} repeats a side no difference can reach significance over {} comparisons (the smallest possible p is {:.4}): {} repeats a side are needed, or test fewer figures (--figures).",
            verdicts.family,
            significance::smallest_p(fewest, fewest),
            significance::repeats_needed(verdicts.family, verdicts.alpha)
        ));
    }
    note
}

/// A verdict in words, for the terminal and the page.
pub fn verdict_text(verdict: Option<Verdict>) -> String {
    match verdict {
        Some(Verdict::Tested {
            significant: true, ..
        }) => "SIGNIFICANT".into(),
        Some(Verdict::Tested {
            significant: false, ..
        }) => "within noise".into(),
        Some(Verdict::NotTestable { repeats, needed }) => {
            format!("not testable with {repeats} repeats; {needed} needed")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_common::latency::LatencyMetric;
    use brokerbench_common::settings::Middleware;

    /// A run of the NATS path repeated once per value, each repeat's e2e p50 that value (µs);
    /// publish and delivery carry figures too, so that all of them make a family of 8.
    fn repeated(e2e_p50_us: &[u64]) -> Summary {
        let mut summary = crate::results::summary::tests::sample();
        let mut one = summary.paths.remove(0);
        let e2e = one.latencies[&LatencyMetric::E2e].clone();
        for metric in [LatencyMetric::Publish, LatencyMetric::Delivery] {
            one.latencies.insert(metric, e2e.clone());
        }
        summary.paths = (0..)
            .zip(e2e_p50_us)
            .map(|(repeat, &p50)| {
                let mut p = one.clone();
                p.repeat = repeat;
                if let Some(e2e) = p.latencies.get_mut(&LatencyMetric::E2e) {
                    e2e.p50 = p50;
                }
                p
            })
            .collect();
        summary
    }

    fn e2e_p50(judging: &Judging, a: &Summary, b: &Summary) -> (Option<Verdict>, usize) {
        let verdicts = judging.judge(&[a, b]);
        (
            verdicts.get(Middleware::Nats, "e2e_p50_us", 1),
            verdicts.family,
        )
    }

    const FAST: [u64; 5] = [1_000, 1_010, 1_020, 1_030, 1_040];
    const TEN_TIMES_SLOWER: [u64; 5] = [10_000, 10_100, 10_200, 10_300, 10_400];

    #[test]
    fn a_tenfold_difference_the_family_cannot_resolve_is_not_testable_not_within_noise() {
        let all = Judging {
            figures: vec!["all".into()],
            alpha: 0.05,
        };
        let (verdict, family) = e2e_p50(&all, &repeated(&FAST), &repeated(&TEN_TIMES_SLOWER));
        // 8 figures: the smallest Holm p of 5 + 5 is 8 × 2/252 = 0.063.
        assert_eq!(family, 8);
        let needed = significance::repeats_needed(family, 0.05);
        assert!(needed > 5, "{needed}");
        assert_eq!(verdict, Some(Verdict::NotTestable { repeats: 5, needed }));
        assert_eq!(
            verdict_text(verdict),
            format!("not testable with 5 repeats; {needed} needed")
        );
    }

    #[test]
    fn the_default_family_resolves_the_same_difference_with_five_repeats() {
        let judging = Judging::default();
        let (verdict, family) = e2e_p50(&judging, &repeated(&FAST), &repeated(&TEN_TIMES_SLOWER));
        assert_eq!(judging.figures(), TESTED_BY_DEFAULT);
        assert!(family <= TESTED_BY_DEFAULT.len(), "family {family}");
        assert!(
            matches!(verdict, Some(Verdict::Tested { significant: true, p }) if p < 0.05),
            "{verdict:?}"
        );
    }

    #[test]
    fn identical_repeats_are_tested_and_within_noise() {
        let (verdict, _) = e2e_p50(&Judging::default(), &repeated(&FAST), &repeated(&FAST));
        assert_eq!(
            verdict,
            Some(Verdict::Tested {
                p: 1.0,
                significant: false
            })
        );
        assert_eq!(verdict_text(verdict), "within noise");
    }

    #[test]
    fn one_repeat_a_side_is_never_called_within_noise() {
        let (verdict, family) = e2e_p50(
            &Judging::default(),
            &repeated(&FAST[..1]),
            &repeated(&TEN_TIMES_SLOWER[..1]),
        );
        let needed = significance::repeats_needed(family, 0.05);
        assert_eq!(verdict, Some(Verdict::NotTestable { repeats: 1, needed }));
    }

    #[test]
    fn differing_broker_options_and_clusters_are_shown_by_what_differs() {
        let mut single = crate::results::summary::tests::sample();
        single.config = serde_json::json!({
            "brokers": ["--durability=disk", "--nats-url=nats://h6:4222", "--nats-replicas=1"],
            "clusters": [{"middleware": "nats", "nodes": [{"name": "single"}]}],
        });
        let mut cluster = single.clone();
        cluster.config = serde_json::json!({
            "brokers": ["--durability=disk", "--nats-url=nats://h1:4222,nats://h2:4222", "--nats-replicas=3"],
            "clusters": [{"middleware": "nats", "nodes": [{"name": "n1"}, {"name": "n2"}, {"name": "n3"}]}],
        });
        let differences = config_differences(&[single, cluster]);
        assert_eq!(
            differences,
            [
                "run #2: brokers = --nats-url=nats://h1:4222,nats://h2:4222 --nats-replicas=3 \
                 (run #1: --nats-url=nats://h6:4222 --nats-replicas=1)",
                "run #2: clusters = nats on 3 node(s) (run #1: nats on 1 node(s))",
            ]
        );
    }
}
