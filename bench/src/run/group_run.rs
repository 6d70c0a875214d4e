//! One measured run of a group of paths, phase by phase: start the processes, tell them the
//! measure window, offer load while sampling, drain until quiet, collect, stop. The run's own
//! stream, queue, topic and subscription are removed afterwards whatever happened.

use anyhow::Context as _;
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::metrics::{Phase, new_histogram};
use brokerbench_common::middleware::probe;
use brokerbench_common::settings::Middleware;
use brokerbench_common::tally;
use mongodb::bson::{Document, doc};

use super::group_processes::{Context, Pipeline, start_processes};
use super::load_stats::AcceptedCase;
use super::loss::StoreIds;
use super::measure::{Measured, measure};
use super::{RunOpts, RunRouting, loss, output};
use crate::analysis::attribution::{Evidence, attribute};
use crate::analysis::calibration;
use crate::analysis::census::e2e_census;
use crate::analysis::compute::{
    PathContext, SeriesContext, check_accounting, metric_at, path_result,
};
use crate::analysis::resilience::{Timeline, assess};
use crate::analysis::tick::{counter, subscriber};
use crate::processes::brokers;
use crate::results::role::Role;
use crate::results::summary::PathResult;
use crate::subscriber::SinkKind;

pub async fn run_group(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
) -> anyhow::Result<Vec<PathResult>> {
    if ctx.attached.is_some() {
        return measure_group(opts, ctx, group, repeat, None).await;
    }
    let run = brokers::RunBrokers::new(&opts.brokers, opts.subscribers)?;
    let result = measure_group(opts, ctx, group, repeat, Some(&run)).await;
    run.remove_topology(group).await;
    result
}

/// One group run: with `run`, the broker settings of processes it starts; without, on the
/// pipeline it is attached to (whose stream, queue and collections it does not own).
async fn measure_group(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    run: Option<&brokers::RunBrokers>,
) -> anyhow::Result<Vec<PathResult>> {
    let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
    let title = format!("{} r{repeat}", names.join("+"));
    let mongo = mongodb::Client::with_uri_str(&opts.mongo.uri)
        .await
        .context("cannot reach MongoDB")?;
    let db = mongo.database(&opts.mongo.db);
    super::store_claim::claim(&db, opts.overwrite_db).await?;
    clear_collections(&db, group, ctx.attached.is_some()).await?;
    let (pipeline, settings) = match (run, &ctx.attached) {
        (Some(run), _) => {
            let started = start_processes(opts, ctx, group, repeat, run).await?;
            (Pipeline::started(started), &run.settings)
        }
        (None, Some(attached)) => (Pipeline::attached(attached, group), &attached.brokers),
        (None, None) => anyhow::bail!("a group run needs processes to start or a target"),
    };
    let measured = measure(opts, ctx, group, repeat, &title, &pipeline, settings).await;
    let outcome = match measured {
        Ok(measured) => results_of(opts, ctx, group, repeat, &db, measured).await,
        Err(e) => Err(e),
    };
    pipeline.stop().await;
    outcome
}

/// Empties the collections the group's subscribers write to, and their paths' dashboard
/// tallies, so a run counts only its own cases. Under running (attached) subscribers their
/// documents are deleted, the collections kept with their indexes; else they are dropped.
async fn clear_collections(
    db: &mongodb::Database,
    group: &[Middleware],
    attached: bool,
) -> anyhow::Result<()> {
    for m in group {
        for name in [m.collection(), loss::dead_letters(*m)] {
            let collection = db.collection::<Document>(&name);
            let cleared = match attached {
                true => collection.delete_many(doc! {}).await.map(drop),
                false => collection.drop().await,
            };
            cleared.with_context(|| format!("cannot clear {name}"))?;
        }
        db.collection::<Document>(tally::COLLECTION)
            .delete_one(doc! { "_id": m.name() })
            .await
            .with_context(|| format!("cannot clear the tally of {m}"))?;
    }
    Ok(())
}

/// Every path's result from what the group's run measured, and the run's time series written.
async fn results_of(
    opts: &RunOpts,
    ctx: &Context,
    group: &[Middleware],
    repeat: u32,
    db: &mongodb::Database,
    mut measured: Measured,
) -> anyhow::Result<Vec<PathResult>> {
    for p in std::mem::take(&mut measured.restarted) {
        p.stop().await;
    }
    let series = SeriesContext {
        repeat,
        cases_per_request: opts.cases_per_request as u64,
        writers: (opts.sink == SinkKind::Mongodb).then_some(opts.sink_writers),
    };
    let store = match (opts.sink, measured.store_ids.take()) {
        (SinkKind::None, _) => None,
        (SinkKind::Mongodb, Some(ids)) => Some(ids),
        (SinkKind::Mongodb, None) => Some(StoreIds::read(db, group).await?),
    };
    let mut results = Vec::new();
    for &m in group {
        let documents = store.as_ref().map(|s| s.documents(m)).transpose()?;
        let path_ctx = PathContext {
            repeat,
            offered: opts.rate,
            measure_seconds: opts.duration as f64,
            cases_per_request: series.cases_per_request,
            documents,
            shared_ingress: group.len() > 1,
            drained_quietly: measured.drained_quietly,
            in_hand_at_kills: measured
                .in_hand_at_kills
                .iter()
                .find(|(x, _)| *x == m)
                .map_or(0, |(_, n)| *n),
        };
        let mut result = path_result(m, &measured.ticks, measured.bounds, path_ctx);
        result.attribution = Some(attribute(
            &measured.ticks,
            measured.bounds,
            m,
            &Evidence {
                result: &result,
                cases_per_request: series.cases_per_request,
                writers: series.writers,
                window: opts.brokers.path.consumer_window,
                depth_unreadable: probe::unreadable(m, &opts.brokers),
            },
        ));
        add_calibration(opts, &mut result, &measured);
        if let Some(stats) = &measured.locust {
            super::locust::apply(stats, &mut result, series.cases_per_request);
        }
        if let Some(store) = &store {
            add_loss(opts, store, &mut result, &measured)?;
        }
        // Last: the accounting checks above start their list of problems afresh.
        add_guarantee(&mut result, &measured);
        add_resilience(opts, &mut result, &measured);
        add_clocks(&mut result, &measured);
        results.push(result);
    }
    let (ticks, bounds) = (&measured.ticks, measured.bounds);
    output::write_ticks(&ctx.dir, group, series, ticks, bounds, measured.started)?;
    Ok(results)
}

