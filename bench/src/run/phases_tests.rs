//! The drain's readings and the quiet watch, on synthetic ticks.

use brokerbench_common::counter::CounterMetric as C;

use super::*;
use crate::analysis::synthetic::TickBuilder;

const PATHS: [Middleware; 2] = [Middleware::Nats, Middleware::Redis];

/// The ingress accepted 100; each path received, stored, dead-lettered and found duplicate
/// as given.
fn tick(per_path: [(u64, u64, u64, u64); 2]) -> TickBuilder {
    let tick = TickBuilder::at(0.0, &PATHS).ingress(C::Accepted, None, 100);
    PATHS
        .iter()
        .zip(per_path)
        .fold(tick, |t, (&m, (received, stored, dead, dups))| {
            t.subscriber(m, C::Received, received)
                .subscriber(m, C::Stored, stored)
                .subscriber(m, C::DeadLettered, dead)
                .subscriber(m, C::Duplicates, dups)
        })
}

#[test]
fn the_backlog_counts_dead_letters_as_settled_on_every_path() {
    let t = tick([(100, 90, 5, 0), (100, 100, 0, 2)]).build();
    assert_eq!(backlog(&t), Some((5, 100 + 95 + 100 + 100 + 2)));
    let t = tick([(100, 100, 0, 0), (100, 100, 0, 0)]).build();
    assert_eq!(backlog(&t).map(|(behind, _)| behind), Some(0));
}

#[test]
fn an_unreadable_component_leaves_the_backlog_unknown() {
    let sound = || tick([(100, 100, 0, 0), (100, 100, 0, 0)]);
    assert_eq!(
        backlog(&sound().subscriber_unreadable(PATHS[1]).build()),
        None
    );
    assert_eq!(backlog(&sound().ingress_unreadable().build()), None);
}

#[test]
fn quiet_means_nothing_behind_and_no_activity_for_the_whole_period() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut watch = QuietWatch::new(Duration::from_millis(1_000));
    assert_eq!(watch.read(Some((3, 10)), at(0)), Reading::Behind(3));
    assert_eq!(watch.read(Some((0, 13)), at(500)), Reading::Settling);
    assert_eq!(watch.read(Some((0, 13)), at(1_400)), Reading::Settling);
    // A late redelivery moves the activity total: the quiet period starts again.
    assert_eq!(watch.read(Some((0, 14)), at(1_600)), Reading::Settling);
    assert_eq!(watch.read(Some((0, 14)), at(2_500)), Reading::Settling);
    assert_eq!(watch.read(Some((0, 14)), at(2_600)), Reading::Quiet);
}

#[test]
fn a_stranger_document_cannot_end_the_drain_early() {
    // The counters say all 100 are stored (one of them is a document nobody accepted).
    let mut readings = StoreReadings::default();
    assert_eq!(readings.plan(0, 300), StorePlan::Read);
    readings.record(300, 1);
    // The store said one accepted id is missing: it stays missing while nothing moves.
    assert_eq!(readings.plan(0, 300), StorePlan::Known(1));
    assert_eq!(readings.plan(0, 300), StorePlan::Known(1));
    // A redelivery moves the activity: read again.
    assert_eq!(readings.plan(0, 302), StorePlan::Read);
}

#[test]
fn a_write_that_landed_after_its_timeout_settles_when_the_counters_stall() {
    // The counters stay one behind: the redelivery of the landed case counted a duplicate.
    let mut readings = StoreReadings::default();
    assert_eq!(readings.plan(1, 290), StorePlan::Counted(1));
    assert_eq!(readings.plan(1, 299), StorePlan::Counted(1));
    assert_eq!(readings.plan(1, 299), StorePlan::Read);
    readings.record(299, 0);
    assert_eq!(readings.plan(1, 299), StorePlan::Known(0));
    let mut watch = QuietWatch::new(Duration::from_millis(1_000));
    let t0 = Instant::now();
    assert_eq!(watch.read(Some((0, 299)), t0), Reading::Settling);
    let later = t0 + Duration::from_millis(1_000);
    assert_eq!(watch.read(Some((0, 299)), later), Reading::Quiet);
}

#[test]
fn an_unreadable_reading_restarts_the_quiet_period() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut watch = QuietWatch::new(Duration::from_millis(1_000));
    assert_eq!(watch.read(Some((0, 5)), at(0)), Reading::Settling);
    assert_eq!(watch.read(None, at(600)), Reading::Unreadable);
    assert_eq!(watch.read(Some((0, 5)), at(1_200)), Reading::Settling);
    assert_eq!(watch.read(Some((0, 5)), at(2_100)), Reading::Settling);
    assert_eq!(watch.read(Some((0, 5)), at(2_200)), Reading::Quiet);
}
