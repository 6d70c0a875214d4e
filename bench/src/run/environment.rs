//! What a result must carry to be trusted later: versions of the brokers and of brokerbench,
//! the kernel, the CPU, and a snapshot of the host.

use brokerbench_common::host;
use brokerbench_common::middleware::{DESCRIPTORS, Middleware, first_line};
use brokerbench_common::settings::BrokerSettings;
use serde_json::{Value, json};

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
}

/// The machine the run ran on; the versions of this machine's brokers and store only when they
/// are the ones measured (not `attached` to a pipeline elsewhere, whose versions it cannot see).
pub fn describe(brokers: &BrokerSettings, attached: bool) -> Value {
    let mut versions: serde_json::Map<String, Value> = DESCRIPTORS
        .iter()
        .filter(|d| d.stack_service.is_some() && !attached)
        .map(|d| (d.name.to_string(), json!((d.broker_version)())))
        .collect();
    if !attached {
        versions.insert(
            "ferretdb".into(),
            json!(first_line("ferretdb", &["--version"])),
        );
    }
    json!({
        "brokerbench": env!("CARGO_PKG_VERSION"),
        "git_commit": first_line("git", &["rev-parse", "--short", "HEAD"]),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "cpu_model": cpu_model(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "brokers": versions,
        "endpoints": endpoints(brokers),
    })
}

/// Where each middleware's broker (gRPC: its subscriber) was, keyed by middleware name, without
/// credentials.
fn endpoints(brokers: &BrokerSettings) -> Value {
    Middleware::ALL
        .into_iter()
        .map(|m| (m.name().to_string(), json!(brokers.block(m).endpoint())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `host.json`: RAM and the process list at the end of the run, with their source.
pub fn host_snapshot() -> Value {
    json!({
        "ram": host::read_ram().ok(),
        "processes": host::read_processes().ok(),
    })
}

/// The run's configuration as `summary.json` records it: the options and the broker settings
/// (durability, consumer window, NATS mode…), which `compare` checks for differences, and the
/// warm-up each path got.
pub(super) fn config_of(opts: &super::RunOpts) -> anyhow::Result<Value> {
    let mut config = serde_json::to_value(opts)?;
    config["brokers"] = json!(opts.brokers.to_reported_args());
    config["warmup_s_by_path"] = json!(super::warmup::by_path(opts));
    Ok(config)
}
