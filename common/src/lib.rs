//! Shared pieces of brokerbench: the case and its validation, the envelope every path carries,
//! latency recording, and the connection settings both sides of each middleware use.

pub mod case;
pub mod casegen;
pub mod clock;
pub mod counter;
pub mod envelope;
pub mod host;
pub mod latency;
pub mod metrics;
pub mod middleware;
pub mod path_settings;
pub mod settings;
mod shallow_json;
pub mod tally;
pub mod trust;
