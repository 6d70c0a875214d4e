//! What the cases page shows: totals, shares and the newest cases from the tallies the
//! subscribers keep ([`brokerbench_common::tally`]), and older pages from the collections.
//!
//! FerretDB 1.24, the store here, pushes no sort, range or `$group` down to PostgreSQL: with
//! 200,000 documents it took 12.8 s to count them, 10.8 s to group them and 11.7 s to sort them
//! for one page. The tallies make the summary and the first page a read of five small
//! documents. A later page is sorted and cut by the database (`$sort`, `$skip`, `$limit` on an
//! index MongoDB uses and FerretDB does not), and with every route the per-route cursors are
//! merged as they stream, so the server never holds more than a page and one batch a route.

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;
use brokerbench_common::tally::{self, Tally};
use futures::TryStreamExt as _;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc};

use serde::Serialize;

/// Rows per page of the cases table.
pub const PAGE_SIZE: u64 = 25;

/// The route filter: one path's collection, or all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    All,
    One(Middleware),
}

impl Route {
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("all") {
            "all" | "" => Some(Self::All),
            other => Middleware::ALL
                .into_iter()
                .find(|m| m.name() == other)
                .map(Self::One),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::One(m) => m.name(),
        }
    }

    pub(super) fn middlewares(self) -> Vec<Middleware> {
        match self {
            Self::All => Middleware::ALL.to_vec(),
            Self::One(m) => vec![m],
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Share {
    pub key: String,
    pub count: u64,
    pub percent: f64,
}

/// Ages `from..=to`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgeBin {
    pub from: i64,
    pub to: i64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub name: String,
    pub location: String,
    pub age: Option<i64>,
    pub infectedtype: String,
    pub state: String,
    pub route: String,
    pub accepted_at: Option<String>,
    pub stored_at: Option<String>,
    #[serde(skip)]
    pub(super) stored_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CasesSummary {
    pub route: String,
    pub total: u64,
    pub per_route: Vec<Count>,
    pub top_locations: Vec<Count>,
    pub top_location: Option<Count>,
    pub infected_types: Vec<Share>,
    pub states: Vec<Share>,
    pub age_bins: Vec<AgeBin>,
    pub last_cases: Vec<CaseRow>,
    /// Routes whose collection holds cases but that have no tally (cases stored before the
    /// subscribers kept tallies, or written by hand): the figures leave them out.
    pub untallied: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CasesPage {
    pub route: String,
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
    pub pages: u64,
    pub total: u64,
    pub cases: Vec<CaseRow>,
}

/// Newest first: by stored_at, then by id.
pub(super) fn newest_first() -> Document {
    doc! { "stored_at": -1, "_id": -1 }
}

fn sorted_counts(groups: BTreeMap<String, u64>) -> Vec<Count> {
    let mut counts: Vec<Count> = groups
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    counts
}

fn shares(groups: BTreeMap<String, u64>) -> Vec<Share> {
    let total: u64 = groups.values().sum();
    sorted_counts(groups)
        .into_iter()
        .map(|c| Share {
            percent: if total > 0 {
                c.count as f64 * 100.0 / total as f64
            } else {
                0.0
            },
            key: c.key,
            count: c.count,
        })
        .collect()
}

/// Decades `0–9, 10–19, …` from counts per exact age.
fn age_bins(ages: &BTreeMap<i64, u64>) -> Vec<AgeBin> {
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for (age, n) in ages {
        *bins.entry(age.div_euclid(10) * 10).or_insert(0) += n;
    }
    bins.into_iter()
        .map(|(from, count)| AgeBin {
            from,
            to: from + 9,
            count,
        })
        .collect()
}

/// The tallies of the route's paths, each with its path (a path that stored nothing has none).
pub(super) async fn tallies(
    db: &Database,
    route: Route,
) -> mongodb::error::Result<Vec<(Middleware, Document)>> {
    let docs: Vec<Document> = db
        .collection::<Document>(tally::COLLECTION)
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    let paths = route.middlewares();
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let m = paths
                .iter()
                .copied()
                .find(|m| d.get_str("_id") == Ok(m.name()))?;
            Some((m, d))
        })
        .collect())
}

/// Every path's count, and the route's counts merged.
pub(super) fn merged(route: Route, tallies: &[(Middleware, Document)]) -> (Vec<Count>, Tally) {
    let mut all = Tally::default();
    let per_route = route
        .middlewares()
        .into_iter()
        .map(|m| {
            let tally = tallies
                .iter()
                .find(|(t, _)| *t == m)
                .map(|(_, d)| Tally::from_document(d))
                .unwrap_or_default();
            let count = tally.total;
            all.merge(tally);
            Count {
                key: m.name().into(),
                count,
            }
        })
        .collect();
    (per_route, all)
}

