//! The diagnostic hold: a delay a role adds on purpose, so that the instrument can be checked
//! against a known figure (calibration only; never for real numbers). The subscriber holds each
//! batch before its write, the ingress each answer before it goes out. `POST /diag/hold?ms=N`
//! changes it while running, only on a role started with `--diagnostics`. The diagnostic clock
//! offset does the same for the runner's clock check.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;

/// Longest hold `POST /diag/hold` and the hold options accept, in milliseconds.
pub const MAX_HOLD_MS: f64 = 10_000.0;

/// The hold of one role, shared by whoever waits on it, and whether HTTP may change it.
#[derive(Debug, Clone)]
pub struct Hold {
    role: &'static str,
    enabled: bool,
    us: Arc<AtomicU64>,
}

impl Hold {
    /// A hold of `ms` milliseconds for `role`, changeable over HTTP only if `enabled`.
    pub fn new(role: &'static str, ms: f64, enabled: bool) -> Self {
        Self {
            role,
            enabled,
            us: Arc::new(AtomicU64::new(ms_to_us(ms))),
        }
    }

    /// The microseconds cell itself, for a task that reads it on every wait.
    pub fn cell(&self) -> Arc<AtomicU64> {
        self.us.clone()
    }

    /// The hold now; zero when off.
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.us.load(Ordering::Relaxed))
    }

    /// `POST /diag/hold`.
    pub fn routes<S>(self) -> Router<S> {
        Router::new()
            .route("/diag/hold", post(set_hold))
            .with_state(self)
    }
}

fn ms_to_us(ms: f64) -> u64 {
    (ms.max(0.0) * 1_000.0).round() as u64
}

#[derive(Debug, serde::Deserialize)]
struct HoldQuery {
    ms: f64,
}

/// `POST /diag/hold?ms=N`: change the hold while running. Only with `--diagnostics`, and only a
/// finite hold of at most [`MAX_HOLD_MS`]: a huge one would stop the role for good.
async fn set_hold(
    State(hold): State<Hold>,
    query: Result<Query<HoldQuery>, QueryRejection>,
) -> (StatusCode, String) {
    if !hold.enabled {
        return (
            StatusCode::FORBIDDEN,
            format!(
                "the diagnostic hold is off: start the {} with --diagnostics to change it\n",
                hold.role
            ),
        );
    }
    let ms = match query {
        Ok(Query(q)) => valid_hold_ms(q.ms),
        Err(e) => Err(format!("expected ?ms=<milliseconds>: {e}")),
    };
    match ms {
        Ok(ms) => {
            hold.us.store(ms_to_us(ms), Ordering::Relaxed);
            (StatusCode::OK, format!("hold {ms} ms\n"))
        }
        Err(reason) => (StatusCode::BAD_REQUEST, format!("{reason}\n")),
    }
}

/// A hold a role can come back from: finite, from 0 to [`MAX_HOLD_MS`].
fn valid_hold_ms(ms: f64) -> Result<f64, String> {
    if ms.is_finite() && (0.0..=MAX_HOLD_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "ms must be a finite number of milliseconds from 0 to {MAX_HOLD_MS}, not {ms}"
        ))
    }
}

/// Value parser of the hold options, held to the same bounds as `POST /diag/hold`.
pub fn parse_hold_ms(text: &str) -> Result<f64, String> {
    valid_hold_ms(text.parse().map_err(|e| format!("{e}"))?)
}

/// Largest diagnostic clock offset, either way, in milliseconds (an hour).
const MAX_CLOCK_OFFSET_MS: f64 = 3_600_000.0;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClockDiagOpts {
    /// Diagnostic: this process's clock reads this many milliseconds ahead (negative: behind),
    /// as on a host whose clock is off. Proves the runner's clock check; never for real numbers.
    #[arg(long, env = "BB_DIAG_CLOCK_OFFSET_MS", default_value_t = 0.0,
          allow_negative_numbers = true, value_parser = parse_clock_offset_ms)]
    pub diag_clock_offset_ms: f64,
}

impl ClockDiagOpts {
    /// Sets this process's clock offset: called where the process starts, because it holds for
    /// the whole process (tests run roles in-process and never set it).
    pub fn apply(&self) {
        let ns = (self.diag_clock_offset_ms * 1e6).round() as i64;
        brokerbench_common::clock::set_diagnostic_offset_ns(ns);
    }
}

/// Value parser of the clock offset options: finite, within an hour either way.
pub fn parse_clock_offset_ms(text: &str) -> Result<f64, String> {
    let ms: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if ms.is_finite() && ms.abs() <= MAX_CLOCK_OFFSET_MS {
        Ok(ms)
    } else {
        Err(format!(
            "a clock offset is a finite number of milliseconds within ±{MAX_CLOCK_OFFSET_MS}"
        ))
    }
}
