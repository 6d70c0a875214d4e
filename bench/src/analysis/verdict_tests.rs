use super::*;
use crate::results::attribution::{Attribution, Backlog, Stage};
use crate::results::loss::LossById;

#[test]
fn one_run_each_is_never_called_distinguishable() {
    let samples = Samples::from([(Middleware::Nats, vec![5.0]), (Middleware::Grpc, vec![6.0])]);
    assert_eq!(raw_p(&samples, false), None);
    let a = answer("q", "ms", &samples, false, None).expect("an answer");
    assert_eq!(a.ranking[0].0, Middleware::Nats);
    assert!(
        a.text
            .contains("not testable with 1 run(s) each (5 repeats each needed)"),
        "{}",
        a.text
    );
}

#[test]
fn five_clearly_separated_repeats_are_distinguishable() {
    let samples = Samples::from([
        (Middleware::Nats, vec![5.0, 5.1, 5.2, 5.0, 5.1]),
        (Middleware::Redis, vec![9.0, 9.1, 9.3, 9.2, 9.0]),
    ]);
    let p = raw_p(&samples, false).expect("testable");
    assert!(p < ALPHA, "p = {p}");
    let higher = answer("q", "/s", &samples, true, Some(p)).expect("an answer");
    assert_eq!(higher.ranking[0].0, Middleware::Redis);
    assert!(higher.text.contains("beyond noise"), "{}", higher.text);
}

fn run_of(m: Middleware, p99_us: u64, limited: Option<Stage>) -> PathResult {
    let mut r = crate::results::summary::tests::sample().paths.remove(0);
    r.middleware = m;
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

#[test]
fn a_path_that_fell_behind_or_lost_cases_is_not_ranked_on_latency() {
    let mut lossy = run_of(Middleware::Redis, 1_000, None);
    lossy.loss = Some(LossById {
        lost: 3,
        ..LossById::default()
    });
    let mut dead = run_of(Middleware::Pubsub, 800, None);
    dead.e2e_census = Some(crate::results::loss::E2eCensus {
        dead_lettered: 2,
        ..Default::default()
    });
    let paths = [
        run_of(Middleware::Grpc, 500, Some(Stage::Ingress)),
        run_of(Middleware::Nats, 9_000, None),
        run_of(Middleware::Rabbitmq, 7_000, None),
        dead,
        lossy,
    ];
    let answers = verdict(&paths, &[], None);
    let latency = &answers[0];
    let ranked: Vec<Middleware> = latency.ranking.iter().map(|(m, _)| *m).collect();
    assert_eq!(ranked, [Middleware::Rabbitmq, Middleware::Nats]);
    assert!(
        latency
            .text
            .ends_with("not ranked: grpc: fell behind (ingress), pubsub: 2 cases dead-lettered, redis: 3 cases lost"),
        "{}",
        latency.text
    );
}

#[test]
fn a_late_generator_is_said_in_the_latency_answer() {
    let on_time = verdict(&[run_of(Middleware::Nats, 1_000, None)], &[], None);
    assert!(!on_time[0].text.contains("late"), "{}", on_time[0].text);
    let mut late = run_of(Middleware::Pubsub, 2_000, None);
    let mut h = brokerbench_common::metrics::new_histogram();
    h.record(3_240).expect("in range");
    late.latencies.insert(
        LatencyMetric::GeneratorLateness,
        crate::results::summary::LatencySummary::of(&h),
    );
    let answers = verdict(&[run_of(Middleware::Nats, 1_000, None), late], &[], None);
    assert!(
        answers[0]
            .text
            .ends_with("; the generator ran late on pubsub (p99 3.24 ms): their latencies include its delay (this host could not keep it on time)"),
        "{}",
        answers[0].text
    );
}

#[test]
fn the_rate_answer_is_the_knee_and_never_a_ceiling() {
    let knee = |m, kept: Option<f64>, failed: Option<f64>| Knee {
        middleware: m,
        kept_up_per_s: kept,
        e2e_p50_us: None,
        e2e_p99_us: None,
        failed_per_s: failed,
        failed_because: failed.map(|_| "broker".to_string()),
    };
    let none = verdict(&[run_of(Middleware::Nats, 1, None)], &[], None);
    assert!(
        none[1].text.starts_with("not measured in this run"),
        "{}",
        none[1].text
    );
    assert!(none[1].ranking.is_empty());
    let knees = [
        knee(Middleware::Nats, Some(2_000.0), Some(3_000.0)),
        knee(Middleware::Grpc, Some(4_000.0), None),
        knee(Middleware::Redis, None, Some(500.0)),
        knee(Middleware::Pubsub, Some(4_000.0), None),
    ];
    let a = verdict(&[run_of(Middleware::Nats, 1, None)], &knees, None);
    assert_eq!(
        a[1].ranking,
        [
            (Middleware::Grpc, 4_000.0),
            (Middleware::Pubsub, 4_000.0),
            (Middleware::Nats, 2_000.0)
        ]
    );
    assert_eq!(
        a[1].text,
        "grpc, pubsub kept up at 4000/s, the sweep's top; \
         nats kept up at 2000/s, fell behind at 3000/s (broker); kept up at no step: redis"
    );
}

#[test]
fn a_path_whose_clocks_may_be_far_apart_is_not_ranked_on_latency() {
    use crate::results::clock::ComponentClock;
    use crate::results::role::Role;
    let clock = |role, offset_us, uncertainty_us| ComponentClock {
        role,
        offset_us,
        uncertainty_us,
    };
    let p50_us = |p: &PathResult| p.latencies[&LatencyMetric::E2e].p50 as f64;
    let mut close = run_of(Middleware::Nats, 9_000, None);
    let tenth = 0.1 * p50_us(&close);
    // 50 ms off, measurably: corrected, and then off by no more than its uncertainty.
    close.clocks = vec![
        clock(Role::Ingress, 0.0, 40.0),
        clock(Role::Subscriber(Middleware::Nats), 50_000.0, tenth - 50.0),
    ];
    let mut apart = run_of(Middleware::Redis, 1_000, None);
    apart.clocks = vec![clock(
        Role::Subscriber(Middleware::Redis),
        0.0,
        tenth + 40.0,
    )];
    let answers = verdict(&[close, apart], &[], None);
    let ranked: Vec<Middleware> = answers[0].ranking.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        ranked,
        [Middleware::Nats],
        "within 10 % of p50 ranks; beyond does not"
    );
    assert!(
        answers[0].text.contains("redis: its clocks may be up to"),
        "{}",
        answers[0].text
    );
}
