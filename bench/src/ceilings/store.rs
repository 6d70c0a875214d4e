//! The store alone: `sink_writers` writers inserting `batch_size` documents at a time, as the
//! subscriber's sink does, each sending its next batch as soon as the last was acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use brokerbench_common::metrics::new_histogram;
use brokerbench_common::settings::Middleware;
use brokerbench_subscribers::sink::to_document;
use mongodb::bson::{DateTime, Document};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{CeilingsOpts, sample_envelope};
use crate::results::ceilings::{Ceiling, StageKind};

pub async fn measure(opts: &CeilingsOpts, seconds: Duration) -> anyhow::Result<Ceiling> {
    let client = mongodb::Client::with_uri_str(&opts.mongo.uri)
        .await
        .context("cannot reach MongoDB")?;
    let name = format!(
        "ceiling_store_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let collection = client
        .database(&opts.mongo.db)
        .collection::<Document>(&name);
    let stored = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(new_histogram()));
    let stop_at = Instant::now() + Duration::from_secs(1) + seconds;
    let writers: Vec<_> = (0..opts.sink_writers.max(1))
        .map(|_| {
            let (collection, stored, measuring, latencies) = (
                collection.clone(),
                stored.clone(),
                measuring.clone(),
                latencies.clone(),
            );
            let batch_size = opts.batch_size.max(1);
            tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let docs: Vec<Document> = (0..batch_size)
                        .map(|i| {
                            to_document(
                                &sample_envelope(i as u64),
                                Middleware::Nats,
                                DateTime::now(),
                            )
                        })
                        .collect();
                    let began = Instant::now();
                    collection.insert_many(docs).ordered(false).await?;
                    if measuring.load(Ordering::Relaxed) {
                        stored.fetch_add(batch_size as u64, Ordering::Relaxed);
                        let us = began.elapsed().as_micros() as u64;
                        latencies.lock().await.saturating_record(us.max(1));
                    }
                }
                Ok::<(), mongodb::error::Error>(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let began = Instant::now();
    let mut failure = None;
    for w in writers {
        if let Err(e) = w.await.context("a store writer panicked")? {
            failure.get_or_insert(e);
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    let _ = collection.drop().await;
    if let Some(e) = failure {
        return Err(e).context("the store ceiling's insert failed");
    }
    let h = latencies.lock().await;
    Ok(Ceiling {
        stage: StageKind::Store,
        middleware: None,
        rate_per_s: stored.load(Ordering::Relaxed) as f64 / elapsed.max(1e-9),
        p50_us: (!h.is_empty()).then(|| h.value_at_quantile(0.5)),
        p99_us: (!h.is_empty()).then(|| h.value_at_quantile(0.99)),
        seconds: elapsed,
        note: format!(
            "{} writers × {} documents per insert; latency per insert",
            opts.sink_writers, opts.batch_size
        ),
    })
}
