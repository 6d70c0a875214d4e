//! What an `Idempotency-Key` promises: a retry under the key is the same request. The ingress
//! keeps a fingerprint of each key's body for a while, and a key that comes back with another
//! body is refused (422) instead of storing other cases under the first request's ids. Memory
//! is bounded in entries and time: two generations of at most [`GENERATION`] keys, the older
//! dropped when the newer fills or is [`GENERATION_AGE`] old, so a key is remembered for at
//! least that long or that many later keys, whichever comes first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys per generation (two are kept: about 100 bytes each, so some 20 MB at most).
pub const GENERATION: usize = 100_000;
/// Longest a generation is filled before it becomes the older one.
pub const GENERATION_AGE: Duration = Duration::from_secs(600);

/// The fingerprint of a body: FNV-1a over its bytes.
pub fn fingerprint(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A key seen before with another body.
#[derive(Debug, PartialEq)]
pub struct Reused;

struct Generations {
    current: HashMap<String, u64>,
    older: HashMap<String, u64>,
    started: Instant,
}

pub struct KeyLedger {
    generations: Mutex<Generations>,
    capacity: usize,
    age: Duration,
}

impl Default for KeyLedger {
    fn default() -> Self {
        Self::new(GENERATION, GENERATION_AGE)
    }
}

impl KeyLedger {
    pub fn new(capacity: usize, age: Duration) -> Self {
        Self {
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                older: HashMap::new(),
                started: Instant::now(),
            }),
            capacity: capacity.max(1),
            age,
        }
    }

    /// Records `key` with its body's fingerprint, or says it came before with another body.
    pub fn check(&self, key: &str, body: u64) -> Result<(), Reused> {
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = g.current.get(key).or_else(|| g.older.get(key)).copied();
        match seen {
            Some(first) if first != body => return Err(Reused),
            Some(_) => return Ok(()),
            None => {}
        }
        if g.current.len() >= self.capacity || g.started.elapsed() >= self.age {
            g.older = std::mem::take(&mut g.current);
            g.started = Instant::now();
        }
        g.current.insert(key.to_string(), body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_passes_and_another_body_under_the_key_does_not() {
        let ledger = KeyLedger::default();
        let (a, b) = (fingerprint(b"[{\"age\":3}]"), fingerprint(b"[{\"age\":4}]"));
        assert_ne!(a, b);
        assert_eq!(ledger.check("k1", a), Ok(()));
        assert_eq!(ledger.check("k1", a), Ok(()));
        assert_eq!(ledger.check("k1", b), Err(Reused));
        assert_eq!(ledger.check("k2", b), Ok(()));
    }

    #[test]
    fn memory_is_bounded_to_two_generations() {
        let ledger = KeyLedger::new(2, GENERATION_AGE);
        for key in ["a", "b", "c"] {
            assert_eq!(ledger.check(key, 1), Ok(()));
        }
        // "a" and "b" are the older generation now: still remembered.
        assert_eq!(ledger.check("a", 2), Err(Reused));
        for key in ["d", "e"] {
            assert_eq!(ledger.check(key, 1), Ok(()));
        }
        // Two generations later "a" is forgotten, and the ledger holds at most four keys.
        assert_eq!(ledger.check("a", 2), Ok(()));
        let g = ledger.generations.lock().expect("not poisoned");
        assert!(g.current.len() + g.older.len() <= 4);
    }
}
