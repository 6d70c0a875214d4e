//! The results format: what a run, a sweep and `ceilings` write, and what the report, `compare`
//! and `serve` read. Plain data with its file I/O and nothing asynchronous, so that every reader
//! depends on the format alone, never on the instrument that produced it. Documented field by
//! field in results/README.md.

pub mod attached;
pub mod attribution;
pub mod ceilings;
pub mod clock;
pub mod faults;
pub mod figures;
pub mod files;
pub mod generator;
pub mod knee;
pub mod loss;
pub mod resilience;
pub mod resources;
pub mod role;
pub mod rows;
pub mod store_floor;
pub mod summary;
pub mod verdict;
