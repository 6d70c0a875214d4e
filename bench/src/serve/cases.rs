//! Analytics over the stored cases, computed by MongoDB aggregation pipelines.
//!
//! The server here is FerretDB 1.24 (PostgreSQL or SQLite backend), which implements `$match`,
//! `$group` (with `$sum`), `$sort`, `$skip`, `$limit` and `$count` but not `$unionWith`,
//! `$bucket`, `$facet` nor arithmetic operators such as `$floor` or `$subtract`. So each
//! pipeline runs per collection and the small grouped results are merged in Rust: "all routes"
//! sums the groups of every path's collection, and ages are grouped by exact age (a hundred-odd
//! groups at most) and binned into decades here. No page ever loads every document.

use std::collections::BTreeMap;

use brokerbench_common::settings::Middleware;
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

    fn middlewares(self) -> Vec<Middleware> {
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
    stored_ms: i64,
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

/// Newest first: by stored_at, then by id (UUIDv7, so in order of acceptance).
fn newest_first() -> Document {
    doc! { "stored_at": -1, "_id": -1 }
}

async fn run_pipeline(
    db: &Database,
    m: Middleware,
    pipeline: Vec<Document>,
) -> mongodb::error::Result<Vec<Document>> {
    db.collection::<Document>(&m.collection())
        .aggregate(pipeline)
        .await?
        .try_collect()
        .await
}

/// Documents per value of `field`, summed over the route's collections.
async fn group_counts(
    db: &Database,
    route: Route,
    field: &str,
) -> mongodb::error::Result<BTreeMap<Key, u64>> {
    let mut merged = BTreeMap::new();
    for m in route.middlewares() {
        let pipeline = vec![
            doc! { "$group": { "_id": format!("${field}"), "n": { "$sum": 1 } } },
            doc! { "$sort": { "n": -1, "_id": 1 } },
        ];
        for d in run_pipeline(db, m, pipeline).await? {
            *merged.entry(Key::of(d.get("_id"))).or_insert(0) += count_of(&d);
        }
    }
    Ok(merged)
}

/// A grouped value: numbers order as numbers, anything else as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
}

impl Key {
    fn of(value: Option<&Bson>) -> Self {
        match value {
            Some(Bson::Int32(v)) => Self::Int(i64::from(*v)),
            Some(Bson::Int64(v)) => Self::Int(*v),
            Some(Bson::Double(v)) if v.fract() == 0.0 => Self::Int(*v as i64),
            Some(Bson::String(s)) => Self::Text(s.clone()),
            Some(Bson::Null) | None => Self::Text("(none)".into()),
            Some(other) => Self::Text(other.to_string()),
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Int(v) => v.to_string(),
            Self::Text(s) => s.clone(),
        }
    }
}

fn count_of(d: &Document) -> u64 {
    match d.get("n") {
        Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Double(v)) if *v >= 0.0 => *v as u64,
        _ => 0,
    }
}

fn sorted_counts(groups: BTreeMap<Key, u64>) -> Vec<Count> {
    let mut counts: Vec<Count> = groups
        .into_iter()
        .map(|(k, count)| Count {
            key: k.text(),
            count,
        })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    counts
}

fn shares(groups: BTreeMap<Key, u64>) -> Vec<Share> {
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

/// Decades `0–9, 10–19, …` from counts per exact age; ages that are not whole numbers are left out.
fn age_bins(groups: &BTreeMap<Key, u64>) -> Vec<AgeBin> {
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for (k, n) in groups {
        if let Key::Int(age) = k {
            *bins.entry(age.div_euclid(10) * 10).or_insert(0) += n;
        }
    }
    bins.into_iter()
        .map(|(from, count)| AgeBin {
            from,
            to: from + 9,
            count,
        })
        .collect()
}

pub async fn summary(db: &Database, route: Route) -> mongodb::error::Result<CasesSummary> {
    let mut per_route = Vec::new();
    for m in route.middlewares() {
        let counted = run_pipeline(db, m, vec![doc! { "$count": "n" }]).await?;
        per_route.push(Count {
            key: m.name().into(),
            count: counted.first().map(count_of).unwrap_or(0),
        });
    }
    let top_locations: Vec<Count> = sorted_counts(group_counts(db, route, "location").await?)
        .into_iter()
        .take(5)
        .collect();
    let ages = group_counts(db, route, "age").await?;
    Ok(CasesSummary {
        route: route.name().into(),
        total: per_route.iter().map(|c| c.count).sum(),
        top_location: top_locations.first().cloned(),
        top_locations,
        infected_types: shares(group_counts(db, route, "infectedtype").await?),
        states: shares(group_counts(db, route, "state").await?),
        age_bins: age_bins(&ages),
        last_cases: newest(db, route, 0, 5).await?,
        per_route,
    })
}

/// `limit` cases newest first after skipping `skip`: each collection sorts and cuts its own
/// first `skip + limit`, and the merge keeps the page.
async fn newest(
    db: &Database,
    route: Route,
    skip: u64,
    limit: u64,
) -> mongodb::error::Result<Vec<CaseRow>> {
    let mut rows = Vec::new();
    for m in route.middlewares() {
        let cut = i64::try_from(skip + limit).unwrap_or(i64::MAX);
        let pipeline = vec![doc! { "$sort": newest_first() }, doc! { "$limit": cut }];
        rows.extend(
            run_pipeline(db, m, pipeline)
                .await?
                .iter()
                .map(|d| case_row(d, m)),
        );
    }
    rows.sort_by(|a, b| b.stored_ms.cmp(&a.stored_ms).then_with(|| b.id.cmp(&a.id)));
    Ok(rows
        .into_iter()
        .skip(skip as usize)
        .take(limit as usize)
        .collect())
}

pub async fn page(db: &Database, route: Route, page: u64) -> mongodb::error::Result<CasesPage> {
    let mut total = 0;
    for m in route.middlewares() {
        total += run_pipeline(db, m, vec![doc! { "$count": "n" }])
            .await?
            .first()
            .map(count_of)
            .unwrap_or(0);
    }
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let cases = newest(db, route, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    Ok(CasesPage {
        route: route.name().into(),
        page,
        page_size: PAGE_SIZE,
        pages,
        total,
        cases,
    })
}

fn case_row(d: &Document, m: Middleware) -> CaseRow {
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
        let groups = BTreeMap::from([
            (Key::Int(0), 2),
            (Key::Int(9), 1),
            (Key::Int(10), 4),
            (Key::Int(95), 1),
            (Key::Text("x".into()), 7),
        ]);
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
        assert_eq!(Route::parse(Some("kafka")), None);
    }
}
