//! The host section of a run report: RAM over the run and the process snapshot at its end, each
//! labelled with the reader that produced it (kernel module or /proc).

use std::collections::BTreeMap;

use brokerbench_common::host::{HostSource, ProcessInfo};
use maud::{Markup, html};

use super::charts::{Line, line_chart, nth_color};
use super::data::{RunData, source_label};
use super::layout::{chart_or_error, mib};

/// How many processes the report lists before folding the rest away.
const TOP_PROCESSES: usize = 25;

/// The label of a host reading's source.
pub fn sampled_source(source: HostSource) -> &'static str {
    source_label(Some(source))
}

pub fn section(run: &RunData) -> Markup {
    let mut groups: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &run.host_ram {
        groups
            .entry(r.run.as_str())
            .or_default()
            .push((r.t_s, r.used_kib as f64 / 1_048_576.0));
    }
    let lines: Vec<Line> = groups
        .into_iter()
        .enumerate()
        .map(|(i, (run, points))| Line {
            label: format!("used, {run}"),
            color: nth_color(i),
            points,
        })
        .collect();
    let mut sources: Vec<Option<HostSource>> = run.host_ram.iter().map(|r| r.source).collect();
    sources.dedup();
    let total = run.host_ram.iter().map(|r| r.total_kib).max();
    let source_text = sources
        .iter()
        .map(|s| source_label(*s))
        .collect::<Vec<_>>()
        .join(", then ");
    html! {
        h3 { "RAM during the run" }
        p id="host-ram-source" {
            "Source: " strong { (if source_text.is_empty() { "no readings".to_string() } else { source_text }) }
            @if let Some(total) = total { " · total " (format!("{:.1}", total as f64 / 1_048_576.0)) " GiB" }
        }
        div.charts { (chart_or_error("chart-host-ram", line_chart("host RAM used", "time since the measure phase began (s)", "used (GiB)", &lines, &run.fault_bands(None)), "one line per group of paths measured together and repeat")) }
        h3 { "Snapshot at the end of the run (host.json)" }
        (snapshot(run))
    }
}

fn snapshot(run: &RunData) -> Markup {
    let ram = run.host.ram.as_ref();
    let procs = run.host.processes.as_ref();
    let mut sorted: Vec<&ProcessInfo> = procs
        .map(|p| p.data.processes.iter().collect())
        .unwrap_or_default();
    sorted.sort_by(|a, b| b.rss_kib.cmp(&a.rss_kib).then(a.pid.cmp(&b.pid)));
    html! {
        @if let Some(ram) = ram {
            p id="host-snapshot-ram" {
                "RAM (source: " strong { (sampled_source(ram.source)) } "): used " (mib(ram.data.used_kib)) " MiB of " (mib(ram.data.total_kib)) " MiB (" (format!("{:.1}", ram.data.used_percent)) " %), available " (mib(ram.data.available_kib)) " MiB."
            }
        } @else {
            p.muted { "No RAM reading in host.json." }
        }
        @if let Some(procs) = procs {
            @let c = &procs.data.counts;
            p id="host-snapshot-procs" {
                "Processes (source: " strong { (sampled_source(procs.source)) } "): " (c.total) " in all — " (c.running) " running, " (c.sleeping) " sleeping, " (c.stopped) " stopped, " (c.zombie) " zombie. The " (TOP_PROCESSES.min(procs.data.processes.len())) " largest by RSS:"
            }
            (process_table("host-processes", &sorted[..TOP_PROCESSES.min(sorted.len())]))
            @if sorted.len() > TOP_PROCESSES {
                details { summary { "all " (sorted.len()) " processes" } (process_table("host-processes-all", &sorted)) }
            }
        } @else {
            p.muted { "No process reading in host.json." }
        }
    }
}

fn process_table(id: &str, procs: &[&ProcessInfo]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "pid" } th { "parent" } th.l { "name" } th.l { "state" } th { "uid" } th { "threads" } th { "RSS (MiB)" } } }
            tbody {
                @for p in procs {
                    tr { td { (p.pid) } td { (p.ppid) } td.l { (p.name) } td.l { (p.state) " " (p.state_word) } td { (p.uid) } td { (p.threads) } td { (mib(p.rss_kib)) } }
                }
            }
        }
    }
}