/// The clocks the path's e2e spans (the ingress's and its subscriber's), with a warning when
/// they may be too far apart to rank it on e2e.
fn add_clocks(result: &mut PathResult, measured: &Measured) {
    let m = result.middleware;
    result.clocks = measured
        .clocks
        .iter()
        .filter(|c| c.role == Role::Ingress || c.role == Role::Subscriber(m))
        .copied()
        .collect();
    if let Some(doubt) = crate::analysis::verdict::e2e_clock_doubt(result) {
        result.warnings.push(format!("{doubt}: e2e is not ranked"));
    }
}

/// What the path's broker guaranteed in this run, or a problem when it cannot be told.
fn add_guarantee(result: &mut PathResult, measured: &Measured) {
    match brokers::guarantee(result.middleware, &measured.ticks) {
        Ok(g) => result.guarantee = Some(g),
        Err(problem) => {
            result.accounting.consistent = false;
            result.accounting.problems.push(problem);
        }
    }
}

/// With `--hold-toggle-s`: how the known holds read in e2e and in the answers.
fn add_calibration(opts: &RunOpts, result: &mut PathResult, measured: &Measured) {
    let Some(period) = opts.hold_toggle_s else {
        return;
    };
    let (m, ticks, bounds) = (result.middleware, &measured.ticks, measured.bounds);
    result.hold_calibration = (opts.hold_batch_ms > 0.0)
        .then(|| calibration::e2e_hold(ticks, m, bounds, period, opts.hold_batch_ms))
        .flatten();
    result.answer_hold_calibration = match (&measured.load, opts.hold_answer_ms > 0.0) {
        (Some((load, _)), true) => calibration::answer_hold(
            &load.answer_log(),
            &measured.hold_toggles,
            period,
            opts.hold_answer_ms,
        ),
        _ => None,
    };
}

/// With the built-in generator and a store: every accepted id looked up in the path's
/// collection, the accounting checked again by id, and the e2e census taken (the cases still
/// unstored at their wait so far).
fn add_loss(
    opts: &RunOpts,
    store: &StoreIds,
    result: &mut PathResult,
    measured: &Measured,
) -> anyhow::Result<()> {
    let Some((load, key_prefix)) = &measured.load else {
        return Ok(());
    };
    let m = result.middleware;
    let accepted = load.accepted_cases(key_prefix, opts.cases_per_request);
    let last = &measured.ticks[measured.bounds.last];
    let duplicates = counter(subscriber(last, m), CounterMetric::Duplicates, Some(m));
    let settled = store.settle(m, &accepted, duplicates)?;
    let now_ns = brokerbench_common::envelope::now_ns();
    let measured_phase =
        |c: &&AcceptedCase| load.window().phase_of(c.intended_ns) == Phase::Measure;
    let waits: Vec<u64> = settled
        .unstored
        .iter()
        .filter(measured_phase)
        .map(|c| u64::try_from((now_ns - c.intended_ns) / 1_000).unwrap_or(0))
        .collect();
    let dead = settled.dead_lettered.iter().filter(measured_phase).count() as u64;
    let e2e =
        metric_at(last, m, LatencyMetric::E2e, Some(Phase::Measure)).unwrap_or_else(new_histogram);
    result.e2e_census = e2e_census(&e2e, &waits, dead);
    check_accounting(
        &mut result.accounting,
        opts.cases_per_request as u64,
        Some(&settled.loss),
    );
    result.loss = Some(settled.loss);
    Ok(())
}

/// With faults injected: each fault's outage and recovery on this path.
fn add_resilience(opts: &RunOpts, result: &mut PathResult, measured: &Measured) {
    if measured.faults.is_empty() {
        return;
    }
    let answers = measured
        .load
        .as_ref()
        .map(|(l, _)| l.answer_log())
        .unwrap_or_default();
    let line = Timeline {
        ticks: &measured.ticks,
        load_end: measured.bounds.measure_end,
        offered: opts.rate,
    };
    let m = result.middleware;
    result.resilience = measured
        .faults
        .iter()
        .map(|f| assess(m, f, &answers, &line))
        .collect();
    result.warnings.push(format!(
        "{} fault(s) injected: errors, restarts and an inconsistent accounting are expected; loss is counted by id",
        measured.faults.len()
    ));
    if (measured.faults.iter()).any(|f| f.spec.kind == crate::results::faults::FaultKind::NodeKill)
    {
        result.warnings.push(
            "a node killed by a fault is charged up to its kill, its restarted process not at all: CPU per 10k cases and memory are lower bounds".into(),
        );
    }
}

/// The routing of a group, as the ingress of its run is started.
pub fn groups(opts: &RunOpts) -> Vec<Vec<Middleware>> {
    match opts.routing {
        RunRouting::Single => opts.middlewares.iter().map(|m| vec![*m]).collect(),
        RunRouting::All => vec![opts.middlewares.clone()],
    }
}
