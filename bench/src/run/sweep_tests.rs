//! The sweep's rate walk and knee, on synthetic steps.

use super::*;
use crate::results::attribution::{Attribution, Backlog, Stage};

/// One repeat of a step at `offered`, limited by `limited` (none: kept up), e2e p99 `p99_us`.
pub(crate) fn step_result(offered: f64, limited: Option<Stage>, p99_us: u64) -> PathResult {
    let mut r = crate::results::summary::tests::sample().paths.remove(0);
    r.rates.offered = offered;
    if let Some(e2e) = r.latencies.get_mut(&LatencyMetric::E2e) {
        e2e.p99 = p99_us;
    }
    r.attribution = Some(Attribution {
        limited_by: limited,
        evidence: String::new(),
        growth_per_s: Backlog::default(),
        store_busy: None,
    });
    r
}

fn path(points: Vec<PathResult>) -> SweepPath {
    SweepPath {
        middleware: Middleware::Nats,
        saturation_rate: None,
        points,
    }
}

#[test]
fn the_knee_lies_between_the_last_step_kept_up_and_the_first_failed() {
    let knee = path(vec![
        step_result(500.0, None, 8_000),
        step_result(1_000.0, None, 9_000),
        step_result(1_000.0, None, 12_000),
        step_result(2_000.0, Some(Stage::Broker), 900_000),
        step_result(1_500.0, None, 20_000),
    ])
    .knee();
    assert_eq!(knee.kept_up_per_s, Some(1_500.0));
    assert_eq!(knee.e2e_p99_us, Some(20_000));
    assert_eq!(knee.failed_per_s, Some(2_000.0));
    assert_eq!(knee.failed_because.as_deref(), Some("broker"));
}

#[test]
fn one_failed_repeat_fails_the_step_and_a_later_success_is_not_believed() {
    let knee = path(vec![
        step_result(500.0, None, 8_000),
        step_result(1_000.0, None, 9_000),
        step_result(1_000.0, Some(Stage::Store), 9_000),
        step_result(1_500.0, None, 9_000),
    ])
    .knee();
    assert_eq!(
        (knee.kept_up_per_s, knee.failed_per_s),
        (Some(500.0), Some(1_000.0))
    );
    let mut inconsistent = step_result(500.0, None, 8_000);
    inconsistent.accounting.consistent = false;
    inconsistent.accounting.problems = vec!["3 accepted cases were not stored".into()];
    let knee = path(vec![inconsistent]).knee();
    assert_eq!(knee.kept_up_per_s, None);
    assert_eq!(
        knee.failed_because.as_deref(),
        Some("3 accepted cases were not stored")
    );
}

fn sweep_opts(args: &[&str]) -> SweepOpts {
    let all = ["brokerbench", "sweep"].iter().chain(args);
    match <crate::Opts as clap::Parser>::parse_from(all).command {
        crate::Command::Sweep(opts) => *opts,
        other => panic!("parsed {other:?}"),
    }
}

/// The rates a sweep visits on a path that keeps up below `limit` and falls behind above.
fn walk(opts: &SweepOpts, limit: f64) -> Vec<f64> {
    let (mut good, mut bad, mut rate, mut visited) = (None, None, opts.start_rate, vec![]);
    loop {
        visited.push(rate);
        if rate < limit {
            good = Some(rate)
        } else {
            bad = Some(rate)
        }
        match next_rate(good, bad, opts) {
            Some(next) => rate = next,
            None => return visited,
        }
    }
}

#[test]
fn the_sweep_bisects_until_the_knee_is_known_within_ten_percent() {
    let opts = sweep_opts(&["--start-rate=500", "--max-rate=4000"]);
    assert_eq!(
        walk(&opts, 1_300.0),
        [500.0, 1_000.0, 2_000.0, 1_500.0, 1_250.0, 1_375.0]
    );
    for limit in [700.0, 1_300.0, 2_900.0, 3_700.0] {
        let visited = walk(&opts, limit);
        let kept = visited
            .iter()
            .copied()
            .filter(|r| *r < limit)
            .fold(0.0, f64::max);
        let failed = visited
            .iter()
            .copied()
            .filter(|r| *r >= limit)
            .fold(f64::MAX, f64::min);
        assert!(
            failed <= kept * 1.1,
            "limit {limit}: kept {kept}, failed {failed} after {visited:?}"
        );
    }
    let coarse = sweep_opts(&["--start-rate=500", "--bisect-within=50"]);
    assert_eq!(walk(&coarse, 1_300.0), [500.0, 1_000.0, 2_000.0, 1_500.0]);
}

#[test]
fn the_sweep_tries_its_top_rate_and_stops_there() {
    let opts = sweep_opts(&["--start-rate=500", "--max-rate=3000"]);
    assert_eq!(walk(&opts, 1e9), [500.0, 1_000.0, 2_000.0, 3_000.0]);
    assert!(
        <crate::Opts as clap::Parser>::try_parse_from([
            "brokerbench",
            "sweep",
            "--bisect-within=0"
        ])
        .is_err()
    );
}

/// `run --sweep-to`'s walk: the top rate second, then bisection; on a path that keeps up at the
/// top, two steps instead of four (`make bench`: six steps fewer on three paths).
#[test]
fn a_top_first_sweep_offers_its_top_rate_second_and_then_bisects() {
    let opts = sweep_opts(&["--start-rate=500", "--max-rate=4000", "--top-first"]);
    assert_eq!(walk(&opts, 1e9), [500.0, 4_000.0]);
    assert_eq!(
        walk(&opts, 3_700.0),
        [500.0, 4_000.0, 2_250.0, 3_125.0, 3_562.5, 3_781.25]
    );
    assert_eq!(walk(&opts, 400.0), [500.0]);
}

#[test]
fn a_path_that_never_failed_has_no_failed_step() {
    let knee = path(vec![step_result(500.0, None, 8_000)]).knee();
    assert_eq!((knee.kept_up_per_s, knee.failed_per_s), (Some(500.0), None));
}
