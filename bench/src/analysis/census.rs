//! The end-to-end census: the stored cases' e2e histogram joined by every case still unstored
//! when the drain ended, each at the time it had waited (a lower bound of its e2e), so that a
//! path which left its slowest cases behind cannot show a survivor's percentile.

use brokerbench_common::metrics::new_histogram;
use hdrhistogram::Histogram;

use crate::results::loss::{CensusValue, E2eCensus};

/// The census of one path's measure phase; `None` when no case was accepted in it.
pub fn e2e_census(
    stored_e2e: &Histogram<u64>,
    unstored_waits_us: &[u64],
    dead_lettered: u64,
) -> Option<E2eCensus> {
    if stored_e2e.is_empty() && unstored_waits_us.is_empty() && dead_lettered == 0 {
        return None;
    }
    let mut all = new_histogram();
    all.add(stored_e2e).ok()?;
    let ceiling = all.high();
    for &wait in unstored_waits_us {
        all.saturating_record(wait.min(ceiling));
    }
    let min_wait = unstored_waits_us.iter().copied().min();
    let at = |q: f64| {
        if all.is_empty() {
            return CensusValue::default();
        }
        let us = all.value_at_quantile(q);
        CensusValue {
            us,
            at_least: min_wait.is_some_and(|w| all.highest_equivalent(w) <= us),
        }
    };
    Some(E2eCensus {
        stored: stored_e2e.len(),
        unstored: unstored_waits_us.len() as u64,
        unstored_min_wait_us: min_wait,
        dead_lettered,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values_us {
            h.record(v).expect("in range");
        }
        h
    }

    #[test]
    fn with_everything_stored_the_census_is_the_histogram() {
        let h = stored((1..=1000).map(|i| i * 10));
        let census = e2e_census(&h, &[], 0).expect("cases");
        assert_eq!(census.p99.us, h.value_at_quantile(0.99));
        assert!(!census.p50.at_least && !census.p99.at_least && !census.p999.at_least);
        assert_eq!((census.stored, census.unstored), (1000, 0));
    }

    #[test]
    fn two_percent_left_unstored_make_p99_a_lower_bound_and_leave_p50_exact() {
        // 980 cases stored at about 1 ms; 20 still waiting after 30 s. Stored alone, p99 reads
        // about 1 ms; over every accepted case it is at least 30 s.
        let h = stored((0..980).map(|i| 1_000 + i));
        let census = e2e_census(&h, &[30_000_000; 20], 0).expect("cases");
        assert!(h.value_at_quantile(0.99) < 2_000);
        assert!(
            census.p99.at_least && census.p99.us >= 30_000_000,
            "{:?}",
            census.p99
        );
        assert!(
            !census.p50.at_least && census.p50.us < 2_000,
            "{:?}",
            census.p50
        );
        assert_eq!(
            census.p99.ms(),
            format!("≥ {:.2}", census.p99.us as f64 / 1000.0)
        );
        assert_eq!(census.unstored_min_wait_us, Some(30_000_000));
    }

    #[test]
    fn nothing_stored_is_no_figure_but_a_bound() {
        let census = e2e_census(&new_histogram(), &[5_000_000, 6_000_000], 3).expect("cases");
        assert!(census.p50.at_least && census.p50.us >= 5_000_000);
        assert_eq!(
            (census.stored, census.unstored, census.dead_lettered),
            (0, 2, 3)
        );
        assert_eq!(e2e_census(&new_histogram(), &[], 0), None);
    }
}
