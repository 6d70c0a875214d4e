//! Whether a figure differs between two runs beyond the run-to-run noise: a Mann–Whitney U test
//! on the repeats of each side, with Holm's correction across every comparison shown at once.
//!
//! Why not "the min–max ranges don't overlap": with 3 repeats a side that happens by chance in
//! 10 % of identical cells, so a 36-cell table shows a few false differences every time. The rank
//! test needs no assumption about the figures' distribution, and Holm keeps the chance of even
//! one false "significant" in the whole table below `alpha`.

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;

use crate::results::figures::headline_figures;
use crate::results::summary::Summary;

/// What the test says about one cell (a figure of a path, one run against the baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Even a complete separation of the repeats could not have reached `alpha` in a family this
    /// large: with 5 + 5 repeats the smallest p is 0.008, ×50 cells = 0.40. Calling such a cell
    /// "within noise" would claim more than the test can support.
    NotTestable {
        /// The fewer repeats of the two sides.
        repeats: usize,
        /// Repeats each side needs for this family at this `alpha`.
        needed: usize,
    },
    /// `p` is Holm-adjusted over the whole table.
    Tested { p: f64, significant: bool },
}

/// The verdicts of one comparison, by (path, figure, index of the run).
#[derive(Debug, Default)]
pub struct Verdicts {
    cells: BTreeMap<(Middleware, String, usize), Verdict>,
    /// How many cells were tested together (the Holm family).
    pub family: usize,
    /// The figures tested, in table order.
    pub figures: Vec<String>,
    pub alpha: f64,
}

impl Verdicts {
    pub fn get(&self, m: Middleware, figure: &str, run: usize) -> Option<Verdict> {
        self.cells.get(&(m, figure.to_string(), run)).copied()
    }

    /// Whether any tested cell could have been significant at all: with few repeats and a large
    /// family even a complete separation of the repeats is not enough.
    pub fn attainable(&self, smallest_sides: (usize, usize)) -> bool {
        let (n, m) = smallest_sides;
        smallest_p(n, m) * (self.family as f64) < self.alpha
    }
}

/// Tests each of `figures` of every path in `runs[1..]` against `runs[0]`.
pub fn judge(runs: &[&Summary], figures: &[&str], alpha: f64) -> Verdicts {
    let mut tested = Vec::new();
    let mut cells = BTreeMap::new();
    let Some(base) = runs.first() else {
        return Verdicts {
            alpha,
            figures: figures.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        };
    };
    for (i, other) in runs.iter().enumerate().skip(1) {
        for m in Middleware::ALL {
            for &figure in figures {
                let (a, b) = (repeats(base, m, figure), repeats(other, m, figure));
                if a.is_empty() || b.is_empty() {
                    continue;
                }
                let sides = (a.len(), b.len());
                tested.push(((m, figure.to_string(), i), sides, mann_whitney_p(&a, &b)));
            }
        }
    }
    let family = tested.len();
    let adjusted = holm(&tested.iter().map(|(_, _, p)| *p).collect::<Vec<_>>());
    for ((key, (n, m), _), p) in tested.into_iter().zip(adjusted) {
        let significant = p < alpha;
        let reachable = smallest_p(n, m) * (family as f64) < alpha;
        let verdict = if significant || reachable {
            Verdict::Tested { p, significant }
        } else {
            Verdict::NotTestable {
                repeats: n.min(m),
                needed: repeats_needed(family, alpha),
            }
        };
        cells.insert(key, verdict);
    }
    Verdicts {
        cells,
        family,
        figures: figures.iter().map(|f| f.to_string()).collect(),
        alpha,
    }
}

/// One figure of one path over a run's repeats.
fn repeats(run: &Summary, m: Middleware, figure: &str) -> Vec<f64> {
    run.paths
        .iter()
        .filter(|p| p.middleware == m)
        .filter_map(|p| {
            headline_figures(p)
                .into_iter()
                .find(|(name, _)| name == figure)
                .map(|(_, v)| v)
        })
        .filter(|v| v.is_finite())
        .collect()
}

/// Two-sided p-value of the Mann–Whitney U test. Exact (all splits of the pooled ranks, ties as
/// mid-ranks) up to 200,000 splits, e.g. 10 + 10 repeats; beyond, the normal approximation with
/// the tie correction.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    if binomial(a.len() + b.len(), a.len()) <= 200_000.0 {
        exact_p(a, b)
    } else {
        normal_p(a, b)
    }
}

/// The pooled mid-ranks, and how far `a`'s rank sum lies from what it would be under no difference.
fn rank_sum_distance(a: &[f64], b: &[f64]) -> (Vec<f64>, f64, f64) {
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ranks = mid_ranks(&pooled);
    let expected = a.len() as f64 * (pooled.len() as f64 + 1.0) / 2.0;
    let observed = (ranks[..a.len()].iter().sum::<f64>() - expected).abs();
    (ranks, expected, observed)
}

