//! The Host page: live RAM (a ring buffer filled by a background sampler) and the process list,
//! from the kernel modules when they are loaded, else from /proc, always labelled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use brokerbench_common::host::{self, HostSource, ProcessSnapshot, RamInfo, Sampled, TaskCounts};
use maud::{Markup, PreEscaped, html};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{AppError, AppState, nav};
use crate::report::layout::{self, mib};
use crate::report::{Line, line_chart, nth_color, sampled_source as source_label};

/// How often the sampler reads RAM, and how many readings it keeps (ten minutes).
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
const KEEP: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct RamPoint {
    pub unix_ms: i64,
    pub source: HostSource,
    pub ram: RamInfo,
}

pub struct HostState {
    ram: Mutex<VecDeque<RamPoint>>,
    /// uid → user name, from /etc/passwd at start.
    users: HashMap<u32, String>,
}

impl HostState {
    pub fn new() -> Self {
        let users = std::fs::read_to_string("/etc/passwd")
            .map(|t| parse_passwd(&t))
            .unwrap_or_default();
        Self {
            ram: Mutex::new(VecDeque::with_capacity(KEEP)),
            users,
        }
    }

    fn history(&self) -> Vec<RamPoint> {
        self.ram
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// Reads RAM every [`SAMPLE_EVERY`] into the ring buffer until `shutdown`.
pub async fn sample_ram(state: Arc<HostState>, shutdown: CancellationToken) {
    loop {
        match tokio::task::spawn_blocking(host::read_ram).await {
            Ok(Ok(Sampled { source, data })) => {
                if let Ok(mut ring) = state.ram.lock() {
                    if ring.len() == KEEP {
                        ring.pop_front();
                    }
                    ring.push_back(RamPoint {
                        unix_ms: chrono::Utc::now().timestamp_millis(),
                        source,
                        ram: data,
                    });
                }
            }
            Ok(Err(e)) => tracing::warn!("cannot read host RAM: {e}"),
            Err(e) => tracing::warn!("host RAM reader failed: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RamReply {
    pub current: Option<RamPoint>,
    pub source_label: Option<&'static str>,
    pub interval_s: u64,
    pub history: Vec<RamPoint>,
}

pub async fn api_ram(State(state): State<AppState>) -> Json<RamReply> {
    let history = state.host.history();
    let current = history.last().cloned();
    Json(RamReply {
        source_label: current.as_ref().map(|c| source_label(c.source)),
        current,
        interval_s: SAMPLE_EVERY.as_secs(),
        history,
    })
}

fn ram_chart(history: &[RamPoint]) -> anyhow::Result<String> {
    let now = history.last().map(|p| p.unix_ms).unwrap_or(0);
    let points = history
        .iter()
        .map(|p| {
            (
                (p.unix_ms - now) as f64 / 1000.0,
                p.ram.used_kib as f64 / 1_048_576.0,
            )
        })
        .collect();
    let total = history
        .last()
        .map(|p| p.ram.total_kib as f64 / 1_048_576.0)
        .unwrap_or(0.0);
    let lines = [Line {
        label: format!("used (of {total:.1} GiB)"),
        color: nth_color(0),
        points,
    }];
    line_chart(
        "host RAM used",
        "seconds before the latest reading (s)",
        "used (GiB)",
        &lines,
        &[],
    )
}

pub async fn ram_svg(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let svg = ram_chart(&state.host.history())?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}

#[derive(Debug, Deserialize)]
pub struct ProcessQuery {
    filter: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProcessRow {
    pub pid: i32,
    pub ppid: i32,
    pub name: String,
    pub state: String,
    pub uid: u32,
    pub user: String,
    pub rss_kib: u64,
    pub threads: u32,
}

#[derive(Debug, Serialize)]
pub struct ProcessesReply {
    pub source: HostSource,
    pub source_label: &'static str,
    pub counts: TaskCounts,
    pub processes: Vec<ProcessRow>,
}

/// The process list, largest RSS first; `filter` keeps rows whose pid, name, state or user
/// contains it (case-insensitive).
fn processes(
    state: &HostState,
    snapshot: Sampled<ProcessSnapshot>,
    filter: &str,
) -> ProcessesReply {
    let needle = filter.trim().to_lowercase();
    let mut rows: Vec<ProcessRow> = snapshot
        .data
        .processes
        .into_iter()
        .map(|p| ProcessRow {
            user: state
                .users
                .get(&p.uid)
                .cloned()
                .unwrap_or_else(|| p.uid.to_string()),
            state: format!("{} ({})", p.state, p.state_word),
            pid: p.pid,
            ppid: p.ppid,
            name: p.name,
            uid: p.uid,
            rss_kib: p.rss_kib,
            threads: p.threads,
        })
        .filter(|r| {
            needle.is_empty()
                || [
                    r.pid.to_string(),
                    r.name.clone(),
                    r.state.clone(),
                    r.user.clone(),
                ]
                .iter()
                .any(|f| f.to_lowercase().contains(&needle))
        })
        .collect();
    rows.sort_by(|a, b| b.rss_kib.cmp(&a.rss_kib).then(a.pid.cmp(&b.pid)));
    ProcessesReply {
        source: snapshot.source,
        source_label: source_label(snapshot.source),
        counts: snapshot.data.counts,
        processes: rows,
    }
}

async fn read_processes(state: &AppState, filter: &str) -> Result<ProcessesReply, AppError> {
    let snapshot = tokio::task::spawn_blocking(host::read_processes)
        .await
        .map_err(|e| anyhow::anyhow!("process reader failed: {e}"))?
        .map_err(|e| anyhow::anyhow!("cannot read the processes: {e}"))?;
    Ok(processes(&state.host, snapshot, filter))
}

pub async fn api_processes(
    State(state): State<AppState>,
    Query(q): Query<ProcessQuery>,
) -> Result<Json<ProcessesReply>, AppError> {
    Ok(Json(
        read_processes(&state, q.filter.as_deref().unwrap_or("")).await?,
    ))
}

/// Refreshes the page's figures, chart and table every few seconds and applies the filter.
const SCRIPT: &str = r#"
const $ = id => document.getElementById(id);
const mib = k => (k / 1024).toFixed(1);
function applyFilter() {
  const needle = $('proc-filter').value.trim().toLowerCase();
  let shown = 0;
  for (const row of $('processes').tBodies[0].rows) {
    const keep = !needle || row.textContent.toLowerCase().includes(needle);
    row.hidden = !keep;
    if (keep) shown++;
  }
  $('proc-shown').textContent = shown;
}
function fillProcesses(reply) {
  const body = document.createElement('tbody');
  for (const p of reply.processes) {
    const tr = body.insertRow();
    for (const [v, left] of [[p.pid], [p.ppid], [p.name, 1], [p.state, 1], [p.user, 1], [p.uid], [p.threads], [mib(p.rss_kib)]]) {
      const td = tr.insertCell();
      td.textContent = v;
      if (left) td.className = 'l';
    }
  }
  $('processes').replaceChild(body, $('processes').tBodies[0]);
  $('proc-source').textContent = reply.source_label;
  for (const k of ['total', 'running', 'sleeping', 'stopped', 'zombie']) $('proc-' + k).textContent = reply.counts[k];
  applyFilter();
}
async function refresh() {
  try {
    const [ram, procs, svg] = await Promise.all([
      fetch('/api/host/ram').then(r => r.json()),
      fetch('/api/host/processes').then(r => r.json()),
      fetch('/host/ram.svg').then(r => r.text()),
    ]);
    if (ram.current) {
      $('ram-used').textContent = mib(ram.current.ram.used_kib);
      $('ram-total').textContent = mib(ram.current.ram.total_kib);
      $('ram-percent').textContent = ram.current.ram.used_percent.toFixed(1);
      $('ram-source').textContent = ram.source_label;
    }
    $('ram-svg').innerHTML = svg;
    fillProcesses(procs);
    $('refreshed').textContent = new Date().toLocaleTimeString();
  } catch (e) {
    $('refreshed').textContent = 'refresh failed (' + e.message + ')';
  }
}
$('proc-filter').addEventListener('input', applyFilter);
setInterval(refresh, 3000);
"#;

pub async fn page(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    let history = state.host.history();
    let procs = read_processes(&state, "").await?;
    let current = history.last();
    let svg = ram_chart(&history)?;
    let body = html! {
        h1 { "Host" }
        p.muted { "RAM is sampled every " (SAMPLE_EVERY.as_secs()) " s (the last " (KEEP) " readings are kept); the page refreshes every 3 s. Last refresh: " span id="refreshed" { "at load" } }
        div.cards {
            div.card { "RAM used (MiB)" div.big id="ram-used" { (current.map(|c| mib(c.ram.used_kib)).unwrap_or_default()) } }
            div.card { "RAM total (MiB)" div.big id="ram-total" { (current.map(|c| mib(c.ram.total_kib)).unwrap_or_default()) } }
            div.card { "used (%)" div.big id="ram-percent" { (current.map(|c| format!("{:.1}", c.ram.used_percent)).unwrap_or_default()) } }
            div.card { "RAM source" div id="ram-source" { strong { (current.map(|c| source_label(c.source)).unwrap_or("no reading yet")) } } }
        }
        div.charts {
            figure.chart id="chart-host-ram" data-chart="1" {
                div id="ram-svg" { (PreEscaped(svg)) }
                figcaption { "used = total − available, as procps free shows it" }
            }
        }
        h2 { "Processes" }
        (process_section(&procs))
        script { (PreEscaped(SCRIPT)) }
    };
    Ok(Html(
        layout::page("brokerbench · host", Some(nav("Host")), body).into_string(),
    ))
}

fn process_section(procs: &ProcessesReply) -> Markup {
    html! {
        p {
            "Source: " strong id="proc-source" { (procs.source_label) } " · "
            span id="proc-shown" { (procs.processes.len()) } " shown of " span id="proc-total" { (procs.counts.total) } " · "
            span id="proc-running" { (procs.counts.running) } " running, " span id="proc-sleeping" { (procs.counts.sleeping) } " sleeping, " span id="proc-stopped" { (procs.counts.stopped) } " stopped, " span id="proc-zombie" { (procs.counts.zombie) } " zombie"
        }
        p { label { "Filter (pid, name, state, user): " input type="search" id="proc-filter" placeholder="e.g. ferretdb"; } }
        table id="processes" {
            thead { tr { th { "pid" } th { "parent" } th.l { "name" } th.l { "state" } th.l { "user" } th { "uid" } th { "threads" } th { "RSS (MiB)" } } }
            tbody {
                @for p in &procs.processes {
                    tr { td { (p.pid) } td { (p.ppid) } td.l { (p.name) } td.l { (p.state) } td.l { (p.user) } td { (p.uid) } td { (p.threads) } td { (mib(p.rss_kib)) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_names_uids() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\nbroken\n",
        );
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(users.len(), 2);
    }
}
