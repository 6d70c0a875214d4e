//! Faults on a run's timeline: `run --fault KIND@START[+DURATION]` kills or pauses the broker, the
//! store, a subscriber or the ingress of the path under test, START seconds into the measure
//! phase, and undoes it DURATION seconds later (restart, resume). Brokers and the store are
//! signalled through `scripts/stack` (so only services it started are touched); the run's own
//! processes are killed and started again by the runner on the same sockets, which it holds.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use brokerbench_common::envelope::now_ns;
use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::children::{RoleProcess, signal, wait_dead};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL the path's broker; `scripts/stack up` restarts it after DURATION.
    BrokerKill,
    /// SIGSTOP the path's broker for DURATION, then SIGCONT.
    BrokerPause,
    /// SIGSTOP the store (the MongoDB-wire server) for DURATION.
    StorePause,
    /// SIGKILL the store; restarted after DURATION.
    StoreKill,
    /// SIGKILL the path's subscriber; the runner starts it again after DURATION.
    SubscriberKill,
    /// SIGKILL the ingress; the runner starts it again after DURATION.
    IngressKill,
    /// Delay on one path's traffic (needs a network namespace per run: not available here).
    NetDelay,
    /// Packet loss on one path's traffic (same).
    NetLoss,
}

impl FaultKind {
    const NAMES: [(&'static str, Self); 8] = [
        ("broker-kill", Self::BrokerKill),
        ("broker-pause", Self::BrokerPause),
        ("store-pause", Self::StorePause),
        ("store-kill", Self::StoreKill),
        ("subscriber-kill", Self::SubscriberKill),
        ("ingress-kill", Self::IngressKill),
        ("net-delay", Self::NetDelay),
        ("net-loss", Self::NetLoss),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

/// One `--fault`: what, when (seconds into the measure phase) and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub start_s: f64,
    pub duration_s: f64,
}

impl FromStr for FaultSpec {
    type Err = String;

    /// `KIND@START[+DURATION]`, e.g. `broker-kill@10+5` (seconds; DURATION defaults to 0).
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || {
            let kinds: Vec<&str> = FaultKind::NAMES.iter().map(|(n, _)| *n).collect();
            format!(
                "{text:?}: expected KIND@START[+DURATION] in seconds, e.g. broker-kill@10+5; KIND is one of {}",
                kinds.join(", ")
            )
        };
        let (kind, when) = text.split_once('@').ok_or_else(usage)?;
        let kind = FaultKind::NAMES
            .iter()
            .find(|(n, _)| *n == kind.trim())
            .map(|(_, k)| *k)
            .ok_or_else(usage)?;
        let (start, duration) = when.split_once('+').unwrap_or((when, "0"));
        let seconds = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        match (seconds(start), seconds(duration)) {
            (Some(start_s), Some(duration_s)) => Ok(Self {
                kind,
                start_s,
                duration_s,
            }),
            _ => Err(usage()),
        }
    }
}

/// What happened: the fault as applied, with its exact start and end.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRecord {
    pub spec: FaultSpec,
    /// `scripts/stack` service (`nats`, `mongo`…) or run process (`subscriber:nats`, `ingress`).
    pub target: String,
    /// Seconds since the measure phase began: when the fault was applied, and when it was over
    /// (the service or process answering again after its restart or resume).
    pub start_s: f64,
    pub end_s: f64,
    /// The same instants, wall clock (ns since the Unix epoch).
    pub start_ns: i64,
    pub end_ns: i64,
    /// Why the fault could not be applied or undone, if so.
    pub error: Option<String>,
}

/// Checks every fault can be applied to `group` on this machine, before the run starts.
pub fn validate(faults: &[FaultSpec], group: &[Middleware], span_s: f64) -> anyhow::Result<()> {
    for f in faults {
        let name = f.kind.name();
        match f.kind {
            FaultKind::NetDelay | FaultKind::NetLoss => bail!(
                "{name} is not available here: it needs each path's traffic in a network namespace of the run (tc netem), which brokerbench does not build yet"
            ),
            FaultKind::BrokerKill | FaultKind::BrokerPause
                if group.iter().all(|m| m.descriptor().stack_service.is_none()) =>
            {
                bail!("{name}: gRPC has no broker of its own; use subscriber-kill or ingress-kill");
            }
            _ => {}
        }
        anyhow::ensure!(
            f.start_s < span_s,
            "--fault {name}@{}: starts after the measure phase ({span_s} s)",
            f.start_s
        );
    }
    if faults.iter().any(|f| stack_target(f.kind, group).is_some()) {
        stack_script()?;
    }
    Ok(())
}

/// The `scripts/stack` services a fault signals, if it is a service fault.
fn stack_target(kind: FaultKind, group: &[Middleware]) -> Option<Vec<&'static str>> {
    match kind {
        FaultKind::BrokerKill | FaultKind::BrokerPause => Some(
            group
                .iter()
                .filter_map(|m| m.descriptor().stack_service)
                .collect(),
        ),
        FaultKind::StorePause | FaultKind::StoreKill => Some(vec!["mongo"]),
        _ => None,
    }
}

