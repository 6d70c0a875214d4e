//! `report.html`: the self-contained page of one run, and the side-by-side page of several.
//!
//! Pages are server-rendered HTML with inline CSS and inline SVG charts (drawn by `plotters`),
//! so a report opens from disk, offline, years later. The dashboard (`serve`) shows the very
//! same pages, which is why the HTML is built by [`report_html`] and [`comparison_html`] and only
//! written to disk here.

mod attached;
mod census;
mod charts;
mod clocks;
mod compare;
mod data;
mod host;
pub(crate) mod layout;
mod resilience;
mod single;
mod stages;
mod store_floor;
mod sweep_page;
mod tables;
pub mod terminal;
pub use attached::lines as attached_lines;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::analysis::comparison::Judging;

pub use charts::{Line, bar_chart, line_chart, nth_color, pie_chart};
pub use data::{RunData, SWEEP_CSV};
pub use host::sampled_source;
pub use single::LOCUST_LABEL;

#[derive(Debug, Clone, Args)]
pub struct ReportOpts {
    /// A run folder under results/ (holding summary.json).
    pub run_dir: PathBuf,
}

/// Writes `<run_dir>/report.html` from the run's files; returns its path.
pub fn write_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    let html = report_html(run_dir)?;
    let path = run_dir.join("report.html");
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Writes `<sweep_dir>/report.html`: the latency-vs-throughput curve of a sweep; returns its path.
pub fn write_sweep_report(sweep_dir: &Path) -> anyhow::Result<PathBuf> {
    sweep_page::write(sweep_dir)
}

/// Writes a comparison page of several runs into `out_dir`; returns its path.
pub fn write_comparison(
    run_dirs: &[PathBuf],
    out_dir: &Path,
    judging: &Judging,
) -> anyhow::Result<PathBuf> {
    let html = comparison_page(run_dirs, None, judging)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join("compare.html");
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The report page of one run folder.
pub fn report_html(run_dir: &Path) -> anyhow::Result<String> {
    let run = RunData::load(run_dir)?;
    let title = format!("brokerbench · {} · {}", run.summary.label, run.name);
    Ok(layout::page(&title, None, single::body(&run)).into_string())
}

/// The comparison page of several run folders; `nav` is the dashboard's bar, if any.
pub(crate) fn comparison_page(
    run_dirs: &[PathBuf],
    nav: Option<maud::Markup>,
    judging: &Judging,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        !run_dirs.is_empty(),
        "a comparison needs at least one run folder"
    );
    let runs: Vec<RunData> = run_dirs
        .iter()
        .map(|d| RunData::load(d))
        .collect::<Result<_, _>>()?;
    let title = format!("brokerbench · comparison of {} runs", runs.len());
    Ok(layout::page(&title, nav, compare::body(&runs, judging)).into_string())
}
