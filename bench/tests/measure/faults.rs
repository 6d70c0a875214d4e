//! Faults on the real local stack: each run offers 500 cases/s, 20 s unless a test needs less,
//! with the fault a few seconds into the measure phase, and loss is counted by id (accepted ids
//! against the store's `_id`s).
//! Brokers and the store are signalled through `scripts/stack`, so these tests take the
//! exclusive lock like every test of this binary: nothing else uses the stack meanwhile.

use brokerbench::results::resources::{ProcessCost, UsageSource};
use brokerbench::results::role::Role;
use brokerbench::results::summary::{PathResult, Summary};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use crate::calibration::{path, run};

/// Redeliveries after a killed subscriber wait for the ack deadline (JetStream 30 s; the Pub/Sub
/// emulator about 20 s, twice the subscriber's 10 s lease extension), so the drain may take that
/// long.
const REDELIVERY_DRAIN: &str = "--drain-timeout=150";

async fn with_fault(middlewares: &str, fault: &str, extra: &[&str]) -> Summary {
    let duration = if extra.iter().any(|a| a.starts_with("--duration")) {
        None
    } else {
        Some("--duration=20".to_string())
    };
    let mut args = vec![
        format!("--middlewares={middlewares}"),
        "--rate=500".into(),
        "--warmup=1".into(),
        format!("--fault={fault}"),
    ];
    args.extend(duration);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args).await
}

/// Every fault was applied and undone, the ingress answered 2xx again after each without a
/// restart, and every accepted case is in the store.
fn recovered_without_loss(summary: &Summary, m: Middleware) -> &PathResult {
    let p = path(summary, m);
    let loss = p.loss.as_ref().expect("loss counted by id");
    println!("{m}: {loss:?}");
    assert!(!p.resilience.is_empty(), "{m}: the faults were assessed");
    for r in &p.resilience {
        let kind = r.fault.spec.kind.name();
        println!(
            "{m} {kind}: failed 5xx {} transport {}, slowest {:?} s, first 2xx {:?} s and stored back {:?} s after the fault's end",
            r.failed_5xx,
            r.failed_transport,
            r.slowest_answer_s,
            r.first_accept_after_s,
            r.stored_recovered_after_s
        );
        assert_eq!(r.fault.error, None, "{m} {kind}: applied and undone");
        assert!(r.fault.end_s > r.fault.start_s);
        assert!(
            r.first_accept_after_s.is_some(),
            "{m} {kind}: the ingress accepted again"
        );
    }
    let sent = p.accounting.sent;
    assert!(
        loss.accepted * 2 > sent,
        "{m}: most cases accepted: {} of {sent}",
        loss.accepted
    );
    assert_eq!(loss.lost, 0, "{m}: lost after a 2xx: {:?}", loss.lost_ids);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_loses_no_accepted_case_on_jetstream_and_rabbitmq() {
    // RabbitMQ takes 10–17 s to boot again on 2 busy cores (and `scripts/stack up` waits for
    // rabbitmqctl): its run lasts long enough to see the ingress accept again.
    for (m, duration) in [(Middleware::Nats, 20), (Middleware::Rabbitmq, 40)] {
        let duration = format!("--duration={duration}");
        let summary = with_fault(m.name(), "broker-kill@5+5", &[REDELIVERY_DRAIN, &duration]).await;
        recovered_without_loss(&summary, m);
    }
}

/// Kafka's broker, killed for 5 s: the idempotent producer's retries and the group's committed
/// offsets lose no accepted case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_kafka_broker_loses_no_accepted_case() {
    let summary = with_fault("kafka", "broker-kill@5+5", &[REDELIVERY_DRAIN]).await;
    recovered_without_loss(&summary, Middleware::Kafka);
}

/// Core NATS keeps nothing: whatever it loses is reported, id by id, and adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_core_nats_broker_reports_its_loss_by_id() {
    // What core NATS lost never arrives, so the drain always lasts its timeout: a short one
    // (what the broker took is stored within a second at 500/s).
    let extra = ["--nats-mode=core", "--drain-timeout=8", "--duration=15"];
    let summary = with_fault("nats", "broker-kill@5+5", &extra).await;
    let p = path(&summary, Middleware::Nats);
    let loss = p.loss.as_ref().expect("loss counted by id");
    println!("core NATS: {loss:?}");
    assert_eq!(loss.accepted, loss.stored + loss.lost + loss.dead_lettered);
    assert_eq!(loss.lost_ids.len() as u64, loss.lost.min(20));
    assert!(p.resilience[0].first_accept_after_s.is_some());
}

/// Core NATS cannot redeliver, so the subscriber holds what it received while the store is away
/// and stores it once the store is back: paused for 6 s (longer than the 5 s write timeout, so
/// writes under way fail, though they may still land) and then killed for 3 s (writes under way
/// are lost with the connection). Dropping the failed batches, as the subscriber once did, lost
/// 6 of 10,500 cases in this run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_away_costs_core_nats_nothing_it_received() {
    let extra = [
        "--fault=store-kill@12+3",
        "--nats-mode=core",
        "--drain-timeout=60",
    ];
    let summary = with_fault("nats", "store-pause@3+6", &extra).await;
    let p = recovered_without_loss(&summary, Middleware::Nats);
    assert_eq!(p.resilience.len(), 2, "two faults assessed");
}