/// `scripts/stack` of this checkout: `BB_STACK_SCRIPT`, else found from the working directory up.
fn stack_script() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BB_STACK_SCRIPT") {
        return Ok(PathBuf::from(p));
    }
    let cwd = std::env::current_dir()?;
    cwd.ancestors()
        .map(|d| d.join("scripts/stack"))
        .find(|p| p.is_file())
        .context("faults on brokers and the store need scripts/stack: run from the brokerbench checkout or set BB_STACK_SCRIPT")
}

async fn stack(verb: &str, services: &[&str]) -> anyhow::Result<()> {
    let script = stack_script()?;
    let out = tokio::process::Command::new(&script)
        .arg(verb)
        .args(services)
        .output()
        .await
        .with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "scripts/stack {verb} {}: {}",
        services.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Applies one fault at its time and undoes it; never fails the run (an error is recorded).
/// `processes` are the run's ingress and subscribers as started; what a kill replaced them with
/// goes to `restarted`, for the runner to stop at the end.
pub async fn inject(
    spec: FaultSpec,
    group: &[Middleware],
    measure_start: Instant,
    processes: &[&RoleProcess],
    restarted: &Mutex<Vec<RoleProcess>>,
) -> FaultRecord {
    tokio::time::sleep_until(measure_start + Duration::from_secs_f64(spec.start_s)).await;
    let since = |at: Instant| (at - measure_start).as_secs_f64();
    let (start, start_ns) = (Instant::now(), now_ns());
    let hold = Duration::from_secs_f64(spec.duration_s);
    let (target, result) = match stack_target(spec.kind, group) {
        Some(services) if services.is_empty() => (
            "(no broker)".to_string(),
            Err(anyhow::anyhow!(
                "not applied: no broker of its own on this path"
            )),
        ),
        Some(services) => {
            let (on, off) = match spec.kind {
                FaultKind::BrokerPause | FaultKind::StorePause => ("pause", "resume"),
                _ => ("kill", "up"),
            };
            let result = async {
                stack(on, &services).await?;
                tokio::time::sleep(hold).await;
                stack(off, &services).await
            }
            .await;
            (services.join("+"), result)
        }
        None => {
            let role = match spec.kind {
                FaultKind::IngressKill => "ingress",
                _ => "subscriber",
            };
            let result = kill_and_restart(role, hold, processes, restarted).await;
            (role.to_string(), result)
        }
    };
    FaultRecord {
        spec,
        target,
        start_s: since(start),
        end_s: since(Instant::now()),
        start_ns,
        end_ns: now_ns(),
        error: result.err().map(|e| format!("{e:#}")),
    }
}

/// SIGKILLs every run process of `role` (its latest incarnation), waits `hold`, starts each
/// again on its sockets and waits until it answers `/healthz`.
async fn kill_and_restart(
    role: &str,
    hold: Duration,
    processes: &[&RoleProcess],
    restarted: &Mutex<Vec<RoleProcess>>,
) -> anyhow::Result<()> {
    let mut restarted = restarted.lock().await;
    let victims: Vec<&RoleProcess> = processes
        .iter()
        .copied()
        .filter(|p| p.role == role)
        .collect();
    for victim in &victims {
        let latest = restarted
            .iter()
            .rev()
            .find(|p| p.url == victim.url)
            .unwrap_or(*victim);
        if let Some(pid) = latest.pid() {
            signal(pid, "KILL");
            wait_dead(pid).await;
        }
    }
    tokio::time::sleep(hold).await;
    for victim in victims {
        let mut again = victim.respawn().await?;
        let log = again.log().to_path_buf();
        again.wait_healthy(Duration::from_secs(60), &log).await?;
        restarted.push(again);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kind_start_and_duration() {
        let f: FaultSpec = "broker-kill@10+5".parse().expect("valid");
        assert_eq!(
            (f.kind, f.start_s, f.duration_s),
            (FaultKind::BrokerKill, 10.0, 5.0)
        );
        let f: FaultSpec = "subscriber-kill@2.5".parse().expect("valid");
        assert_eq!(
            (f.kind, f.start_s, f.duration_s),
            (FaultKind::SubscriberKill, 2.5, 0.0)
        );
        for bad in [
            "broker-kill",
            "kill@1",
            "store-pause@-1+2",
            "store-pause@1+x",
            "@1",
        ] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn refuses_what_cannot_be_applied() {
        let net: FaultSpec = "net-delay@1+1".parse().expect("valid");
        let e = validate(&[net], &[Middleware::Nats], 20.0).expect_err("not here");
        assert!(e.to_string().contains("not available here"), "{e}");
        let grpc: FaultSpec = "broker-kill@1+1".parse().expect("valid");
        assert!(validate(&[grpc], &[Middleware::Grpc], 20.0).is_err());
        let mixed = [Middleware::Grpc, Middleware::Nats];
        if let Err(e) = validate(&[grpc], &mixed, 20.0) {
            panic!("applied where it can be, but: {e}");
        }
        let late: FaultSpec = "subscriber-kill@30".parse().expect("valid");
        assert!(validate(&[late], &[Middleware::Nats], 20.0).is_err());
    }
}
