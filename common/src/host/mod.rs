//! Host readings (RAM and processes) for the reports.
//!
//! The preferred source is the pair of kernel modules in `kernel/`
//! (`/proc/bb_ram`, `/proc/bb_procs`): they take each reading in one pass
//! inside the kernel. When a module is not loaded its file does not exist
//! and the same structures are built from `/proc/meminfo` and
//! `/proc/<pid>/…` instead. Every reading carries its [`HostSource`] so a
//! report never passes one off as the other.

mod module;
mod proc;
mod types;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub use module::{parse_procs_json, parse_ram_json};
pub use proc::parse_meminfo;
pub use types::{
    HostSource, ProcessInfo, ProcessSnapshot, RamInfo, Sampled, TaskCounts, state_word,
};

/// Why a host reading failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not the expected JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading {what}: {source}")]
    Proc {
        what: String,
        #[source]
        source: procfs::ProcError,
    },
    #[error("inconsistent host reading: {0}")]
    Inconsistent(String),
}

/// Where the readings are taken from. Tests point these at fixtures or at
/// the output of the kernel VM test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// The `bb_ram` module's file.
    pub module_ram: PathBuf,
    /// The `bb_procs` module's file.
    pub module_procs: PathBuf,
    /// The procfs mount for the fallback (`meminfo`, `<pid>/stat`, ...).
    pub proc_root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            module_ram: PathBuf::from("/proc/bb_ram"),
            module_procs: PathBuf::from("/proc/bb_procs"),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl HostPaths {
    /// RAM from `bb_ram` if its file exists, else from meminfo.
    pub fn read_ram(&self) -> Result<Sampled<RamInfo>, HostError> {
        match read_if_present(&self.module_ram)? {
            Some(text) => Ok(Sampled {
                source: HostSource::KernelModule,
                data: parse_ram_json(&text)?,
            }),
            None => Ok(Sampled {
                source: HostSource::Proc,
                data: proc::read_meminfo(&self.proc_root)?,
            }),
        }
    }

    /// Processes from `bb_procs` if its file exists, else from
    /// `/proc/<pid>/…`.
    pub fn read_processes(&self) -> Result<Sampled<ProcessSnapshot>, HostError> {
        match read_if_present(&self.module_procs)? {
            Some(text) => Ok(Sampled {
                source: HostSource::KernelModule,
                data: parse_procs_json(&text)?,
            }),
            None => Ok(Sampled {
                source: HostSource::Proc,
                data: proc::read_proc_snapshot(&self.proc_root, page_kib())?,
            }),
        }
    }

    /// The processes from `/proc/<pid>/…` only, even if `bb_procs` is
    /// loaded; `page_kib` is the page size in KiB of the kernel that
    /// produced `proc_root` (stat counts RSS in pages).
    pub fn read_proc_processes(&self, page_kib: u64) -> Result<ProcessSnapshot, HostError> {
        proc::read_proc_snapshot(&self.proc_root, page_kib)
    }
}

/// Host RAM from the default paths, see [`HostPaths::read_ram`].
pub fn read_ram() -> Result<Sampled<RamInfo>, HostError> {
    HostPaths::default().read_ram()
}

/// Host processes from the default paths, see
/// [`HostPaths::read_processes`].
pub fn read_processes() -> Result<Sampled<ProcessSnapshot>, HostError> {
    HostPaths::default().read_processes()
}

/// The page size of the running kernel in KiB.
fn page_kib() -> u64 {
    procfs::page_size() / 1024
}

/// The file's text, or None when it does not exist (module not loaded).
fn read_if_present(path: &Path) -> Result<Option<String>, HostError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}
