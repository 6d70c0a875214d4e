use brokerbench_common::counter::CounterMetric as C;
use brokerbench_common::latency::LatencyMetric as L;
use brokerbench_common::metrics::Phase;
use brokerbench_common::settings::Middleware;

use super::*;
use crate::analysis::synthetic::TickBuilder;
use crate::results::resources::UsageSource;
use crate::results::role::Role;

const M: Middleware = Middleware::Nats;
const OTHER: Middleware = Middleware::Redis;
/// Ticks of a run: warm-up from -2 s, measure 0–10 s, one drain tick at 12 s.
const SECONDS: [f64; 14] = [
    -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0,
];
const BOUNDS: Bounds = Bounds {
    measure_start: 2,
    measure_end: 12,
    last: 13,
};

fn context() -> PathContext {
    PathContext {
        repeat: 1,
        offered: 100.0,
        measure_seconds: 10.0,
        cases_per_request: 1,
        documents: Some(1_200),
        shared_ingress: false,
        drained_quietly: true,
        in_hand_at_kills: 0,
    }
}

/// A sound run at 100 cases/s, one case a request, one path beside `OTHER`: every case
/// accepted, published, received and stored; cumulative counts at `at_s` are 100 × (at_s + 2)
/// until the load ends at 10 s. `extra` adds to each tick.
fn sound_run(extra: impl Fn(TickBuilder, f64) -> TickBuilder) -> Vec<Tick> {
    SECONDS
        .iter()
        .map(|&at| {
            let n = (100.0 * (at.min(10.0) + 2.0)) as u64;
            let tick = TickBuilder::at(at, &[M, OTHER])
                .load(C::SentCases, n)
                .load(C::SentRequests, n)
                .load(C::Http2xx, n)
                .ingress(C::Accepted, None, n)
                .ingress(C::Published, Some(M), n)
                .subscriber(M, C::Received, n)
                .subscriber(M, C::Stored, n);
            extra(tick, at)
        })
        .map(TickBuilder::build)
        .collect()
}

#[test]
fn rates_are_differences_over_the_measure_phase() {
    // 1,000 answered requests intended in the measure phase, 200 in the warm-up; a burst of 500
    // stored in the warm-up's last second.
    let ticks = sound_run(|t, at| {
        let t = if at >= -1.0 {
            t.subscriber(M, C::Stored, 500)
        } else {
            t
        };
        if at < 12.0 {
            return t;
        }
        t.latency(M, L::HttpCorrected, Phase::Measure, 2_000, 1_000)
            .latency(M, L::HttpCorrected, Phase::Warmup, 2_000, 200)
    });
    let result = path_result(M, &ticks, BOUNDS, context());
    assert_eq!(result.rates.stored_per_s, 100.0);
    assert_eq!(result.rates.achieved, 100.0);
    let shifted = Bounds {
        measure_start: 0,
        ..BOUNDS
    };
    let from_warmup = path_result(M, &ticks, shifted, context());
    assert_eq!(from_warmup.rates.stored_per_s, 1_700.0 / 12.0);
}

#[test]
fn latencies_are_those_of_cases_intended_in_the_measure_phase() {
    let with_slow_warmup = |slow_phase: Phase| {
        sound_run(move |t, at| {
            if at < 12.0 {
                return t;
            }
            t.latency(M, L::E2e, Phase::Measure, 5_000, 990).latency(
                M,
                L::E2e,
                slow_phase,
                500_000,
                100,
            )
        })
    };
    let result = path_result(M, &with_slow_warmup(Phase::Warmup), BOUNDS, context());
    let e2e = &result.latencies[&L::E2e];
    assert_eq!(e2e.count, 990);
    assert!(e2e.p99 < 5_100 && e2e.max < 5_100, "{e2e:?}");
    let result = path_result(M, &with_slow_warmup(Phase::Measure), BOUNDS, context());
    assert!(result.latencies[&L::E2e].p99 > 490_000);
}

#[test]
fn a_sound_run_is_consistent() {
    let result = path_result(M, &sound_run(|t, _| t), BOUNDS, context());
    assert!(
        result.accounting.consistent,
        "{:?}",
        result.accounting.problems
    );
    assert_eq!(result.accounting.unstored_at_deadline, 0);
}

/// Breaks one identity of a sound run's accounting.
type Breaks = fn(&mut Accounting);

