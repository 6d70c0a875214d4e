//! The headline figures of a path: what `summary.json` aggregates over repeats, what `compare`
//! and the verdict test, and which end of each is better.

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;

use super::summary::{PathAggregate, PathResult, Spread};

/// Whether a column's best value is its smallest or its largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

impl Better {
    pub fn arrow(self) -> &'static str {
        match self {
            Self::Lower => "↓",
            Self::Higher => "↑",
        }
    }
}

/// The headline figures compared: key in `PathAggregate::figures`, title, which end is best.
pub const FIGURES: [(&str, &str, Better); 10] = [
    ("achieved_per_s", "achieved (cases/s)", Better::Higher),
    ("stored_per_s", "stored (cases/s)", Better::Higher),
    ("e2e_p50_us", "e2e p50 (ms)", Better::Lower),
    ("e2e_p99_us", "e2e p99 (ms)", Better::Lower),
    ("e2e_p999_us", "e2e p99.9 (ms)", Better::Lower),
    (
        "http_corrected_p99_us",
        "HTTP corrected p99 (ms)",
        Better::Lower,
    ),
    (
        "http_uncorrected_p99_us",
        "HTTP uncorrected p99 (ms)",
        Better::Lower,
    ),
    ("publish_p99_us", "publish p99 (ms)", Better::Lower),
    ("delivery_p99_us", "delivery p99 (ms)", Better::Lower),
    (
        "cpu_seconds_per_10k_cases",
        "CPU s per 10k cases",
        Better::Lower,
    ),
];

/// The headline figures aggregated across repeats, by name.
pub fn headline_figures(p: &PathResult) -> Vec<(String, f64)> {
    let mut out = vec![
        ("achieved_per_s".to_string(), p.rates.achieved),
        ("stored_per_s".to_string(), p.rates.stored_per_s),
    ];
    for (metric, l) in &p.latencies {
        out.push((format!("{metric}_p50_us"), l.p50 as f64));
        out.push((format!("{metric}_p99_us"), l.p99 as f64));
        out.push((format!("{metric}_p999_us"), l.p999 as f64));
    }
    if let Some(cpu) = p.cpu_seconds_per_10k_cases {
        out.push(("cpu_seconds_per_10k_cases".into(), cpu));
    }
    if let Some(disk) = p.disk_bytes_per_10k_cases {
        out.push(("disk_bytes_per_10k_cases".into(), disk));
    }
    out
}

pub fn aggregate(paths: &[PathResult]) -> Vec<PathAggregate> {
    let mut by_path: BTreeMap<Middleware, Vec<&PathResult>> = BTreeMap::new();
    for p in paths {
        by_path.entry(p.middleware).or_default().push(p);
    }
    by_path
        .into_iter()
        .map(|(middleware, runs)| {
            let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for run in &runs {
                for (name, v) in headline_figures(run) {
                    values.entry(name).or_default().push(v);
                }
            }
            let figures = values
                .into_iter()
                .filter_map(|(k, v)| Spread::of(&v).map(|s| (k, s)))
                .collect();
            PathAggregate {
                middleware,
                runs: runs.len() as u32,
                figures,
            }
        })
        .collect()
}
