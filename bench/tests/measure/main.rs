//! The tests that measure timing (calibration of the instrument, significance of differences,
//! saturation): each takes [`EXCLUSIVE`] so that they never share the two cores with each other.
//! The other integration tests are in another binary, which `cargo test` runs before or after
//! this one, never at the same time.

#[path = "../support/mod.rs"]
mod support;

mod attached;
mod attribution;
mod calibration;
mod cluster_nats;
mod compare_significance;
mod cost;
mod faults;
mod subscriber_replicas;
mod sweep_compare;

/// Held by every test of this binary for its whole length.
pub static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