#[test]
fn every_broken_identity_is_named() {
    let sound = path_result(M, &sound_run(|t, _| t), BOUNDS, context()).accounting;
    let broken: [(&str, Breaks); 7] = [
        ("did not get a 2xx", |a| a.http_2xx -= 1),
        ("unanswered", |a| a.unanswered_requests += 1),
        ("ingress accepted", |a| a.accepted += 1),
        ("published", |a| a.published -= 1),
        ("MongoDB holds", |a| a.documents = Some(7)),
        ("received", |a| a.duplicates += 1),
        ("the drain ended at its deadline", |a| {
            a.drained_quietly = false
        }),
    ];
    for (named, breaks) in broken {
        let mut a = sound.clone();
        breaks(&mut a);
        check_accounting(&mut a, 1, None);
        assert!(!a.consistent, "{named}: still consistent");
        assert!(
            a.problems.iter().any(|p| p.contains(named)),
            "{named} not in {:?}",
            a.problems
        );
    }
    let mut unstored = sound.clone();
    unstored.stored -= 3;
    unstored.documents = Some(unstored.stored);
    check_accounting(&mut unstored, 1, None);
    assert_eq!(unstored.unstored_at_deadline, 3);
    assert!(!unstored.consistent);
}

#[test]
fn by_id_a_write_that_landed_after_its_timeout_is_stored_not_missing() {
    let mut a = path_result(M, &sound_run(|t, _| t), BOUNDS, context()).accounting;
    // The first write of 2 cases timed out but landed; their redeliveries were counted duplicates.
    a.stored -= 2;
    a.duplicates += 2;
    let documents = a.documents.expect("a sound run has a store");
    let loss = LossById {
        accepted: documents,
        stored: documents,
        ..LossById::default()
    };
    check_accounting(&mut a, 1, Some(&loss));
    assert!(a.consistent, "{:?}", a.problems);
    assert_eq!(a.unstored_at_deadline, 0);
    // By the counters alone the same run reads 2 unstored and MongoDB holding too much.
    check_accounting(&mut a, 1, None);
    assert_eq!(a.unstored_at_deadline, 2);
    assert!(!a.consistent);
    // A case the counters call stored but no document holds is still caught.
    let lost = LossById {
        stored: documents - 1,
        lost: 1,
        ..loss
    };
    a.stored += 2;
    a.duplicates -= 2;
    a.documents = Some(documents - 1);
    check_accounting(&mut a, 1, Some(&lost));
    assert_eq!(a.unstored_at_deadline, 1);
    assert!(!a.consistent);
}

#[test]
fn documents_a_killed_subscriber_stored_after_its_last_reading_are_accounted_up_to_what_it_held() {
    let mut a = path_result(M, &sound_run(|t, _| t), BOUNDS, context()).accounting;
    let documents = a.documents.expect("a sound run has a store");
    // The killed process stored 2 cases after its last reading: no counter saw them.
    a.stored -= 2;
    a.received -= 2;
    let loss = LossById {
        accepted: documents,
        stored: documents,
        ..LossById::default()
    };
    check_accounting(&mut a, 1, Some(&loss));
    assert!(
        !a.consistent,
        "without what it held, 2 documents are unexplained"
    );
    assert!(a.problems.iter().any(|p| p.contains("MongoDB holds")));
    a.in_hand_at_kills = 2;
    check_accounting(&mut a, 1, Some(&loss));
    assert!(a.consistent, "{:?}", a.problems);
    a.in_hand_at_kills = 1;
    check_accounting(&mut a, 1, Some(&loss));
    assert!(!a.consistent, "one more than it held is not explained");
    assert!(
        a.problems
            .iter()
            .any(|p| p.contains("killed by faults held 1 at their last reading")),
        "{:?}",
        a.problems
    );
}

#[test]
fn cpu_is_the_measure_phase_of_the_paths_own_processes() {
    // Every process burns its CPU at a constant rate per second since -2 s; the other path's
    // subscriber burns most and must not be charged.
    let ticks = sound_run(|t, at| {
        let s = at + 2.0;
        t.process(Role::Ingress, 1, 0.2 * s, 100)
            .process(Role::Subscriber(M), 2, 0.1 * s, 50)
            .process(Role::Subscriber(OTHER), 3, 5.0 * s, 9_000)
            .process(Role::Broker(M), 4, 0.05 * s, 10)
    });
    let result = path_result(M, &ticks, BOUNDS, context());
    let charged: Vec<u32> = result.resources.iter().map(|r| r.pid).collect();
    assert_eq!(charged, [1, 2, 4]);
    let cpu: f64 = result.resources.iter().map(|r| r.cpu_seconds).sum();
    assert!((cpu - 3.5).abs() < 1e-9, "{cpu}");
    let per_10k = result.cpu_seconds_per_10k_cases.expect("cases were stored");
    assert!((per_10k - 35.0).abs() < 1e-9, "{per_10k}");
}

