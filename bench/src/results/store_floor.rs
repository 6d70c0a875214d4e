//! The floor under every store figure: PostgreSQL's own commit latency, when the store is
//! FerretDB on the stack's PostgreSQL. A case is stored when the sink's write is committed, and
//! every write FerretDB makes is at least one PostgreSQL commit (its WAL flushed to disk), so
//! no store latency can be below what a client sees a single-row insert commit in.

use serde::{Deserialize, Serialize};

/// Single-row inserts into a table of their own, each its own transaction, timed by `psql`
/// (`\timing`: from sending the statement to its answer, over the same loopback connection
/// FerretDB uses) just before the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFloor {
    /// How many inserts were timed.
    pub commits: u32,
    /// Milliseconds.
    pub p50_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// `SHOW server_version`.
    pub server_version: String,
    /// `SHOW fsync`: `on` when a commit waits for the disk.
    pub fsync: String,
    /// `SHOW synchronous_commit`: `on` when a commit waits for its WAL flush.
    pub synchronous_commit: String,
}

impl StoreFloor {
    /// Whether each commit waited for the disk (else the figure is no durable floor).
    pub fn durable(&self) -> bool {
        self.fsync == "on" && self.synchronous_commit == "on"
    }

    /// `single-row insert, fsync on` or what the settings were instead.
    pub fn what(&self) -> String {
        if self.durable() {
            "single-row insert, fsync on".into()
        } else {
            format!(
                "single-row insert, fsync {}, synchronous_commit {}: not durable",
                self.fsync, self.synchronous_commit
            )
        }
    }
}