/// The newest cases the tallies hold, newest first, and whether they are the route's newest
/// `wanted` (every path keeps at least that many, or all it stored).
pub(super) fn recent_rows(
    tallies: &[(Middleware, Document)],
    wanted: usize,
) -> (Vec<CaseRow>, bool) {
    let mut complete = true;
    let mut rows = Vec::new();
    for (m, d) in tallies {
        let recent = tally::recent(d);
        let total = usize::try_from(Tally::from_document(d).total).unwrap_or(usize::MAX);
        complete &= recent.len() >= wanted.min(total);
        rows.extend(recent.iter().map(|r| case_row(r, *m)));
    }
    rows.sort_by(newest_row_first);
    rows.truncate(wanted);
    (rows, complete)
}

pub(super) fn newest_row_first(a: &CaseRow, b: &CaseRow) -> std::cmp::Ordering {
    b.stored_ms.cmp(&a.stored_ms).then_with(|| b.id.cmp(&a.id))
}

pub async fn summary(db: &Database, route: Route) -> mongodb::error::Result<CasesSummary> {
    let tallies = tallies(db, route).await?;
    let (per_route, all) = merged(route, &tallies);
    let top_locations: Vec<Count> = sorted_counts(all.locations.clone())
        .into_iter()
        .take(5)
        .collect();
    Ok(CasesSummary {
        route: route.name().into(),
        total: all.total,
        top_location: top_locations.first().cloned(),
        top_locations,
        infected_types: shares(all.infected_types),
        states: shares(all.states),
        age_bins: age_bins(&all.ages),
        last_cases: recent_rows(&tallies, 5).0,
        untallied: untallied(db, route, &tallies).await?,
        per_route,
    })
}

/// The route's paths without a tally whose collection holds a document (one document read: a
/// limit without filter or sort is the one query FerretDB cuts short in PostgreSQL).
async fn untallied(
    db: &Database,
    route: Route,
    tallies: &[(Middleware, Document)],
) -> mongodb::error::Result<Vec<String>> {
    let mut names = Vec::new();
    for m in route.middlewares() {
        if tallies.iter().any(|(t, _)| *t == m) {
            continue;
        }
        let any = db
            .collection::<Document>(&m.collection())
            .find_one(doc! {})
            .await?;
        if any.is_some() {
            names.push(m.collection());
        }
    }
    Ok(names)
}

pub(super) fn case_row(d: &Document, m: Middleware) -> CaseRow {
    let text = |k: &str| d.get_str(k).map(str::to_owned).unwrap_or_default();
    let date = |k: &str| d.get_datetime(k).ok().copied();
    let stored = date("stored_at");
    CaseRow {
        id: match d.get("_id") {
            Some(Bson::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        name: text("name"),
        location: text("location"),
        age: match d.get("age") {
            Some(Bson::Int32(v)) => Some(i64::from(*v)),
            Some(Bson::Int64(v)) => Some(*v),
            Some(Bson::Double(v)) => Some(*v as i64),
            _ => None,
        },
        infectedtype: text("infectedtype"),
        state: text("state"),
        route: d
            .get_str("route")
            .map(str::to_owned)
            .unwrap_or_else(|_| m.name().into()),
        accepted_at: date("accepted_at").and_then(|t| t.try_to_rfc3339_string().ok()),
        stored_at: stored.and_then(|t| t.try_to_rfc3339_string().ok()),
        stored_ms: stored.map(|t| t.timestamp_millis()).unwrap_or(i64::MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_into_decades() {
        let groups = BTreeMap::from([(0, 2), (9, 1), (10, 4), (95, 1)]);
        let bins = age_bins(&groups);
        assert_eq!(
            bins,
            vec![
                AgeBin {
                    from: 0,
                    to: 9,
                    count: 3
                },
                AgeBin {
                    from: 10,
                    to: 19,
                    count: 4
                },
                AgeBin {
                    from: 90,
                    to: 99,
                    count: 1
                }
            ]
        );
    }

    #[test]
    fn routes_parse() {
        assert_eq!(Route::parse(None), Some(Route::All));
        assert_eq!(
            Route::parse(Some("nats")),
            Some(Route::One(Middleware::Nats))
        );
        assert_eq!(Route::parse(Some("mqtt")), None);
    }
}