#[test]
fn disk_writes_are_the_measure_phase_of_the_cgroups_that_count_them() {
    // The store's cgroup writes 4 KiB a second since -2 s: 40 KiB over the 10 s measure phase,
    // in which 1,000 cases were stored. A process read from /proc writes nothing we can see.
    let ticks = sound_run(|t, at| {
        t.process(Role::Ingress, 1, 0.0, 100).cgroup(
            Role::Store,
            5,
            0.0,
            (4096.0 * (at + 2.0)) as u64,
        )
    });
    let result = path_result(M, &ticks, BOUNDS, context());
    let store = result.resources.iter().find(|r| r.pid == 5).expect("store");
    assert_eq!(store.accounted_by, UsageSource::Cgroup);
    assert_eq!(
        store.disk_writes.map(|w| (w.bytes, w.ops)),
        Some((40_960, 10))
    );
    let per_10k = result
        .disk_bytes_per_10k_cases
        .expect("the store's writes count");
    assert!((per_10k - 409_600.0).abs() < 1e-6, "{per_10k}");
    let procfs_only = sound_run(|t, _| t.process(Role::Ingress, 1, 0.0, 100));
    let result = path_result(M, &procfs_only, BOUNDS, context());
    assert_eq!(result.disk_bytes_per_10k_cases, None);
}

#[test]
fn peak_memory_adds_processes_at_the_same_moment_only() {
    // Ingress peaks at 300 KiB at 5 s, the subscriber at 200 KiB at 0 s: 350, never 500.
    let ticks = sound_run(|t, at| {
        let (ingress, sub) = match at {
            0.0 => (100, 200),
            5.0 => (300, 50),
            _ => (10, 10),
        };
        t.process(Role::Ingress, 1, 0.0, ingress)
            .process(Role::Subscriber(M), 2, 0.0, sub)
    });
    let result = path_result(M, &ticks, BOUNDS, context());
    assert_eq!(result.peak_rss_kib, 350);
}

#[test]
fn contention_and_a_late_generator_are_warned() {
    let warnings = |busy_per_s: f64, lateness_us: u64| {
        let ticks = sound_run(move |t, at| {
            let t = t.host_cpu(busy_per_s * (at + 2.0), 2.0 * (at + 2.0));
            if at < 12.0 {
                return t;
            }
            t.latency(M, L::GeneratorLateness, Phase::Measure, lateness_us, 100)
        });
        path_result(M, &ticks, BOUNDS, context()).warnings
    };
    assert!(warnings(1.0, 200).is_empty());
    let both = warnings(1.9, 2_000);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both[0].contains("95 % busy"), "{both:?}");
    assert!(both[1].contains("lateness p99 2.00 ms"), "{both:?}");
}

#[test]
fn a_restarted_process_counts_from_its_restart() {
    let mut earlier = brokerbench_common::metrics::new_histogram();
    earlier.record_n(1_000, 50).expect("in range");
    let mut later = brokerbench_common::metrics::new_histogram();
    later.record_n(1_000, 80).expect("in range");
    assert_eq!(delta(&later, &earlier).len(), 30);
    let mut restarted = brokerbench_common::metrics::new_histogram();
    restarted.record_n(1_000, 20).expect("in range");
    assert_eq!(delta(&restarted, &earlier).len(), 20);
}

#[test]
fn a_series_row_is_the_second_before_its_tick() {
    // Between 4 s and 5 s: 100 stored; the broker holds 40 published but not yet received.
    let ticks = sound_run(|t, at| {
        if at == 5.0 {
            t.ingress(C::Published, Some(M), 40)
        } else {
            t
        }
    });
    let ctx = SeriesContext {
        repeat: 1,
        cases_per_request: 1,
        writers: None,
    };
    let row = timeseries_row(&ticks, 7, M, ctx).expect("a tick before");
    assert_eq!(row.t_s, 5.0);
    assert_eq!(
        (row.offered_per_s, row.accepted_per_s, row.stored_per_s),
        (100.0, 100.0, 100.0)
    );
    assert_eq!(row.broker_backlog, 40.0);
    assert!(timeseries_row(&ticks, 0, M, ctx).is_none());
}
