//! The delivery limit: a case the store refused that many times is set aside in the path's
//! `dead_<middleware>` collection and acknowledged, so that one bad document cannot be
//! redelivered forever.
//!
//! Refusals are counted here, in memory, by case id: a restart forgets them, which costs at most
//! `limit` more attempts per bad case. Only refusals of the document itself count; a store that
//! is away refuses nothing (see [`crate::failure`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brokerbench_common::envelope::Envelope;
use brokerbench_common::settings::Middleware;
use mongodb::bson::{DateTime, Document, doc, to_bson};

/// Above this many counted cases, those not refused for [`FORGET_AFTER`] are dropped: cases that
/// are not redelivered under the same id (core NATS cannot redeliver; a gRPC caller may retry
/// under new ids) must not grow the table forever.
const PRUNE_ABOVE: usize = 10_000;
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// The collection where the subscriber of `middleware` sets refused cases aside.
pub fn collection(middleware: Middleware) -> String {
    format!("dead_{}", middleware.name())
}

/// Refusals per case id, for the cases that were refused and are neither stored nor set aside.
#[derive(Debug)]
pub struct Attempts {
    limit: u32,
    refused: Mutex<HashMap<String, Refusals>>,
}

#[derive(Debug)]
struct Refusals {
    count: u32,
    last: Instant,
}

impl Attempts {
    /// Sets a case aside at its `limit`th refusal (at least the first).
    pub fn new(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            refused: Mutex::default(),
        }
    }

    /// Counts one more refusal of case `id`: the refusals so far, and whether that reaches the
    /// limit.
    pub fn refused(&self, id: &str) -> (u32, bool) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() > PRUNE_ABOVE {
            refused.retain(|_, r| r.last.elapsed() < FORGET_AFTER);
        }
        let entry = refused.entry(id.to_owned()).or_insert(Refusals {
            count: 0,
            last: Instant::now(),
        });
        entry.count += 1;
        entry.last = Instant::now();
        (entry.count, entry.count >= self.limit)
    }

    /// Case `id` is stored or set aside: its refusals no longer matter.
    pub fn forget(&self, id: &str) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if !refused.is_empty() {
            refused.remove(id);
        }
    }
}

/// The dead letter of a case: `case_json` is the case as JSON text, so that what the store
/// refused (a control character, say) is kept escaped, as text any store takes.
pub fn document(
    envelope: &Envelope,
    middleware: Middleware,
    error: &str,
    attempts: u32,
    dead_at: DateTime,
) -> Document {
    let case_json = match to_bson(&envelope.case) {
        Ok(case) => case.into_relaxed_extjson().to_string(),
        Err(e) => format!("the case could not be serialized: {e}"),
    };
    doc! {
        "_id": &envelope.id,
        "case_json": case_json,
        "error": error,
        "attempts": i64::from(attempts),
        "route": middleware.name(),
        "accepted_at": DateTime::from_millis(envelope.accepted_at_ns / 1_000_000),
        "dead_at": dead_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_common::envelope::Case;

    #[test]
    fn the_limit_is_reached_at_the_limitth_refusal_and_forgotten_after() {
        let attempts = Attempts::new(3);
        assert_eq!(attempts.refused("a"), (1, false));
        assert_eq!(attempts.refused("b"), (1, false));
        assert_eq!(attempts.refused("a"), (2, false));
        assert_eq!(attempts.refused("a"), (3, true));
        attempts.forget("a");
        assert_eq!(attempts.refused("a"), (1, false));
        assert_eq!(Attempts::new(0).refused("c"), (1, true));
    }

    #[test]
    fn the_dead_letter_keeps_the_case_as_escaped_json() {
        let case = Case {
            name: "bad\u{0}name".into(),
            location: "Petén".into(),
            age: 7,
            infectedtype: "imported".into(),
            state: "symptomatic".into(),
        };
        let envelope = Envelope::accept(case, 1_700_000_000_000_000_000, None);
        let dead = document(
            &envelope,
            Middleware::Nats,
            "code 1: refused",
            5,
            DateTime::now(),
        );
        assert_eq!(dead.get_str("_id").expect("_id"), envelope.id);
        let json = dead.get_str("case_json").expect("case_json");
        assert!(json.contains(r#""name":"bad\u0000name""#), "{json}");
        assert!(!json.contains('\u{0}'));
        assert_eq!(dead.get_i64("attempts"), Ok(5));
        assert_eq!(dead.get_str("route"), Ok("nats"));
        assert_eq!(dead.get_str("error"), Ok("code 1: refused"));
    }
}
