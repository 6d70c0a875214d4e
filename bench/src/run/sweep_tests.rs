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

#[test]
fn the_knee_precision_is_a_percentage_above_zero() {
    assert_eq!(sweep_opts(&["--bisect-within=25"]).bisect_within, 25.0);
    for refused in [
        "--bisect-within=0",
        "--bisect-within=101",
        "--bisect-within=x",
    ] {
        let parsed =
            <crate::Opts as clap::Parser>::try_parse_from(["brokerbench", "sweep", refused]);
        assert!(parsed.is_err(), "{refused} was accepted");
    }
}

#[test]
fn a_path_that_never_failed_has_no_failed_step() {
    let knee = path(vec![step_result(500.0, None, 8_000)]).knee();
    assert_eq!((knee.kept_up_per_s, knee.failed_per_s), (Some(500.0), None));
}
