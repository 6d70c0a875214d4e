//! The store's floor beside the latency table: what PostgreSQL itself took to commit, so a
//! reader can tell how much of each store figure is the database's and how much is the path's.

use maud::{Markup, html};

use super::data::RunData;

pub fn note(run: &RunData) -> Markup {
    let Some(f) = &run.summary.store_floor else {
        return html! {};
    };
    html! {
        p.muted id="store-floor" {
            "Store floor: PostgreSQL " (f.server_version) " committed a " (f.what()) " in "
            strong { (format!("{:.2} ms", f.p50_ms)) } " (p50 of " (f.commits) ", "
            (format!("{:.2}–{:.2} ms", f.min_ms, f.max_ms)) "), timed by psql just before the load. "
            "Every case the sink stores waits for at least one such commit, so no store latency "
            "above can be lower; the rest of it is FerretDB's and the sink's."
        }
    }
}