/// Every split of the pooled ranks counted.
fn exact_p(a: &[f64], b: &[f64]) -> f64 {
    let (ranks, expected, observed) = rank_sum_distance(a, b);
    let (mut extreme, mut all) = (0u64, 0u64);
    for_each_subset(ranks.len(), a.len(), &mut |chosen| {
        all += 1;
        let sum: f64 = chosen.iter().map(|&i| ranks[i]).sum();
        if (sum - expected).abs() >= observed - 1e-9 {
            extreme += 1;
        }
    });
    extreme as f64 / all as f64
}

/// The normal approximation with continuity and tie corrections.
fn normal_p(a: &[f64], b: &[f64]) -> f64 {
    let (_, _, observed) = rank_sum_distance(a, b);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let t = n + m;
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ties: f64 = tie_sizes(&pooled).map(|k| k * k * k - k).sum();
    let variance = n * m / 12.0 * ((t + 1.0) - ties / (t * (t - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = (observed - 0.5).max(0.0) / variance.sqrt();
    (2.0 * (1.0 - standard_normal_cdf(z))).min(1.0)
}

/// Holm's step-down adjustment: each p-value made comparable with `alpha` directly.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((p.len() - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The smallest two-sided p-value the exact test reaches with `n` and `m` repeats.
pub fn smallest_p(n: usize, m: usize) -> f64 {
    2.0 / binomial(n + m, n)
}

/// Repeats each side needs before the strongest answer of a Holm-corrected family of `family`
/// tests can reach `alpha`: the first step compares the smallest p with `alpha / family`.
pub fn repeats_needed(family: usize, alpha: f64) -> usize {
    (1..=64)
        .find(|&n| smallest_p(n, n) * (family.max(1) as f64) < alpha)
        .unwrap_or(64)
}

fn mid_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            ranks[i] = rank;
        }
        start = end + 1;
    }
    ranks
}

fn tie_sizes(values: &[f64]) -> impl Iterator<Item = f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .chunk_by(|x, y| x == y)
        .map(|c| c.len() as f64)
        .collect::<Vec<_>>()
        .into_iter()
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Calls `f` with every `k`-element subset of `0..n` (as sorted indices).
fn for_each_subset(n: usize, k: usize, f: &mut impl FnMut(&[usize])) {
    let mut chosen: Vec<usize> = (0..k).collect();
    loop {
        f(&chosen);
        let Some(i) = (0..k).rev().find(|&i| chosen[i] < n - k + i) else {
            return;
        };
        chosen[i] += 1;
        for j in i + 1..k {
            chosen[j] = chosen[j - 1] + 1;
        }
    }
}

/// Φ(z), from the complementary error function (Numerical Recipes' erfc, |error| < 1.2e-7).
fn standard_normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_needed_follow_the_family_size() {
        // 4 + 4 reach p = 2/70 = 0.029 at best: enough alone, not for two answers (α/2 = 0.025).
        assert_eq!(repeats_needed(1, 0.05), 4);
        assert_eq!(repeats_needed(2, 0.05), 5);
        assert!(smallest_p(4, 4) * 2.0 > 0.05);
        // compare's headline family, 10 figures × 5 paths: 7 repeats a side.
        assert_eq!(repeats_needed(50, 0.05), 7);
    }

    #[test]
    fn exact_p_values_match_the_tables() {
        // Complete separation of 5 + 5: 2 of 252 splits are as extreme.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        assert_eq!(smallest_p(5, 5), 2.0 / 252.0);
        // Identical samples: nothing is more alike.
        assert_eq!(mann_whitney_p(&[3.0; 5], &[3.0; 5]), 1.0);
        // Interleaved: no evidence.
        assert!(mann_whitney_p(&[1.0, 3.0, 5.0, 7.0, 9.0], &[2.0, 4.0, 6.0, 8.0, 10.0]) > 0.5);
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_test_on_the_same_data() {
        // 10 + 10 repeats (184,756 splits, still counted exactly), shifted by about half a spread,
        // with a tie across the sides.
        let a: Vec<f64> = (0..10).map(|i| f64::from(i) * 1.3).collect();
        let mut b: Vec<f64> = (0..10).map(|i| f64::from(i) * 1.3 + 5.2).collect();
        b[0] = a[4];
        let (exact, approx) = (exact_p(&a, &b), normal_p(&a, &b));
        assert_eq!(mann_whitney_p(&a, &b), exact);
        // Measured: exact 0.0138, approximation 0.0171. At this size the normal tail is a little
        // heavy; a wrong variance or a lost continuity correction moves it much further.
        assert!((0.0135..0.0141).contains(&exact), "exact {exact}");
        assert!(
            (approx / exact - 1.0).abs() < 0.3,
            "exact {exact}, approx {approx}"
        );
        let (exact, approx) = (exact_p(&a, &a), normal_p(&a, &a));
        assert_eq!((exact, approx), (1.0, 1.0));
    }

    #[test]
    fn holm_multiplies_by_the_remaining_family_and_stays_monotone() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.5]);
        assert_eq!(adjusted, vec![0.04, 0.09, 0.09, 0.5]);
    }
}
