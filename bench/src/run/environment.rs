//! What a result must carry to be trusted later: versions of the brokers and of brokerbench,
//! the kernel, the CPU, and a snapshot of the host.

use std::process::Command;

use brokerbench_common::host;
use brokerbench_common::settings::BrokerSettings;
use serde_json::{Value, json};

fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
}

pub fn describe(brokers: &BrokerSettings) -> Value {
    json!({
        "brokerbench": env!("CARGO_PKG_VERSION"),
        "git_commit": first_line("git", &["rev-parse", "--short", "HEAD"]),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "cpu_model": cpu_model(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "brokers": {
            "nats-server": first_line("nats-server", &["--version"]),
            "rabbitmq-server": first_line("dpkg-query", &["-W", "-f=${Version}", "rabbitmq-server"]),
            "pubsub-emulator": pubsub_emulator_version(),
            "ferretdb": first_line("ferretdb", &["--version"]),
        },
        "endpoints": {
            "nats": brokers.nats.url,
            "amqp": brokers.rabbitmq.url.split('@').next_back(),
            "pubsub_emulator": brokers.pubsub.emulator_host,
        },
    })
}

/// `host.json`: RAM and the process list at the end of the run, with their source.
pub fn host_snapshot() -> Value {
    json!({
        "ram": host::read_ram().ok(),
        "processes": host::read_processes().ok(),
    })
}

/// The emulator states its version only in its jar's name (`cloud-pubsub-emulator-X.Y.Z-all.jar`).
fn pubsub_emulator_version() -> Option<String> {
    let sdk = first_line("gcloud", &["info", "--format=value(installation.sdk_root)"])?;
    let lib = std::path::Path::new(&sdk).join("platform/pubsub-emulator/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.strip_prefix("cloud-pubsub-emulator-")
            .and_then(|v| v.strip_suffix("-all.jar"))
            .map(str::to_owned)
    })
}
