//! The cases table's pages: the first from the tallies when they hold it; any other from the
//! collections, sorted, skipped and cut by the database, and with several routes merged as
//! their cursors stream, so the dashboard holds a page and one batch a route, never a collection.

use brokerbench_common::settings::Middleware;
use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use mongodb::{Database, IndexModel};

use super::cases::{
    self, CaseRow, CasesPage, PAGE_SIZE, Route, case_row, newest_first, newest_row_first,
};

/// The `page`-th page (from 1) of the cases table, newest first: the first from the tallies
/// when they hold it, any other from the collections.
pub async fn page(db: &Database, route: Route, page: u64) -> mongodb::error::Result<CasesPage> {
    let tallies = cases::tallies(db, route).await?;
    let total = cases::merged(route, &tallies).1.total;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let cases = match cases::recent_rows(&tallies, PAGE_SIZE as usize) {
        (rows, true) if page == 1 => rows,
        _ => from_collections(db, route, (page - 1) * PAGE_SIZE).await?,
    };
    Ok(CasesPage {
        route: route.name().into(),
        page,
        page_size: PAGE_SIZE,
        pages,
        total,
        cases,
    })
}

/// Documents a route's cursor fetches at a time when pages of several routes are merged.
const STREAM_BATCH: u32 = 500;

/// One page of stored cases after `skip`, newest first, sorted and cut by the database.
async fn from_collections(
    db: &Database,
    route: Route,
    skip: u64,
) -> mongodb::error::Result<Vec<CaseRow>> {
    let paths = route.middlewares();
    for m in &paths {
        let index = IndexModel::builder().keys(newest_first()).build();
        db.collection::<Document>(&m.collection())
            .create_index(index)
            .await?;
    }
    if let [m] = paths[..] {
        let pipeline = vec![
            doc! { "$sort": newest_first() },
            doc! { "$skip": i64::try_from(skip).unwrap_or(i64::MAX) },
            doc! { "$limit": PAGE_SIZE as i64 },
        ];
        let docs: Vec<Document> = db
            .collection::<Document>(&m.collection())
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await?;
        return Ok(docs.iter().map(|d| case_row(d, m)).collect());
    }
    merged_page(db, &paths, skip).await
}

/// One route's cursor, newest first, and the row it showed last.
struct Stream {
    m: Middleware,
    cursor: mongodb::Cursor<Document>,
    head: Option<CaseRow>,
}

impl Stream {
    async fn advance(&mut self) -> mongodb::error::Result<Option<CaseRow>> {
        let next = self.cursor.try_next().await?.map(|d| case_row(&d, self.m));
        Ok(std::mem::replace(&mut self.head, next))
    }
}

/// With several routes: each route's cursor newest first, merged as they stream; the first
/// `skip` rows are passed over without being kept.
async fn merged_page(
    db: &Database,
    paths: &[Middleware],
    skip: u64,
) -> mongodb::error::Result<Vec<CaseRow>> {
    let mut streams = Vec::new();
    for &m in paths {
        let cursor = db
            .collection::<Document>(&m.collection())
            .find(doc! {})
            .sort(newest_first())
            .limit(i64::try_from(skip + PAGE_SIZE).unwrap_or(i64::MAX))
            // Batches of a bounded count rather than the server's up to 16 MiB each.
            .batch_size(STREAM_BATCH)
            .await?;
        let mut stream = Stream {
            m,
            cursor,
            head: None,
        };
        stream.advance().await?;
        streams.push(stream);
    }
    let mut rows = Vec::new();
    let mut passed = 0;
    while (rows.len() as u64) < PAGE_SIZE {
        let newest = streams
            .iter_mut()
            .filter(|s| s.head.is_some())
            .min_by(|a, b| match (&a.head, &b.head) {
                (Some(a), Some(b)) => newest_row_first(a, b),
                _ => std::cmp::Ordering::Equal,
            });
        let Some(stream) = newest else { break };
        let Some(row) = stream.advance().await? else {
            break;
        };
        if passed < skip {
            passed += 1;
        } else {
            rows.push(row);
        }
    }
    Ok(rows)
}
