//! The tables of a run report, each with its column's best value highlighted.

use brokerbench_common::latency::LatencyMetric;
use maud::{Markup, html};

use super::data::RunData;
use super::layout::row_name;
use super::layout::{best, cell, mib, ms, num};
use crate::analysis::compute::CONTENTION_BUSY;
use crate::results::clock::e2e_bound_us;
use crate::results::figures::Better;
use crate::results::resources::ProcessCost;
use crate::results::summary::{LatencySummary, PathResult};

/// A latency percentile column: its head and how to read it from a summary.
type Pick = (&'static str, fn(&LatencySummary) -> u64);

fn int(v: f64) -> String {
    format!("{v:.0}")
}

/// One column of a per-path table: header, how to read the value, which end is best.
struct Column {
    title: &'static str,
    value: fn(&PathResult) -> Option<f64>,
    better: Option<Better>,
    format: fn(f64) -> String,
}

fn column_table(id: &str, run: &RunData, columns: &[Column]) -> Markup {
    let repeated = run.repeated();
    let paths = &run.summary.paths;
    let bests: Vec<Option<f64>> = columns
        .iter()
        .map(|c| {
            c.better
                .and_then(|b| best(&paths.iter().map(c.value).collect::<Vec<_>>(), b))
        })
        .collect();
    html! {
        table id=(id) {
            thead { tr { th.l { "path" } @for c in columns { th { (c.title) } } } }
            tbody {
                @for p in paths {
                    tr.bad[!p.accounting.consistent] {
                        td.l { (row_name(p, repeated)) }
                        @for (c, b) in columns.iter().zip(&bests) { (cell((c.value)(p), *b, c.format)) }
                    }
                }
            }
        }
    }
}

pub fn throughput(run: &RunData) -> Markup {
    let columns = [
        Column {
            title: "offered (cases/s)",
            value: |p| Some(p.rates.offered),
            better: None,
            format: num,
        },
        Column {
            title: "achieved (cases/s)",
            value: |p| Some(p.rates.achieved),
            better: Some(Better::Higher),
            format: num,
        },
        Column {
            title: "stored (cases/s)",
            value: |p| Some(p.rates.stored_per_s),
            better: Some(Better::Higher),
            format: num,
        },
        Column {
            title: "sent",
            value: |p| Some(p.accounting.sent as f64),
            better: None,
            format: int,
        },
        Column {
            title: "stored",
            value: |p| Some(p.accounting.stored as f64),
            better: None,
            format: int,
        },
        Column {
            title: "requests without 2xx",
            value: |p| {
                Some(
                    p.accounting
                        .sent_requests
                        .saturating_sub(p.accounting.http_2xx) as f64,
                )
            },
            better: Some(Better::Lower),
            format: int,
        },
        Column {
            title: "unstored at deadline",
            value: |p| Some(p.accounting.unstored_at_deadline as f64),
            better: Some(Better::Lower),
            format: int,
        },
        Column {
            title: "duplicates",
            value: |p| Some(p.accounting.duplicates as f64),
            better: Some(Better::Lower),
            format: int,
        },
        Column {
            title: "CPU s per 10k cases",
            value: |p| p.cpu_seconds_per_10k_cases,
            better: Some(Better::Lower),
            format: num,
        },
        Column {
            title: "measured (s)",
            value: |p| Some(p.measure_seconds),
            better: None,
            format: num,
        },
    ];
    html! {
        h3 { "Throughput, accounting and cost" }
        (column_table("summary-table", run, &columns))
    }
}

/// The latency metrics a first look needs, at p50 and p99: within 1,280 px.
const NARROW_METRICS: [LatencyMetric; 5] = [
    LatencyMetric::HttpCorrected,
    LatencyMetric::Publish,
    LatencyMetric::Delivery,
    LatencyMetric::Store,
    LatencyMetric::E2e,
];

/// The latency table per path in milliseconds: the headline metrics at p50 and p99, and every
/// metric at p50, p99, p99.9 and max in a folded wide table below it.
pub fn latency(run: &RunData) -> Markup {
    let narrow: [Pick; 2] = [("p50", |l| l.p50), ("p99", |l| l.p99)];
    let wide: [Pick; 4] = [
        ("p50", |l| l.p50),
        ("p99", |l| l.p99),
        ("p99.9", |l| l.p999),
        ("max", |l| l.max),
    ];
    html! {
        h3 { "Latency (ms, measure phase)" }
        (latency_table("latency-table", run, &NARROW_METRICS, &narrow))
        details id="latency-wide" {
            summary { "Every latency metric at p50, p99, p99.9 and max (wide)" }
            (latency_table("latency-table-wide", run, &LatencyMetric::ALL, &wide))
        }
        p.muted { "Metrics: " @for metric in LatencyMetric::ALL { strong { (metric) } " = " (metric.title()) "; " } }
    }
}

fn latency_table(id: &str, run: &RunData, metrics: &[LatencyMetric], picks: &[Pick]) -> Markup {
    let repeated = run.repeated();
    let paths = &run.summary.paths;
    let value = |p: &PathResult, metric: &LatencyMetric, pick: fn(&LatencySummary) -> u64| {
        p.latencies
            .get(metric)
            .filter(|l| l.count > 0)
            .map(|l| pick(l) as f64)
    };
    let bests: Vec<Vec<Option<f64>>> = metrics
        .iter()
        .map(|metric| {
            picks
                .iter()
                .map(|(_, pick)| {
                    let values: Vec<Option<f64>> =
                        paths.iter().map(|p| value(p, metric, *pick)).collect();
                    best(&values, Better::Lower)
                })
                .collect()
        })
        .collect();
    html! {
        table id=(id) {
            thead {
                tr { th.l rowspan="2" { "path" } @for metric in metrics { th colspan=(picks.len() + usize::from(*metric == LatencyMetric::E2e)) title=(metric.title()) { (metric) } } }
                tr { @for metric in metrics { @for (name, _) in picks { th { (name) } } @if *metric == LatencyMetric::E2e { th title="the most the clocks of the subscriber and the runner can put into each e2e figure (the clocks table below)" { "± clocks" } } } }
            }
            tbody {
                @for p in paths {
                    tr {
                        td.l { (row_name(p, repeated)) }
                        @for (metric, metric_bests) in metrics.iter().zip(&bests) {
                            @for ((_, pick), b) in picks.iter().zip(metric_bests) { (cell(value(p, metric, *pick), *b, ms)) }
                            @if *metric == LatencyMetric::E2e { td.muted { (e2e_bound_us(&p.clocks).map_or("-".into(), |b| format!("±{:.3}", b / 1e3))) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn accounting(run: &RunData) -> Markup {
    let repeated = run.repeated();
    html! {
        table id="accounting-table" {
            thead { tr {
                th.l { "path" } th { "sent" } th { "requests" } th { "2xx" } th { "4xx" } th { "5xx" } th { "transport errors" } th { "unanswered" }
                th { "accepted" } th { "published" } th { "publish errors" } th { "received" } th { "stored" } th { "duplicates" } th { "unstored at deadline" } th { "documents" } th { "drain" } th.l { "consistent" }
            } }
            tbody {
                @for p in &run.summary.paths {
                    @let a = &p.accounting;
                    tr.bad[!a.consistent] {
                        td.l { (row_name(p, repeated)) }
                        td { (a.sent) } td { (a.sent_requests) } td { (a.http_2xx) } td { (a.http_4xx) } td { (a.http_5xx) } td { (a.transport_errors) } td.bad[a.unanswered_requests != 0] { (a.unanswered_requests) }
                        td { (a.accepted) } td { (a.published) } td { (a.publish_errors) }
                        td { (a.received) @if !a.received_by_replica.is_empty() { br; span.muted { (replica_shares(&a.received_by_replica)) } } }
                        td { (a.stored) } td { (a.duplicates) }
                        td.bad[a.unstored_at_deadline != 0] { (a.unstored_at_deadline) } td { (a.documents.map_or("not stored".to_string(), |d| d.to_string())) }
                        td.bad[!a.drained_quietly] { (if a.drained_quietly { "quiet" } else { "deadline" }) }
                        td.l {
                            @if a.consistent { span.ok { "yes" } } @else { strong { "NO: " } (a.problems.join("; ")) }
                        }
                    }
                }
            }
        }
        p.muted { "Whole-run counts (warm-up, measure and drain). A run is consistent only if every request sent got a 2xx and every accepted case was stored. unstored at deadline = accepted − stored when the drain ended (not necessarily lost: a case may still arrive); drain = whether it ended after a quiet period with no new deliveries (so late redeliveries are counted) or at its deadline; documents = what MongoDB holds in the path's collection; under received, with several subscribers per path (run --subscribers), what each received." }
    }
}

/// What each subscriber of a path received, e.g. "800 + 798 + 802".
fn replica_shares(received: &[u64]) -> String {
    let shares: Vec<String> = received.iter().map(u64::to_string).collect();
    shares.join(" + ")
}

pub fn resources(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let rows: Vec<(&PathResult, &ProcessCost)> = run
        .summary
        .paths
        .iter()
        .flat_map(|p| p.resources.iter().map(move |r| (p, r)))
        .collect();
    let cpu: Vec<Option<f64>> = run
        .summary
        .paths
        .iter()
        .map(|p| p.cpu_seconds_per_10k_cases)
        .collect();
    let best_cpu = best(&cpu, Better::Lower);
    html! {
        h3 { "Per path" }
        table id="cost-table" {
            thead { tr { th.l { "path" } th { "CPU s (measure phase)" } th { "CPU s per 10k cases" } th { "disk written per 10k cases (MiB)" } th { "peak memory, its processes together (MiB)" } th { "host CPU busy" } } }
            tbody {
                @for (p, c) in run.summary.paths.iter().zip(&cpu) {
                    tr {
                        td.l { (row_name(p, repeated)) }
                        td { (num(p.resources.iter().map(|r| r.cpu_seconds).sum())) }
                        (cell(*c, best_cpu, num))
                        td { (p.disk_bytes_per_10k_cases.map(|b| num(b / 1_048_576.0)).unwrap_or_else(|| "–".into())) }
                        td { (mib(p.peak_rss_kib)) }
                        td.bad[p.host_cpu_busy.is_some_and(|b| b > CONTENTION_BUSY)] { (p.host_cpu_busy.map(|b| format!("{:.0} %", b * 100.0)).unwrap_or_else(|| "–".into())) }
                    }
                }
            }
        }
        p.muted { "Each path is charged its own subscriber and broker, plus the ingress and the store (FerretDB and PostgreSQL) when it had them to itself (routing single). Where a service or child ran in a cgroup of its own (as root), its CPU includes processes that exited, its memory is its working set (page cache the kernel may drop left out) and its disk writes are counted: the writes its processes submitted (fsync, O_DSYNC), a lower bound for a service that leaves dirty pages to the kernel's flusher; without cgroups the figures come from /proc and disk shows –. Peak memory is the largest total of those processes at any one sample. Host CPU busy above 90 % (marked) means the figures reflect CPU contention." }
        @let shared: Vec<(&PathResult, &ProcessCost)> = run.summary.paths.iter().flat_map(|p| p.shared_resources.iter().map(move |r| (p, r))).collect();
        @if !shared.is_empty() {
            h3 { "Shared by every path (routing all; not charged to any path)" }
            table id="shared-cost-table" {
                thead { tr { th.l { "run" } th.l { "role" } th.l { "process" } th { "pid" } th { "CPU s" } th { "peak RSS (MiB)" } } }
                tbody {
                    @for (p, r) in shared.iter().filter(|(p, _)| Some(p.middleware) == run.summary.paths.first().map(|f| f.middleware)) {
                        tr { td.l { "r" (p.repeat) } td.l { (r.role) } td.l { (r.name) } td { (r.pid) } td { (num(r.cpu_seconds)) } td { (mib(r.peak_rss_kib)) } }
                    }
                }
            }
        }
        h3 { "Per process" }
        table id="process-cost-table" {
            thead { tr { th.l { "path" } th.l { "role" } th.l { "process" } th { "pid" } th.l { "read from" } th { "CPU s" } th { "peak memory (MiB)" } th { "disk written (MiB)" } th { "disk writes" } } }
            tbody {
                @for (p, r) in &rows {
                    tr { td.l { (row_name(p, repeated)) } td.l { (r.role) } td.l { (r.name) } td { (r.pid) } td.l { (r.accounted_by.as_str()) } td { (num(r.cpu_seconds)) } td { (mib(r.peak_rss_kib)) } td { (r.disk_writes.map(|w| num(w.bytes as f64 / 1_048_576.0)).unwrap_or_else(|| "–".into())) } td { (r.disk_writes.map(|w| w.ops.to_string()).unwrap_or_else(|| "–".into())) } }
                }
            }
        }
    }
}

/// What each path guaranteed in this run, with the paths that compare unlike guarantees marked.
pub fn guarantees(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let paths: Vec<&PathResult> = run
        .summary
        .paths
        .iter()
        .filter(|p| p.repeat == 0 || !repeated)
        .collect();
    let durable: Vec<bool> = paths
        .iter()
        .filter_map(|p| p.guarantee.as_ref().map(|g| g.durable))
        .collect();
    let unlike = durable.iter().any(|d| *d) && durable.iter().any(|d| !*d);
    html! {
        h3 { "What each path guarantees in this run" }
        table id="guarantee-table" {
            thead { tr { th.l { "path" } th.l { "profile" } th.l { "survives a broker crash after the ack" } th.l { "guarantee" } } }
            tbody {
                @for p in &paths {
                    tr {
                        td.l { (p.middleware) }
                        @match &p.guarantee {
                            Some(g) => { td.l { (g.durability) } td.l.bad[unlike && !g.durable] { (if g.durable { "yes" } else { "no" }) } td.l { (g.text) } }
                            None => { td.l { "–" } td.l { "–" } td.l { "not recorded" } }
                        }
                    }
                }
            }
        }
        @if unlike {
            p.note id="unlike-guarantees" { "These paths do not give the same guarantee: the other tables compare paths that keep an acknowledged case through a broker crash with paths that do not (marked † there, \"no\" here). Faster is not better when it promises less." }
        }
    }
}

/// A JSON object as a two-column table; nested values are shown compactly on one line.
pub fn json_table(id: &str, value: &serde_json::Value) -> Markup {
    html! {
        table.kv id=(id) {
            tbody {
                @match value.as_object() {
                    Some(map) => {
                        @for (k, v) in map { tr { td { (k) } td { (compact(v)) } } }
                    }
                    None => { tr { td { "value" } td { (compact(value)) } } }
                }
            }
        }
    }
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect::<Vec<_>>()
            .join(" · "),
        other => other.to_string(),
    }
}
