//! What keeps a subscriber from doing its job right now, for its `/healthz`.

use std::fmt::Display;
use std::sync::Mutex;

use brokerbench_common::settings::Middleware;

/// The last transient failure of the source, until it recovers. Shared between the source and
/// the HTTP server.
#[derive(Debug, Default)]
pub struct Health {
    source: Mutex<Option<String>>,
}

impl Health {
    /// One line per part that is not ready (`<middleware>: reconnecting: …`); empty when the
    /// subscriber is ready.
    pub fn not_ready(&self, middleware: Middleware) -> Vec<String> {
        let source = read(&self.source).map(|e| format!("{middleware}: reconnecting: {e}"));
        source.into_iter().collect()
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
    fn reports_the_source_until_it_recovers() {
        let health = Health::default();
        assert!(health.not_ready(Middleware::Nats).is_empty());
        health.source_reconnecting(&"connection reset");
        assert_eq!(
            health.not_ready(Middleware::Nats),
            ["nats: reconnecting: connection reset"]
        );
        health.source_ok();
        assert!(health.not_ready(Middleware::Nats).is_empty());
    }
}
