//! The Runs page: every run folder under `--results-dir`, its report, and comparisons.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use maud::html;
use serde::Serialize;

use super::{AppError, AppState, nav};
use crate::report::layout;
use crate::results::files::read_summary;
use crate::results::generator::Generator;

/// One run folder as the Runs page lists it.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub name: String,
    pub label: String,
    pub started_at: String,
    pub generator: Generator,
    pub paths: Vec<String>,
    /// False when any path's accounting did not add up.
    pub consistent: bool,
    pub has_report: bool,
    pub report_url: String,
}

/// The run folders (those holding a readable summary.json), newest first.
fn list_runs(results: &Path) -> Vec<RunInfo> {
    let Ok(entries) = std::fs::read_dir(results) else {
        return Vec::new();
    };
    let mut runs: Vec<RunInfo> = entries
        .flatten()
        .filter(|e| e.path().join("summary.json").is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let summary = read_summary(&e.path()).ok()?;
            let mut paths: Vec<String> = summary
                .paths
                .iter()
                .map(|p| p.middleware.to_string())
                .collect();
            paths.dedup();
            Some(RunInfo {
                report_url: format!("/runs/{name}/report.html"),
                has_report: e.path().join("report.html").is_file(),
                consistent: summary.paths.iter().all(|p| p.accounting.consistent),
                label: summary.label,
                started_at: summary.started_at,
                generator: summary.generator,
                paths,
                name,
            })
        })
        .collect();
    runs.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    runs
}

/// The folder of run `name`, refusing anything that is not a plain folder name under results.
fn run_dir(results: &Path, name: &str) -> Result<PathBuf, AppError> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    let dir = results.join(name);
    if !plain || !dir.join("summary.json").is_file() {
        return Err(AppError::not_found(format!(
            "no run named {name:?} under {}",
            results.display()
        )));
    }
    Ok(dir)
}

pub async fn api(State(state): State<AppState>) -> Json<Vec<RunInfo>> {
    Json(list_runs(&state.results_dir))
}

pub async fn page(State(state): State<AppState>) -> Html<String> {
    let runs = list_runs(&state.results_dir);
    let body = html! {
        h1 { "Runs" }
        p.muted { (runs.len()) " runs under " code { (state.results_dir.display()) } ", newest first. Open a report, or tick two or more runs and compare them." }
        form method="get" action="/compare" id="compare-form" {
            table id="runs" {
                thead { tr { th { "compare" } th.l { "run" } th.l { "label" } th.l { "started (UTC)" } th.l { "generator" } th.l { "paths" } th.l { "accounting" } th.l { "report" } } }
                tbody {
                    @for r in &runs {
                        tr.bad[!r.consistent] data-run=(r.name) {
                            td { input type="checkbox" name="run" value=(r.name) aria-label=(format!("compare {}", r.name)); }
                            td.l { a href=(r.report_url) { (r.name) } }
                            td.l { (r.label) }
                            td.l { (r.started_at.get(..19).unwrap_or(&r.started_at)) }
                            td.l { (r.generator) }
                            td.l { (r.paths.join(", ")) }
                            td.l { @if r.consistent { span.ok { "consistent" } } @else { strong { "INCONSISTENT" } } }
                            td.l { a href=(r.report_url) { @if r.has_report { "report" } @else { "report (generated on open)" } } }
                        }
                    }
                }
            }
            button type="submit" id="compare-button" { "Compare selected runs" }
        }
        @if runs.is_empty() { p.note { "No run folders yet: `brokerbench run` writes them." } }
    };
    Html(layout::page("brokerbench · runs", Some(nav("Runs")), body).into_string())
}

/// `/runs/<name>/report.html`: the run's report, written first if the folder has none yet.
pub async fn report(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, AppError> {
    let dir = run_dir(&state.results_dir, &name)?;
    let html = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let file = dir.join("report.html");
        if !file.is_file() {
            crate::report::write_report(&dir)?;
        }
        Ok(std::fs::read_to_string(&file)?)
    })
    .await
    .map_err(|e| anyhow::anyhow!("report task failed: {e}"))??;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html))
}

/// `/compare?run=a&run=b…`: the comparison page of the named runs, in the order given.
pub async fn compare(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let names: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "run")
        .map(|(_, v)| v.into_owned())
        .collect();
    if names.len() < 2 {
        return Err(AppError::bad_request(
            "pick at least two runs to compare: /compare?run=<name>&run=<name>",
        ));
    }
    let dirs: Vec<PathBuf> = names
        .iter()
        .map(|n| run_dir(&state.results_dir, n))
        .collect::<Result<_, _>>()?;
    let html = tokio::task::spawn_blocking(move || {
        crate::report::comparison_page(
            &dirs,
            Some(nav("Runs")),
            &crate::analysis::comparison::Judging::default(),
        )
    })
    .await
    .map_err(|e| anyhow::anyhow!("comparison task failed: {e}"))??;
    Ok(Html(html))
}