/// A paused store: every path keeps its accepted cases, and no request is held beyond the
/// publish timeout (5 s) — gRPC answers 504, the broker paths keep accepting. The pause (7 s)
/// outlasts the publish timeout, and 5 s of load follow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_store_loses_nothing_and_holds_no_request() {
    let all = Middleware::names(",");
    let extra = [REDELIVERY_DRAIN, "--duration=15"];
    let summary = with_fault(&all, "store-pause@3+7", &extra).await;
    for m in Middleware::ALL {
        let p = recovered_without_loss(&summary, m);
        let slowest = p.resilience[0].slowest_answer_s.unwrap_or(0.0);
        assert!(slowest < 7.0, "{m}: an answer took {slowest:.1} s");
    }
    // gRPC's publishes given up on at the publish timeout are timed, not dropped from the figures.
    let grpc = recovered_without_loss(&summary, Middleware::Grpc);
    let failed = &grpc.latencies[&LatencyMetric::PublishErrors];
    assert!(
        failed.count > 0 && failed.count <= grpc.accounting.publish_errors,
        "{} failed publishes timed of {} counted",
        failed.count,
        grpc.accounting.publish_errors
    );
    // The histogram keeps 3 significant digits: 5 s reads as the bucket's low end, 4.997 s.
    assert!(
        failed.min >= 4_995_000,
        "a publish failed after {} µs",
        failed.min
    );
}

/// The faults no other test applies, one after the other on JetStream: a paused broker, a
/// killed store, a killed ingress (the generator re-sends what it did not answer, under the
/// same Idempotency-Key). Nothing accepted is lost, nothing is stored twice under a new id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_broker_a_killed_store_and_a_killed_ingress_lose_nothing_on_jetstream() {
    let later = [
        "--fault=store-kill@8+3",
        "--fault=ingress-kill@16",
        REDELIVERY_DRAIN,
    ];
    let summary = with_fault("nats", "broker-pause@3+3", &later).await;
    let p = recovered_without_loss(&summary, Middleware::Nats);
    assert_eq!(p.resilience.len(), 3, "three faults assessed");
    charged_across_the_restart(p, Role::Ingress, "nats-r0-ingress");
    charged_across_the_restart(p, Role::Store, "mongo");
    let loss = p.loss.as_ref().expect("loss counted by id");
    assert_eq!(loss.unexpected, 0, "{:?}", loss.unexpected_ids);
}

/// A process killed by a fault and started again is still charged to its path, from its cgroup
/// (which the restarted one re-entered), for the whole measure phase: its CPU was read at the
/// phase's end, after the restart (from /proc, the killed pid would have vanished from the
/// samples and the process from `resources`).
fn charged_across_the_restart(p: &PathResult, role: Role, cgroup: &str) {
    let charged: Vec<&ProcessCost> = p.resources.iter().filter(|r| r.role == role).collect();
    println!("{}: {role} charged {charged:?}", p.middleware);
    let restarted = charged
        .iter()
        .find(|r| r.name.contains(&format!("(cgroup {cgroup}")))
        .unwrap_or_else(|| panic!("{}: {role} in cgroup {cgroup}: {charged:?}", p.middleware));
    assert_eq!(restarted.accounted_by, UsageSource::Cgroup, "{restarted:?}");
    assert!(restarted.cpu_seconds > 0.0, "{restarted:?}");
}

/// A killed subscriber: the brokers redeliver what it held (counted as duplicates when it was
/// already stored); on gRPC the generator re-sends the failed requests under the same
/// Idempotency-Key, so each case is stored once under its accepted id. The respawned subscriber
/// is charged to its path together with the killed one. 10 s of load: the replacement answers
/// within a second, and JetStream's and Pub/Sub's redeliveries come after their ack deadlines
/// (30 s, about 20 s) whatever the load's length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscriber_loses_nothing_and_retries_store_each_case_once() {
    let all = Middleware::names(",");
    let extra = [REDELIVERY_DRAIN, "--duration=10"];
    let summary = with_fault(&all, "subscriber-kill@3", &extra).await;
    for m in Middleware::ALL {
        let p = recovered_without_loss(&summary, m);
        charged_across_the_restart(p, Role::Subscriber(m), &format!("{m}-r0-subscriber"));
        counted_across_the_restart(p);
        let loss = p.loss.as_ref().expect("loss counted by id");
        assert_eq!(
            loss.unexpected, 0,
            "{m}: stored under ids never accepted: {:?}",
            loss.unexpected_ids
        );
    }
}

/// The killed subscriber's counts go on in its replacement's: its `stored` counter accounts for
/// every document in the store but those written by the killed process after its last reading
/// (what it held then, `in_hand_at_kills`: the runner froze its writes before that reading) and
/// those whose write landed as it died (found again on redelivery: duplicates). Counted from zero
/// again, it fell short by all the killed process had stored (about 3,000 here); read only once a
/// second before the kill, by up to 500; read before the kill but not frozen, by 0–6 (cases it
/// received and stored in between), which left the run inconsistent.
fn counted_across_the_restart(p: &PathResult) {
    let a = &p.accounting;
    let documents = a.documents.expect("documents counted");
    println!(
        "{}: {documents} documents, stored {} + duplicates {} counted, {} in hand at the kill",
        p.middleware, a.stored, a.duplicates, a.in_hand_at_kills
    );
    assert!(a.stored <= documents, "{}: {a:?}", p.middleware);
    assert!(
        documents <= a.stored + a.duplicates + a.in_hand_at_kills,
        "{}: the stored counter did not go on across the restart: {a:?}",
        p.middleware
    );
    assert!(a.consistent, "{}: {:?}", p.middleware, a.problems);
}
