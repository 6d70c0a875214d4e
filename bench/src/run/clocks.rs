//! Each component's clock against the runner's, estimated as NTP does: the runner notes its own
//! clock, asks for the component's (`GET /clock`) and notes its clock again on the answer. The
//! component read its clock somewhere inside that round trip, so its offset lies within ± half
//! the round trip of `reading − midpoint`; of several probes, the one with the shortest round
//! trip gives the tightest estimate.

use std::time::Duration;

use anyhow::Context as _;
use brokerbench_common::clock::{ClockReading, now_ns};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::Middleware;

use super::group_processes::Endpoints;
use crate::results::clock::ComponentClock;
use crate::results::role::Role;

/// Probes per component: enough that one lands between two scheduler hiccups.
const PROBES: usize = 8;

/// One probe, every time in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// The runner's clock when it asked.
    sent_ns: i64,
    /// The component's clock when it answered.
    read_ns: i64,
    /// The runner's clock when the answer came.
    received_ns: i64,
}

impl Probe {
    fn round_trip_ns(&self) -> i64 {
        self.received_ns - self.sent_ns
    }
}

/// The estimate from the probe with the shortest round trip.
fn estimate(role: Role, probes: &[Probe]) -> Option<ComponentClock> {
    let best = probes.iter().min_by_key(|p| p.round_trip_ns())?;
    let midpoint = best.sent_ns as f64 + best.round_trip_ns() as f64 / 2.0;
    Some(ComponentClock {
        role,
        offset_us: (best.read_ns as f64 - midpoint) / 1e3,
        uncertainty_us: best.round_trip_ns() as f64 / 2e3,
    })
}

