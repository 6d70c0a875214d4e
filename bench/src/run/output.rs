//! Writing a run's samples into its folder: one `.hlog` per path and metric, `timeseries.csv` and
//! `resources.csv` (`summary.json` and the folder itself: `results::files`).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::Phase;
use brokerbench_common::settings::Middleware;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::analysis::compute::{Bounds, SeriesContext, delta, latencies_at, timeseries_row};
use crate::analysis::tick::Tick;
use crate::results::rows::{self, ResourceRow};

/// Appends one run of one group (its ticks) to the folder's logs and CSV files.
pub fn write_ticks(
    dir: &Path,
    middlewares: &[Middleware],
    ctx: SeriesContext,
    ticks: &[Tick],
    bounds: Bounds,
    started: SystemTime,
) -> anyhow::Result<()> {
    let repeat = ctx.repeat;
    for &m in middlewares {
        for metric in LatencyMetric::ALL {
            let path = dir.join(format!("{m}-r{repeat}-{metric}.hlog"));
            write_hlog(&path, ticks, bounds, m, metric, started)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let series = (1..ticks.len()).flat_map(|i| {
        middlewares
            .iter()
            .filter_map(move |&m| timeseries_row(ticks, i, m, ctx))
    });
    rows::append(&dir.join("timeseries.csv"), series)?;
    let paths: Vec<&str> = middlewares.iter().map(|m| m.name()).collect();
    let paths = paths.join("+");
    let resources = ticks.iter().flat_map(|t| {
        let (used, total, source) = match &t.ram {
            Some((s, r)) => (Some(r.used_kib), Some(r.total_kib), Some(*s)),
            None => (None, None, None),
        };
        let paths = &paths;
        t.procs.iter().map(move |p| ResourceRow {
            repeat,
            paths: paths.clone(),
            t_s: rows::millis(t.at_s),
            role: p.role,
            pid: p.pid,
            name: p.name.clone(),
            cpu_seconds: rows::millis(p.cpu_seconds),
            rss_kib: p.rss_kib,
            host_used_kib: used,
            host_total_kib: total,
            host_source: source,
            read_from: p.accounted_by,
            disk_write_bytes: p.disk_writes.map(|w| w.bytes),
            disk_write_ops: p.disk_writes.map(|w| w.ops),
        })
    });
    rows::append(&dir.join("resources.csv"), resources)
}

/// One HdrHistogram interval log of the measure-phase cases: an interval histogram per sample
/// (about a second), in microseconds, tagged with the wall-clock phase it was recorded in
/// (`measure`, or `drain` for cases that settled after the load stopped). The intervals add up
/// to exactly the measure-phase histogram of the summary.
fn write_hlog(
    path: &Path,
    ticks: &[Tick],
    bounds: Bounds,
    m: Middleware,
    metric: LatencyMetric,
    started: SystemTime,
) -> anyhow::Result<()> {
    let mut file = fs::File::create(path)?;
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!("brokerbench {m} {metric} latency, microseconds"))
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1.0)
        .begin_log_with(&mut file, &mut serializer)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let first = ticks.first().map(|t| t.at_s).unwrap_or(0.0);
    for (i, pair) in ticks.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let tag = Tag::new(phase_of(i + 1, bounds));
        let (hb, ha) = (
            latencies_at(b, m, Some(Phase::Measure)),
            latencies_at(a, m, Some(Phase::Measure)),
        );
        let h = delta(&hb[&metric], &ha[&metric]);
        let start = Duration::from_secs_f64((a.at_s - first).max(0.0));
        let length = Duration::from_secs_f64((b.at_s - a.at_s).max(0.0));
        log.write_histogram(&h, start, length, tag)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(())
}

/// The phase of the second that ends at tick `i`.
pub fn phase_of(i: usize, bounds: Bounds) -> &'static str {
    if i <= bounds.measure_start {
        "warmup"
    } else if i <= bounds.measure_end {
        "measure"
    } else {
        "drain"
    }
}
