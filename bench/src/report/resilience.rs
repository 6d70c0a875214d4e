//! The report's resilience section: per path and fault, the outage, the failed answers, the time
//! to recover, loss by id and e2e p99 before, during and after; and the fault bands every time
//! series chart shades.

use maud::{Markup, html};

use super::data::RunData;
use super::layout::row_name;

fn seconds(v: Option<f64>) -> String {
    v.map_or("never".into(), |s| format!("{s:.1} s"))
}

fn ms(v: Option<u64>) -> String {
    v.map_or("–".into(), |us| format!("{:.0} ms", us as f64 / 1e3))
}

/// One row per path run and fault; nothing when the run had no `--fault`.
pub fn section(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let rows: Vec<_> = run
        .summary
        .paths
        .iter()
        .flat_map(|p| p.resilience.iter().map(move |r| (p, r)))
        .collect();
    html! {
        @if !rows.is_empty() {
            h2 { "Resilience" }
            p.muted { "Each " code { "--fault" } " (shaded red on the time series): the outage from the fault until the service or process answered again; attempts answered with an error from the fault until the first 2xx after it (re-sends included); the longest stretch without a 2xx from the fault's start to the first 2xx after its end (for a killed leader, its election as the clients see it), and under it how many attempts were accepted while the fault lasted; time from the fault's end to the first 2xx and until a second stored ≥ 90 % of the offered rate (1 s resolution); loss counted by id — accepted ids against the store's " code { "_id" } "s — and e2e p99 of the cases stored before, during and after the fault." }
            table id="resilience" {
                thead { tr {
                    th.l { "path" } th.l { "fault" } th.l { "target" } th { "outage" }
                    th { "failed 5xx" } th { "failed transport" } th { "failed 4xx" } th { "slowest answer" }
                    th { "no 2xx for" } th { "first 2xx after" } th { "stored back after" }
                    th { "lost" } th { "duplicates" } th { "dead-lettered" } th { "unexpected" }
                    th { "e2e p99 before" } th { "during" } th { "after" }
                } }
                tbody {
                    @for (p, r) in &rows {
                        tr {
                            td.l { (row_name(p, repeated)) }
                            td.l {
                                (r.fault.spec.kind.name()) "@" (r.fault.spec.start_s) "+" (r.fault.spec.duration_s)
                                @if let Some(node) = r.fault.spec.node { ":" (node) }
                            }
                            td.l { (r.fault.target) @if let Some(e) = &r.fault.error { br; strong { "failed: " (e) } } }
                            td { (format!("{:.1}–{:.1} s", r.fault.start_s, r.fault.end_s)) }
                            td { (r.failed_5xx) } td { (r.failed_transport) } td { (r.failed_4xx) }
                            td { (seconds(r.slowest_answer_s)) }
                            td { (seconds(r.unavailable_s)) br; span.muted { (r.accepted_during) " accepted" } }
                            td { (seconds(r.first_accept_after_s)) } td { (seconds(r.stored_recovered_after_s)) }
                            @match &p.loss {
                                Some(l) => {
                                    td { strong { (l.lost) } } td { (l.duplicates) } td { (l.dead_lettered) } td { (l.unexpected) }
                                }
                                None => { td { "–" } td { "–" } td { "–" } td { "–" } }
                            }
                            td { (ms(r.e2e_p99_before_us)) } td { (ms(r.e2e_p99_during_us)) } td { (ms(r.e2e_p99_after_us)) }
                        }
                    }
                }
            }
        }
    }
}

/// Accepted ids against the store's `_id`s, per path run (built-in generator, MongoDB sink).
pub fn loss_table(run: &RunData) -> Markup {
    let repeated = run.repeated();
    html! {
        @if run.summary.paths.iter().any(|p| p.loss.is_some()) {
            p.muted { "Counted by id: the generator knows every accepted case's id (each request carries an Idempotency-Key) and the runner reads the collection's " code { "_id" } "s after the drain; counters that restart with a process never feed these." }
            table id="loss-by-id" {
                thead { tr { th.l { "path" } th { "accepted" } th { "stored" } th { "lost" } th { "dead-lettered" } th { "unexpected" } th.l { "first lost ids" } } }
                tbody {
                    @for p in &run.summary.paths {
                        @if let Some(l) = &p.loss {
                            tr {
                                td.l { (row_name(p, repeated)) }
                                td { (l.accepted) } td { (l.stored) } td { strong { (l.lost) } }
                                td { (l.dead_lettered) } td { (l.unexpected) }
                                td.l { code { (l.lost_ids.join(" ")) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