async fn probe(client: &reqwest::Client, url: &str) -> anyhow::Result<Probe> {
    let sent_ns = now_ns();
    let reading: ClockReading = client
        .get(format!("{url}/clock"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot read the clock of {url}"))?
        .json()
        .await
        .with_context(|| format!("{url}/clock did not answer a clock reading"))?;
    Ok(Probe {
        sent_ns,
        read_ns: reading.now_ns,
        received_ns: now_ns(),
    })
}

/// The clock of a group run's ingress and every subscriber against the runner's.
pub(super) async fn check_group(
    client: &reqwest::Client,
    endpoints: &Endpoints,
) -> anyhow::Result<Vec<ComponentClock>> {
    let components = (endpoints.ingresses.iter().map(|url| (Role::Ingress, url)))
        .chain((endpoints.subscribers.iter()).map(|(m, url)| (Role::Subscriber(*m), url)));
    let mut clocks = Vec::new();
    for (role, url) in components {
        let mut probes = Vec::with_capacity(PROBES);
        for _ in 0..PROBES {
            probes.push(probe(client, url).await?);
        }
        clocks.extend(estimate(role, &probes));
    }
    Ok(clocks)
}

/// What each subscriber's latencies lose to its clock's offset (see
/// [`ComponentClock::corrected`]): e2e ends on the subscriber's clock and starts on the runner's
/// (the intended send time), delivery starts on the ingress's.
#[derive(Debug, Default)]
pub(super) struct Corrections(Vec<(Middleware, i64, i64)>);

impl Corrections {
    /// With several ingresses (an attached pipeline), delivery is corrected by their mean
    /// offset: a case's ingress is not known per sample, so their spread stays in delivery.
    /// Several subscribers of one path (`--subscribers`) are summed into one reading, so they
    /// are corrected by their mean offset too (the runner starts them on its own host).
    pub fn of(clocks: &[ComponentClock]) -> Self {
        let ingresses: Vec<f64> = (clocks.iter())
            .filter(|c| c.role == Role::Ingress)
            .map(ComponentClock::correction_us)
            .collect();
        let ingress = ingresses.iter().sum::<f64>() / ingresses.len().max(1) as f64;
        let mut subscribers: Vec<(Middleware, Vec<f64>)> = Vec::new();
        for c in clocks {
            let Role::Subscriber(m) = c.role else {
                continue;
            };
            match subscribers.iter_mut().find(|(x, _)| *x == m) {
                Some((_, offsets)) => offsets.push(c.correction_us()),
                None => subscribers.push((m, vec![c.correction_us()])),
            }
        }
        Self(
            (subscribers.into_iter())
                .map(|(m, offsets)| (m, offsets.iter().sum::<f64>() / offsets.len() as f64))
                .map(|(m, sub)| (m, sub.round() as i64, (sub - ingress).round() as i64))
                .filter(|&(_, e2e, delivery)| e2e != 0 || delivery != 0)
                .collect(),
        )
    }

    /// Path `m`'s subscriber figures with its clocks' offsets taken off e2e and delivery; as
    /// read when a histogram does not decode (every figure of it is missing downstream then).
    pub fn apply(&self, m: Middleware, stats: Stats) -> Stats {
        let Some(&(_, e2e_us, delivery_us)) = self.0.iter().find(|(x, _, _)| *x == m) else {
            return stats;
        };
        let shifted = stats
            .clone()
            .shifted(LatencyMetric::E2e, Some(m), e2e_us)
            .and_then(|s| s.shifted(LatencyMetric::Delivery, Some(m), delivery_us));
        shifted.unwrap_or(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe of a clock `offset_ns` ahead, sent at `sent_ns`, read `out_ns` later, answered
    /// `back_ns` after the reading.
    fn probe(offset_ns: i64, sent_ns: i64, out_ns: i64, back_ns: i64) -> Probe {
        Probe {
            sent_ns,
            read_ns: sent_ns + out_ns + offset_ns,
            received_ns: sent_ns + out_ns + back_ns,
        }
    }

    #[test]
    fn the_shortest_round_trip_bounds_the_true_offset() {
        let offset = 40_000_000;
        let probes = [
            probe(offset, 0, 3_000_000, 100_000),
            probe(offset, 10_000_000, 60_000, 140_000),
            probe(offset, 20_000_000, 900_000, 900_000),
        ];
        let clock = estimate(Role::Ingress, &probes).expect("an estimate");
        assert_eq!(clock.uncertainty_us, 100.0, "the 200 µs round trip");
        assert_eq!(
            clock.offset_us,
            40_000.0 - 40.0,
            "one-sided delays bias it..."
        );
        assert!(
            (clock.offset_us - 40_000.0).abs() <= clock.uncertainty_us,
            "...but never beyond the uncertainty"
        );
        assert!(estimate(Role::Ingress, &[]).is_none());
    }

    #[test]
    fn a_clock_behind_reads_negative() {
        let clock = estimate(Role::Store, &[probe(-5_000_000, 1_000, 50_000, 50_000)])
            .expect("an estimate");
        assert_eq!((clock.offset_us, clock.uncertainty_us), (-5_000.0, 50.0));
    }

    #[test]
    fn a_subscriber_clock_ahead_is_taken_off_e2e_and_delivery() {
        use brokerbench_common::metrics::Registry;
        let m = Middleware::Nats;
        let clock = |role, offset_us| ComponentClock {
            role,
            offset_us,
            uncertainty_us: 40.0,
        };
        let clocks = [
            clock(Role::Ingress, 10.0),
            clock(Role::Subscriber(m), 50_000.0),
        ];
        let registry = Registry::new("subscriber");
        registry
            .latency(LatencyMetric::E2e, Some(m))
            .record_us(0, 51_000);
        registry
            .latency(LatencyMetric::Delivery, Some(m))
            .record_us(0, 50_300);
        registry
            .latency(LatencyMetric::Store, Some(m))
            .record_us(0, 700);
        let stats = Corrections::of(&clocks).apply(m, registry.stats());
        let p50 = |metric| {
            let h = stats.histogram(metric, Some(m), None).expect("a histogram");
            h.value_at_quantile(0.5)
        };
        assert!(
            (980..=1_020).contains(&p50(LatencyMetric::E2e)),
            "{}",
            p50(LatencyMetric::E2e)
        );
        assert!((280..=320).contains(&p50(LatencyMetric::Delivery)));
        assert_eq!(
            p50(LatencyMetric::Store),
            700,
            "one clock's span: nothing to take off"
        );
        let unchanged = Corrections::of(&clocks).apply(Middleware::Redis, registry.stats());
        let e2e = unchanged
            .histogram(LatencyMetric::E2e, Some(m), None)
            .expect("e2e");
        assert!(
            e2e.value_at_quantile(0.5) > 50_000,
            "another path's clock is not this one"
        );
    }
}
