//! What keeps a subscriber from doing its job right now, for its `/healthz`.

use std::fmt::Display;
use std::sync::Mutex;

use brokerbench_common::settings::Middleware;

/// The last transient failure of the store and of the source, each until it recovers. Shared
/// between the sink, the source and the HTTP server; every part only ever replaces its own text.
#[derive(Debug, Default)]
pub struct Health {
    store: Mutex<Option<String>>,
    source: Mutex<Option<String>>,
}

impl Health {
    /// One line per part that is not ready (`store: …`, `<middleware>: reconnecting: …`); empty
    /// when the subscriber is ready.
    pub fn not_ready(&self, middleware: Middleware) -> Vec<String> {
        let store = read(&self.store).map(|e| format!("store: {e}"));
        let source = read(&self.source).map(|e| format!("{middleware}: reconnecting: {e}"));
        store.into_iter().chain(source).collect()
    }

    /// A write failed for a reason that is not the document's (the store is away or slow).
    pub(crate) fn store_failed(&self, error: &dyn Display) {
        write(&self.store, Some(error.to_string()));
    }

    /// A write succeeded: the store is fine again.
    pub(crate) fn store_ok(&self) {
        write(&self.store, None);
    }

    pub(crate) fn source_reconnecting(&self, error: &dyn Display) {
        write(&self.source, Some(error.to_string()));
    }

    pub(crate) fn source_ok(&self) {
        write(&self.source, None);
    }
}

/// The state stays meaningful if a holder of the lock panicked: it is only ever replaced whole.
fn read(part: &Mutex<Option<String>>) -> Option<String> {
    part.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write(part: &Mutex<Option<String>>, value: Option<String>) {
    *part.lock().unwrap_or_else(|e| e.into_inner()) = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_part_until_it_recovers() {
        let health = Health::default();
        assert!(health.not_ready(Middleware::Nats).is_empty());
        health.store_failed(&"timed out after 5 s");
        health.source_reconnecting(&"connection reset");
        assert_eq!(
            health.not_ready(Middleware::Nats),
            [
                "store: timed out after 5 s",
                "nats: reconnecting: connection reset"
            ]
        );
        health.store_ok();
        health.source_ok();
        assert!(health.not_ready(Middleware::Nats).is_empty());
    }
}
