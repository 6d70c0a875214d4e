//! The clocks table: how far the ingress's and each subscriber's clocks were from the runner's,
//! and the most that can put into e2e, beside e2e p50.

use brokerbench_common::latency::LatencyMetric;
use maud::{Markup, html};

use super::data::RunData;
use super::layout::row_name;
use crate::results::clock::{ComponentClock, e2e_bound_us};
use crate::results::role::Role;
use crate::results::summary::PathResult;

/// `+0.012 ± 0.045` (ms), `corrected` when the run took the offset off its latencies, or `-`
/// without a reading.
fn offset(clock: Option<&ComponentClock>) -> String {
    clock.map_or("-".into(), |c| {
        let corrected = if c.corrected() { ", corrected" } else { "" };
        format!(
            "{:+.3} ± {:.3}{corrected}",
            c.offset_us / 1e3,
            c.uncertainty_us / 1e3
        )
    })
}

fn row(p: &PathResult, repeated: bool) -> Markup {
    // An attached pipeline may have several ingress replicas: one line each.
    let ingresses: Vec<&ComponentClock> = (p.clocks.iter())
        .filter(|c| c.role == Role::Ingress)
        .collect();
    let subscriber = (p.clocks.iter()).find(|c| matches!(c.role, Role::Subscriber(_)));
    let p50_us = p.latencies.get(&LatencyMetric::E2e).map(|l| l.p50 as f64);
    let bound_us = e2e_bound_us(&p.clocks);
    // The verdict's own rule, so the mark and the ranking never disagree.
    let too_far = crate::analysis::verdict::e2e_clock_doubt(p).is_some();
    html! {
        tr {
            td.l { (row_name(p, repeated)) }
            td {
                @if ingresses.is_empty() { "-" }
                @for (i, clock) in ingresses.iter().enumerate() {
                    @if i > 0 { br; }
                    (offset(Some(clock)))
                }
            }
            td { (offset(subscriber)) }
            td.bad[too_far] { (bound_us.map_or("-".into(), |b| format!("{:.3}", b / 1e3))) }
            td { (p50_us.map_or("-".into(), |v| format!("{:.3}", v / 1e3))) }
        }
    }
}

pub fn table(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let paths: Vec<&PathResult> = run
        .summary
        .paths
        .iter()
        .filter(|p| !p.clocks.is_empty())
        .collect();
    if paths.is_empty() {
        return html! {};
    }
    html! {
        h3 { "Clocks (ms, against the runner's)" }
        table id="clocks-table" {
            thead { tr { th.l { "path" } th { "ingress" } th { "subscriber" } th { "e2e may be off by" } th { "e2e p50" } } }
            tbody { @for p in &paths { (row(p, repeated)) } }
        }
        p.muted { "Each clock read 8 times before the load; the estimate of the shortest round trip, ± half of it. An offset beyond its uncertainty is taken off every latency that ends on that clock (e2e and delivery: corrected); one within it is left, as on one host, where it is noise. e2e starts on the runner's clock (the intended send time) and ends on the subscriber's, so it may be off by up to the bound shown; beyond 10 % of its p50 the path is not ranked on e2e (marked)." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_common::settings::Middleware;

    #[test]
    fn a_path_whose_clocks_may_be_far_apart_is_marked() {
        let mut p = crate::results::summary::tests::sample().paths.remove(0);
        let clock = |role, offset_us, uncertainty_us| ComponentClock {
            role,
            offset_us,
            uncertainty_us,
        };
        p.clocks = vec![
            clock(Role::Ingress, 0.0, 20.0),
            clock(Role::Subscriber(Middleware::Nats), 5.0, 40_000.0),
        ];
        let html = row(&p, false).into_string();
        assert!(html.contains("+0.005 ± 40.000<"), "{html}");
        assert!(html.contains(r#"class="bad">40.005"#), "{html}");
        p.clocks[1] = clock(Role::Subscriber(Middleware::Nats), 40_000.0, 20.0);
        let html = row(&p, false).into_string();
        assert!(html.contains("+40.000 ± 0.020, corrected"), "{html}");
        assert!(
            !html.contains("bad"),
            "corrected, off by 0.020 at most: {html}"
        );
    }

    #[test]
    fn every_ingress_replica_has_its_clock_shown() {
        let mut p = crate::results::summary::tests::sample().paths.remove(0);
        let clock = |role, offset_us| ComponentClock {
            role,
            offset_us,
            uncertainty_us: 20.0,
        };
        p.clocks = vec![
            clock(Role::Ingress, 1_000.0),
            clock(Role::Ingress, -2_000.0),
            clock(Role::Subscriber(Middleware::Nats), 0.0),
        ];
        let html = row(&p, false).into_string();
        assert!(
            html.contains("+1.000 ± 0.020, corrected<br>-2.000 ± 0.020, corrected<"),
            "{html}"
        );
    }
}
