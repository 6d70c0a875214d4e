//! Parsing of what the `bb_ram` and `bb_procs` kernel modules print.
//!
//! The JSON is the serde form of [`RamInfo`] and [`ProcessSnapshot`]; on
//! top of the syntax, the parsers check the invariants the modules
//! promise, so a module built from other sources (or a truncated read)
//! is reported instead of producing plausible-looking numbers.

use super::HostError;
use super::types::{ProcessSnapshot, RamInfo, TaskCounts, state_word};

/// Parses `/proc/bb_ram`.
pub fn parse_ram_json(text: &str) -> Result<RamInfo, HostError> {
    let ram: RamInfo = serde_json::from_str(text).map_err(|source| HostError::Json {
        what: "bb_ram",
        source,
    })?;
    let expected = RamInfo::from_meminfo_kib(
        ram.total_kib,
        ram.free_kib,
        ram.available_kib,
        ram.buffers_kib,
        ram.cached_kib,
    );
    if ram.used_kib != expected.used_kib {
        return Err(HostError::Inconsistent(format!(
            "bb_ram: used_kib {} is not total_kib - available_kib = {}",
            ram.used_kib, expected.used_kib
        )));
    }
    // The module prints two decimals; serde_json's default float parsing
    // may be one ulp off the correctly rounded value, hence the tolerance.
    if (ram.used_percent - expected.used_percent).abs() > 0.001 {
        return Err(HostError::Inconsistent(format!(
            "bb_ram: used_percent {} is not {}",
            ram.used_percent, expected.used_percent
        )));
    }
    Ok(expected)
}

/// Parses `/proc/bb_procs`.
pub fn parse_procs_json(text: &str) -> Result<ProcessSnapshot, HostError> {
    let snapshot: ProcessSnapshot =
        serde_json::from_str(text).map_err(|source| HostError::Json {
            what: "bb_procs",
            source,
        })?;
    check_snapshot(&snapshot, "bb_procs")?;
    Ok(snapshot)
}

/// Checks what every snapshot must satisfy, whatever its source: state
/// words matching their letters, unique pids and counts that add up.
pub(crate) fn check_snapshot(snapshot: &ProcessSnapshot, what: &str) -> Result<(), HostError> {
    let mut pids = std::collections::HashSet::new();
    for process in &snapshot.processes {
        if let Some(word) = state_word(process.state)
            && word != process.state_word
        {
            return Err(HostError::Inconsistent(format!(
                "{what}: pid {} has state {:?} but state_word {:?}",
                process.pid, process.state, process.state_word
            )));
        }
        if !pids.insert(process.pid) {
            return Err(HostError::Inconsistent(format!(
                "{what}: pid {} listed twice",
                process.pid
            )));
        }
    }
    let tally = TaskCounts::tally(&snapshot.processes);
    if snapshot.counts != tally {
        return Err(HostError::Inconsistent(format!(
            "{what}: counts {:?} do not match the {} listed processes {:?}",
            snapshot.counts,
            snapshot.processes.len(),
            tally
        )));
    }
    Ok(())
}
