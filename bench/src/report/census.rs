//! The e2e census table: every case accepted in the measure phase, not only the stored ones.

use maud::{Markup, html};

use super::data::RunData;
use super::layout::row_name;

pub fn table(run: &RunData) -> Markup {
    let repeated = run.repeated();
    let rows: Vec<_> = run
        .summary
        .paths
        .iter()
        .filter_map(|p| p.e2e_census.as_ref().map(|c| (p, c)))
        .collect();
    if rows.is_empty() {
        return html! {};
    }
    html! {
        h3 { "End-to-end census (ms, every case accepted in the measure phase)" }
        table id="census-table" {
            thead { tr { th.l { "path" } th { "stored" } th { "unstored" } th { "dead-lettered" } th { "p50" } th { "p99" } th { "p99.9" } } }
            tbody {
                @for (p, c) in &rows {
                    tr {
                        td.l { (row_name(p, repeated)) }
                        td { (c.stored) }
                        td.bad[c.unstored > 0] { (c.unstored) }
                        td.bad[c.dead_lettered > 0] { (c.dead_lettered) }
                        @for v in [c.p50, c.p99, c.p999] { td.bad[v.at_least] { (v.ms()) } }
                    }
                }
            }
        }
        p.muted { "The latency table above holds the stored cases only. Here a case still unstored when the drain ended counts at the time it had waited by then, a lower bound of its e2e: a percentile marked ≥ may be one of them, and the true value can only be higher. Dead-lettered cases have no e2e and are counted beside." }
    }
}
