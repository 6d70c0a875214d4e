//! The Cases page and its JSON endpoints.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Html;
use brokerbench_common::settings::Middleware;
use maud::{Markup, html};
use serde::Deserialize;

use super::cases::{self, CaseRow, CasesPage, CasesSummary, Route, Share};
use super::{AppError, AppState, nav, stored_pages};
use crate::report::layout::{self, chart_or_error};
use crate::report::{bar_chart, pie_chart};

#[derive(Debug, Deserialize)]
pub struct CasesQuery {
    route: Option<String>,
    page: Option<u64>,
}

impl CasesQuery {
    fn route(&self) -> Result<Route, AppError> {
        Route::parse(self.route.as_deref()).ok_or_else(|| {
            AppError::bad_request(format!(
                "route must be all or one of {}",
                Middleware::names(", ")
            ))
        })
    }
}

pub async fn api_summary(
    State(state): State<AppState>,
    Query(q): Query<CasesQuery>,
) -> Result<Json<CasesSummary>, AppError> {
    Ok(Json(cases::summary(&state.db, q.route()?).await?))
}

pub async fn api_cases(
    State(state): State<AppState>,
    Query(q): Query<CasesQuery>,
) -> Result<Json<CasesPage>, AppError> {
    Ok(Json(
        stored_pages::page(&state.db, q.route()?, q.page.unwrap_or(1)).await?,
    ))
}

pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<CasesQuery>,
) -> Result<Html<String>, AppError> {
    let route = q.route()?;
    let summary = cases::summary(&state.db, route).await?;
    let table = stored_pages::page(&state.db, route, q.page.unwrap_or(1)).await?;
    let body = html! {
        h1 { "Stored cases" }
        p.muted { "Database " code { (state.db.name()) } " · collections " (Middleware::ALL.map(Middleware::collection).join(", ")) "." }
        p id="route-filter" {
            "Route: "
            @for r in std::iter::once("all").chain(Middleware::ALL.map(Middleware::name)) {
                @if r == route.name() { strong { (r) } } @else { a href=(format!("/cases?route={r}")) { (r) } }
                " "
            }
        }
        @if !summary.untallied.is_empty() {
            p.banner id="untallied" {
                (summary.untallied.join(", ")) " holds cases no subscriber tallied (stored before the subscribers kept tallies, or written by hand): the figures below leave them out. A run on these paths starts them afresh."
            }
        }
        (overview(&summary))
        (charts(&summary))
        h2 { "Last 5 cases stored" }
        (case_table("last-cases", &summary.last_cases))
        h2 { "All cases, newest first" }
        p id="pager" {
            "Page " strong { (table.page) } " of " (table.pages) " (" (table.total) " cases, " (table.page_size) " per page) "
            @if table.page > 1 { a href=(format!("/cases?route={}&page={}", route.name(), table.page - 1)) { "← newer" } " " }
            @if table.page < table.pages { a href=(format!("/cases?route={}&page={}", route.name(), table.page + 1)) { "older →" } }
        }
        (case_table("cases-table", &table.cases))
    };
    Ok(Html(
        layout::page("brokerbench · cases", Some(nav("Cases")), body).into_string(),
    ))
}

fn overview(s: &CasesSummary) -> Markup {
    html! {
        div.cards {
            div.card { "cases (" (s.route) ")" div.big id="cases-total" data-count=(s.total) { (s.total) } }
            div.card {
                "location with most cases"
                @match &s.top_location {
                    Some(top) => { div.big id="top-location" data-key=(top.key) data-count=(top.count) { (top.key) } span.muted { (top.count) " cases" } }
                    None => { div.big id="top-location" { "–" } }
                }
            }
        }
        div.cards {
            div {
                h3 { "Total per route" }
                table id="per-route" {
                    thead { tr { th.l { "route" } th { "cases" } } }
                    tbody { @for c in &s.per_route { tr { td.l { (c.key) } td data-route=(c.key) data-count=(c.count) { (c.count) } } } }
                }
            }
            div {
                h3 { "Top 5 locations" }
                table id="top-locations" {
                    thead { tr { th.l { "location" } th { "cases" } } }
                    tbody { @for c in &s.top_locations { tr { td.l { (c.key) } td data-location=(c.key) data-count=(c.count) { (c.count) } } } }
                }
            }
            (share_table("infected-types", "Infected type", &s.infected_types))
            (share_table("states", "State", &s.states))
            div {
                h3 { "Ages" }
                table id="age-bins" {
                    thead { tr { th.l { "age" } th { "cases" } } }
                    tbody { @for b in &s.age_bins { tr { td.l { (b.from) "–" (b.to) } td data-bin=(b.from) data-count=(b.count) { (b.count) } } } }
                }
            }
        }
    }
}

fn share_table(id: &str, title: &str, shares: &[Share]) -> Markup {
    html! {
        div {
            h3 { (title) " share" }
            table id=(id) {
                thead { tr { th.l { (title) } th { "cases" } th { "share" } } }
                tbody { @for s in shares { tr { td.l { (s.key) } td data-key=(s.key) data-count=(s.count) { (s.count) } td { (format!("{:.1} %", s.percent)) } } } }
            }
        }
    }
}

fn charts(s: &CasesSummary) -> Markup {
    let ages: Vec<(String, f64)> = s
        .age_bins
        .iter()
        .map(|b| (format!("{}–{}", b.from, b.to), b.count as f64))
        .collect();
    let locations: Vec<(String, f64)> = s
        .top_locations
        .iter()
        .map(|c| (c.key.clone(), c.count as f64))
        .collect();
    let slices = |shares: &[Share]| -> Vec<(String, f64)> {
        shares
            .iter()
            .map(|s| (s.key.clone(), s.count as f64))
            .collect()
    };
    html! {
        div.charts {
            (chart_or_error("chart-infected-types", pie_chart("infected type", &slices(&s.infected_types)), "share of each infected type"))
            (chart_or_error("chart-states", pie_chart("state", &slices(&s.states)), "share of each state"))
            (chart_or_error("chart-ages", bar_chart("cases by age", "age (years)", "cases", &ages), "ages in 10-year bins"))
            (chart_or_error("chart-locations", bar_chart("top 5 locations", "location", "cases", &locations), "the five locations with most cases"))
        }
    }
}

fn case_table(id: &str, rows: &[CaseRow]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th.l { "stored at (UTC)" } th.l { "route" } th.l { "name" } th.l { "location" } th { "age" } th.l { "infected type" } th.l { "state" } th.l { "case id" } } }
            tbody {
                @for c in rows {
                    tr {
                        td.l { (c.stored_at.as_deref().unwrap_or("–")) } td.l { (c.route) } td.l { (c.name) } td.l { (c.location) }
                        td { (c.age.map(|a| a.to_string()).unwrap_or_default()) } td.l { (c.infectedtype) } td.l { (c.state) } td.l { code { (c.id) } }
                    }
                }
            }
        }
    }
}
