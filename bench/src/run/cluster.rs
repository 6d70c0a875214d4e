//! Clustered brokers (`run --topology cluster`): each path's nodes run on simulated hosts (one
//! network namespace each, `scripts/hosts`), as a cluster file describes them. The file is
//! written by whoever started the cluster (`scripts/stack cluster up`, or a test) and names, per
//! node, how the broker calls it, where it runs and answers, its pid file and how to start it
//! again: all a node fault needs. The run's clients get the file's broker options (every node's
//! address, the replication), and the file is recorded in summary.json's config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use brokerbench_common::middleware::leader::leader;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::processes::children::{signal, wait_dead};
use crate::results::faults::NodeTarget;

/// One path's cluster: `<cluster dir>/<middleware>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub middleware: Middleware,
    /// Broker options every client of the path gets, over the run's own (e.g.
    /// `--nats-url=nats://h1:4222,nats://h2:4222,nats://h3:4222`, `--nats-replicas=3`).
    pub broker_options: Vec<String>,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterNode {
    /// As the broker names it (NATS `server_name`): how the leader is recognised.
    pub name: String,
    /// The network namespace (simulated host) it runs in.
    pub netns: String,
    /// Where its clients reach it (host:port): answering there again ends its restart.
    pub addr: String,
    pub pid_file: PathBuf,
    /// How it is started (run in `netns`), output appended to `log`.
    pub command: Vec<String>,
    pub log: PathBuf,
}

/// The cluster of each path of `paths`, read from `dir`.
pub fn load(dir: &Path, paths: &[Middleware]) -> anyhow::Result<Vec<Cluster>> {
    let mut clusters = Vec::new();
    for &m in paths {
        let file = dir.join(format!("{m}.toml"));
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "no cluster of {m}: cannot read {} (scripts/stack cluster up starts one)",
                file.display()
            )
        })?;
        let cluster: Cluster = toml::from_str(&text)
            .with_context(|| format!("{} is no cluster file", file.display()))?;
        anyhow::ensure!(
            cluster.middleware == m,
            "{} describes a {} cluster, not {m}",
            file.display(),
            cluster.middleware
        );
        anyhow::ensure!(!cluster.nodes.is_empty(), "{}: no nodes", file.display());
        clusters.push(cluster);
    }
    Ok(clusters)
}

/// `brokers` with every cluster's broker options over them.
pub fn with_cluster_options(
    brokers: &BrokerSettings,
    clusters: &[Cluster],
) -> anyhow::Result<BrokerSettings> {
    let options: Vec<String> = (clusters.iter())
        .flat_map(|c| c.broker_options.iter().cloned())
        .collect();
    crate::processes::brokers::reported_settings(&brokers.to_args(), &options)
        .context("a cluster file's broker options")
}

/// The pid of a node now, from its pid file.
pub fn node_pid(node: &ClusterNode) -> Option<u32> {
    let text = std::fs::read_to_string(&node.pid_file).ok()?;
    text.trim().parse().ok()
}

/// The node `target` names in `cluster` now; the leader as the broker tells it (asked with
/// `brokers`).
async fn resolve<'a>(
    target: NodeTarget,
    cluster: &'a Cluster,
    brokers: &BrokerSettings,
) -> anyhow::Result<&'a ClusterNode> {
    let m = cluster.middleware;
    let by_index = |k: u8| cluster.nodes.get(usize::from(k).wrapping_sub(1));
    let leader_name = || async {
        let name = leader(m, brokers).await?;
        name.ok_or_else(|| anyhow::anyhow!("the {m} broker names no leader now"))
    };
    let found = match target {
        NodeTarget::Node(k) => by_index(k),
        NodeTarget::Leader => {
            let name = leader_name().await?;
            cluster.nodes.iter().find(|n| n.name == name)
        }
        NodeTarget::Follower => {
            let name = leader_name().await?;
            cluster.nodes.iter().find(|n| n.name != name)
        }
    };
    found.ok_or_else(|| anyhow::anyhow!("the {m} cluster has no node {target}"))
}

/// What a node fault does to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// SIGKILL, then started again.
    Kill,
    /// Its host's link down (nothing reaches it, it reaches nothing), then up again.
    Partition,
}

/// Strikes the node `target` names, waits `hold`, undoes it and waits until the node answers at
/// its address again. Returns the node struck (its name, and what it was) and how it went.
pub async fn strike(
    how: Strike,
    target: NodeTarget,
    cluster: &Cluster,
    brokers: &BrokerSettings,
    hold: Duration,
) -> (String, anyhow::Result<()>) {
    let node = match resolve(target, cluster, brokers).await {
        Ok(node) => node,
        Err(e) => return (format!("{} node {target}", cluster.middleware), Err(e)),
    };
    let named = format!("{} node {} ({target})", cluster.middleware, node.name);
    let result = async {
        match how {
            Strike::Kill => {
                let pid = node_pid(node)
                    .with_context(|| format!("no pid in {}", node.pid_file.display()))?;
                signal(pid, "KILL");
                wait_dead(pid).await;
                tokio::time::sleep(hold).await;
                start(node)?;
            }
            Strike::Partition => {
                link(node, "down").await?;
                tokio::time::sleep(hold).await;
                link(node, "up").await?;
            }
        }
        wait_answering(&node.addr, Duration::from_secs(60)).await
    }
    .await;
    (named, result)
}

/// Sets the link of `node`'s host to `state` (`down`, `up`).
async fn link(node: &ClusterNode, state: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("ip")
        .args(["-n", &node.netns, "link", "set", "eth0", state])
        .output()
        .await
        .context("cannot run ip")?;
    anyhow::ensure!(
        out.status.success(),
        "ip -n {} link set eth0 {state}: {}",
        node.netns,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Starts `node` in its network namespace, detached from the run (the hosts' teardown stops it),
/// and writes its pid file.
fn start(node: &ClusterNode) -> anyhow::Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.log)
        .with_context(|| format!("cannot write {}", node.log.display()))?;
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", &node.netns])
        .args(&node.command)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start node {} in {}", node.name, node.netns))?;
    std::fs::write(&node.pid_file, child.id().to_string())
        .with_context(|| format!("cannot write {}", node.pid_file.display()))
}

/// Waits until something accepts a TCP connection at `addr`.
async fn wait_answering(addr: &str, patience: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing answers at {addr} {patience:?} after the restart");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
