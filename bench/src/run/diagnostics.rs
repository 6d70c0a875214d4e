//! The run's diagnostic interventions, which calibrate the instrument: the holds toggled off
//! and on during the measure phase, and the ingress stalled (`--stall-at`).

use std::time::Duration;

use anyhow::Context as _;
use brokerbench_common::envelope::now_ns;
use brokerbench_common::settings::Middleware;
use tokio::time::Instant;

use super::RunOpts;
use super::sampler::Sampler;
use crate::analysis::calibration::HoldToggle;
use crate::processes::children::{RoleProcess, signal};

/// Switches the subscribers' batch hold and the ingress's answer hold (those the run has) on or
/// off (the answer hold between its base and base + hold); the toggle's time is taken once every
/// role answered, so the new setting holds from it.
pub(super) async fn toggle_holds(
    opts: &RunOpts,
    sampler: &Sampler,
    subscribers: &[(Middleware, String)],
    on: bool,
) -> anyhow::Result<HoldToggle> {
    let ms = |base: f64, hold: f64| if on { base + hold } else { base };
    let mut targets = Vec::new();
    if opts.hold_batch_ms > 0.0 {
        targets.extend(
            subscribers
                .iter()
                .map(|(_, url)| (url.as_str(), ms(0.0, opts.hold_batch_ms))),
        );
    }
    if opts.hold_answer_ms > 0.0 {
        let base = crate::analysis::calibration::ANSWER_HOLD_BASE_MS;
        let hold = ms(base, opts.hold_answer_ms);
        targets.extend(sampler.ingress_urls.iter().map(|url| (url.as_str(), hold)));
    }
    for (url, ms) in targets {
        sampler
            .client
            .post(format!("{url}/diag/hold?ms={ms}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("cannot toggle the hold")?;
    }
    Ok(HoldToggle {
        at_ns: now_ns(),
        on,
    })
}

/// `--stall-at`: stops the ingress (SIGSTOP) for `--stall-ms` that many seconds into the measure
/// phase.
pub(super) fn schedule_stall(opts: &RunOpts, ingress: &RoleProcess, measure_start: Instant) {
    let (Some(at), Some(pid)) = (opts.stall_at, ingress.pid()) else {
        return;
    };
    let stall = Duration::from_millis(opts.stall_ms);
    let when = measure_start + Duration::from_secs_f64(at.max(0.0));
    tokio::spawn(async move {
        tokio::time::sleep_until(when).await;
        signal(pid, "STOP");
        tokio::time::sleep(stall).await;
        signal(pid, "CONT");
    });
}
