//! Faults on a run's timeline: `run --fault KIND@START[+DURATION]` kills or pauses the broker, the
//! store, a subscriber or the ingress of the path under test, START seconds into the measure
//! phase, and undoes it DURATION seconds later (restart, resume). Brokers and the store are
//! signalled through `scripts/stack` (so only services it started are touched); the run's own
//! processes are killed and started again by the runner on the same sockets, which it holds.

use std::time::Duration;

use anyhow::{Context as _, bail};
use brokerbench_common::envelope::now_ns;
use brokerbench_common::metrics::PhaseBounds;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::carry::Carry;
use super::cluster::{self, Cluster};
use crate::processes::children::{RoleProcess, fetch_stats, signal, wait_dead};
use crate::processes::services::stack_script;
pub use crate::results::faults::{FaultKind, FaultRecord, FaultSpec, NodeTarget};

/// Checks every fault can be applied to `group` on this machine, before the run starts;
/// `clusters`: the paths' clusters with `--topology cluster`, none with `single`.
pub fn validate(
    faults: &[FaultSpec],
    group: &[Middleware],
    span_s: f64,
    clusters: Option<&[Cluster]>,
) -> anyhow::Result<()> {
    for f in faults {
        let name = f.kind.name();
        match (f.kind, clusters) {
            (FaultKind::NetDelay | FaultKind::NetLoss, _) => bail!(
                "{name} is not available here: it needs each path's traffic in a network namespace of the run (tc netem), which brokerbench does not build yet"
            ),
            (FaultKind::NodeKill | FaultKind::Partition, None) => {
                bail!("{name} strikes a cluster's node: it needs --topology cluster")
            }
            (FaultKind::NodeKill | FaultKind::Partition, Some(clusters)) => {
                node_exists(f, clusters)?
            }
            (_, Some(_)) if stack_target(f.kind, group).is_some() => bail!(
                "{name} signals scripts/stack's own services, not a cluster's nodes: use node-kill with --topology cluster"
            ),
            (FaultKind::BrokerKill | FaultKind::BrokerPause, None)
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

/// A numbered node fault names a node every cluster has.
fn node_exists(f: &FaultSpec, clusters: &[Cluster]) -> anyhow::Result<()> {
    if let Some(NodeTarget::Node(k)) = f.node {
        for c in clusters {
            anyhow::ensure!(
                usize::from(k) <= c.nodes.len(),
                "{}:{k}: the {} cluster has {} nodes",
                f.kind.name(),
                c.middleware,
                c.nodes.len()
            );
        }
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

/// What the faults of one group run strike: the paths, the run's ingress and subscribers as
/// started (what a kill replaced them with goes to `restarted`, for the runner to stop at the
/// end), and with `--topology cluster` the paths' clusters, whose leader is asked with `brokers`
/// (the run's own stream and queue names).
pub struct FaultTargets<'a> {
    pub group: &'a [Middleware],
    pub processes: Vec<&'a RoleProcess>,
    pub restarted: Mutex<Vec<RoleProcess>>,
    pub carry: &'a Carry,
    pub clusters: &'a [Cluster],
    pub brokers: &'a BrokerSettings,
}

/// Applies one fault at its time and undoes it; never fails the run (an error is recorded).
pub async fn inject(
    spec: FaultSpec,
    window: (Instant, PhaseBounds),
    targets: &FaultTargets<'_>,
) -> FaultRecord {
    let (measure_start, bounds) = window;
    tokio::time::sleep_until(measure_start + Duration::from_secs_f64(spec.start_s)).await;
    let since = |at: Instant| (at - measure_start).as_secs_f64();
    let (start, start_ns) = (Instant::now(), now_ns());
    let hold = Duration::from_secs_f64(spec.duration_s);
    let (target, result) = match (stack_target(spec.kind, targets.group), spec.node) {
        (_, Some(node)) => strike_nodes(spec.kind, node, targets, hold).await,
        (Some(services), _) if services.is_empty() => (
            "(no broker)".to_string(),
            Err(anyhow::anyhow!(
                "not applied: no broker of its own on this path"
            )),
        ),
        (Some(services), _) => {
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
        (None, None) => {
            let role = match spec.kind {
                FaultKind::IngressKill => "ingress",
                _ => "subscriber",
            };
            let killed = Killed {
                role,
                processes: &targets.processes,
                restarted: &targets.restarted,
                carry: targets.carry,
            };
            let result = killed.kill_and_restart(hold, bounds).await;
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

/// The run processes of one role a fault kills, and where their replacements and figures go.
struct Killed<'a> {
    role: &'a str,
    /// The run's processes as started.
    processes: &'a [&'a RoleProcess],
    /// What earlier kills started again.
    restarted: &'a Mutex<Vec<RoleProcess>>,
    carry: &'a Carry,
}

impl Killed<'_> {
    /// SIGKILLs every run process of the role (its latest incarnation) once its last figures
    /// are read (a subscriber's after it was frozen, so that they are final), waits `hold`,
    /// starts each again on its sockets, waits until it answers `/healthz` and tells it the
    /// measure window, so that it files each case under its phase like the process it replaced.
    async fn kill_and_restart(&self, hold: Duration, bounds: PhaseBounds) -> anyhow::Result<()> {
        let mut restarted = self.restarted.lock().await;
        let victims: Vec<&RoleProcess> = self
            .processes
            .iter()
            .copied()
            .filter(|p| p.role == self.role)
            .collect();
        let client = crate::control::client()?;
        for victim in &victims {
            let latest = restarted
                .iter()
                .rev()
                .find(|p| p.url == victim.url)
                .unwrap_or(*victim);
            if let Some(pid) = latest.pid() {
                if self.role == "subscriber" {
                    freeze(&client, &latest.url).await;
                }
                if let Some(last) = fetch_stats(&client, &latest.url).await {
                    self.carry.last_words(&latest.url, last);
                }
                signal(pid, "KILL");
                wait_dead(pid).await;
            }
        }
        tokio::time::sleep(hold).await;
        for victim in victims {
            let mut again = victim.respawn().await?;
            let log = again.log().to_path_buf();
            again.wait_healthy(Duration::from_secs(60), &log).await?;
            let told = client
                .post(format!("{}/phases", again.url))
                .json(&bounds)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            restarted.push(again);
            told.context("cannot tell the restarted process the measure window")?;
        }
        Ok(())
    }
}

/// Stops a subscriber's writes before its last reading, so that the reading is final (no case
/// is stored between it and the signal: `SinkConfig::frozen`). One that cannot be told is killed
/// anyway; what it stores in between then goes uncounted, and the accounting says so.
async fn freeze(client: &reqwest::Client, url: &str) {
    let told = client
        .post(format!("{url}/freeze"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    if let Err(e) = told {
        tracing::warn!(error = %e, url, "cannot freeze the subscriber before its kill");
    }
}

/// Kills (and starts again) or cuts off (and joins again) the node `node` names in each path's
/// cluster at once.
async fn strike_nodes(
    kind: FaultKind,
    node: NodeTarget,
    targets: &FaultTargets<'_>,
    hold: Duration,
) -> (String, anyhow::Result<()>) {
    let how = match kind {
        FaultKind::Partition => cluster::Strike::Partition,
        _ => cluster::Strike::Kill,
    };
    let strikes = (targets.clusters.iter())
        .filter(|c| targets.group.contains(&c.middleware))
        .map(|c| cluster::strike(how, node, c, targets.brokers, hold));
    let struck = futures::future::join_all(strikes).await;
    let names: Vec<&str> = struck.iter().map(|(name, _)| name.as_str()).collect();
    let mut errors = struck.iter().filter_map(|(_, r)| r.as_ref().err());
    let result = match errors.next() {
        Some(e) => Err(anyhow::anyhow!("{e:#}")),
        None if names.is_empty() => Err(anyhow::anyhow!("no cluster on these paths")),
        None => Ok(()),
    };
    (names.join("+"), result)
}

/// Each fault's window on the terminal, or why it could not be injected.
pub fn report(faults: &[FaultRecord]) {
    for f in faults {
        match &f.error {
            Some(e) => eprintln!("\n!!! fault {} on {}: {e}", f.spec.kind.name(), f.target),
            None => eprintln!(
                "\nfault {} on {}: {:.1} s → {:.1} s",
                f.spec.kind.name(),
                f.target,
                f.start_s,
                f.end_s
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_be_applied() {
        let net: FaultSpec = "net-delay@1+1".parse().expect("valid");
        let e = validate(&[net], &[Middleware::Nats], 20.0, None).expect_err("not here");
        assert!(e.to_string().contains("not available here"), "{e}");
        let grpc: FaultSpec = "broker-kill@1+1".parse().expect("valid");
        assert!(validate(&[grpc], &[Middleware::Grpc], 20.0, None).is_err());
        let mixed = [Middleware::Grpc, Middleware::Nats];
        if let Err(e) = validate(&[grpc], &mixed, 20.0, None) {
            panic!("applied where it can be, but: {e}");
        }
        let late: FaultSpec = "subscriber-kill@30".parse().expect("valid");
        assert!(validate(&[late], &[Middleware::Nats], 20.0, None).is_err());
        let node: FaultSpec = "node-kill@1+1:leader".parse().expect("valid");
        assert!(validate(&[node], &[Middleware::Nats], 20.0, None).is_err());
        let cluster = [cluster_of(3)];
        let on_cluster = |f: &str| {
            let f: FaultSpec = f.parse().expect("valid");
            validate(&[f], &[Middleware::Nats], 20.0, Some(&cluster))
        };
        assert!(on_cluster("node-kill@1+1:leader").is_ok());
        assert!(on_cluster("node-kill@1+1:3").is_ok());
        assert!(on_cluster("node-kill@1+1:4").is_err(), "three nodes");
        assert!(on_cluster("broker-kill@1+1").is_err(), "not the cluster's");
    }

    fn cluster_of(nodes: usize) -> Cluster {
        let node = |k: usize| cluster::ClusterNode {
            name: format!("n{k}"),
            netns: format!("bb-h{k}"),
            addr: format!("h{k}:4222"),
            pid_file: format!("/nonexistent/n{k}.pid").into(),
            command: vec!["nats-server".into()],
            log: format!("/nonexistent/n{k}.log").into(),
        };
        Cluster {
            middleware: Middleware::Nats,
            broker_options: Vec::new(),
            nodes: (1..=nodes).map(node).collect(),
        }
    }
}
