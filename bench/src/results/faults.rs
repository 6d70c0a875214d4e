//! Faults on a run's timeline (`run --fault KIND@START[+DURATION]`): what was asked for and what
//! happened, as `summary.json` records them (`run::faults` applies them).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
    /// SIGKILL one node of the path's cluster (`--topology cluster`): `:leader`, `:follower`
    /// or `:K` (the K-th node of its cluster file); started again after DURATION.
    NodeKill,
    /// Cut one node of the path's cluster off the network (its host's link down: no other node
    /// and no client reaches it, nor it them) for DURATION; `:leader`, `:follower` or `:K`.
    Partition,
    /// Delay on one path's traffic (needs a network namespace per run: not available here).
    NetDelay,
    /// Packet loss on one path's traffic (same).
    NetLoss,
}

impl FaultKind {
    const NAMES: [(&'static str, Self); 10] = [
        ("broker-kill", Self::BrokerKill),
        ("broker-pause", Self::BrokerPause),
        ("store-pause", Self::StorePause),
        ("store-kill", Self::StoreKill),
        ("subscriber-kill", Self::SubscriberKill),
        ("ingress-kill", Self::IngressKill),
        ("node-kill", Self::NodeKill),
        ("partition", Self::Partition),
        ("net-delay", Self::NetDelay),
        ("net-loss", Self::NetLoss),
    ];

    /// Whether the fault strikes one node of a cluster (and so needs its `:NODE`).
    pub fn strikes_a_node(self) -> bool {
        matches!(self, Self::NodeKill | Self::Partition)
    }

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
    /// Which node of a cluster a node fault strikes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeTarget>,
}

/// The node of a cluster a fault strikes, chosen when it strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeTarget {
    /// The node leading the path's stream or queue, as the broker tells it then.
    Leader,
    /// A node that does not lead it then (the first such in the cluster file).
    Follower,
    /// The K-th node of the cluster file (from 1).
    Node(u8),
}

impl std::fmt::Display for NodeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Leader => f.write_str("leader"),
            Self::Follower => f.write_str("follower"),
            Self::Node(k) => write!(f, "{k}"),
        }
    }
}

impl FromStr for NodeTarget {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text.trim() {
            "leader" => Ok(Self::Leader),
            "follower" => Ok(Self::Follower),
            k => k.parse().ok().filter(|k| *k >= 1).map(Self::Node).ok_or(()),
        }
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    /// `KIND@START[+DURATION][:NODE]`, e.g. `broker-kill@10+5` (seconds; DURATION defaults to
    /// 0), `node-kill@10+5:leader` (a node fault needs its NODE, no other fault takes one).
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || {
            let kinds: Vec<&str> = FaultKind::NAMES.iter().map(|(n, _)| *n).collect();
            format!(
                "{text:?}: expected KIND@START[+DURATION] in seconds, e.g. broker-kill@10+5, and \
                 for node-kill and partition :NODE (leader, follower or its number), e.g. \
                 node-kill@10+5:leader; \
                 KIND is one of {}",
                kinds.join(", ")
            )
        };
        let (text_before_node, node) = match text.split_once(':') {
            Some((before, node)) => (
                before,
                Some(node.parse::<NodeTarget>().map_err(|_| usage())?),
            ),
            None => (text, None),
        };
        let (kind, when) = text_before_node.split_once('@').ok_or_else(usage)?;
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
        if node.is_some() != kind.strikes_a_node() {
            return Err(usage());
        }
        match (seconds(start), seconds(duration)) {
            (Some(start_s), Some(duration_s)) => Ok(Self {
                kind,
                start_s,
                duration_s,
                node,
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
        let f: FaultSpec = "node-kill@3+5:leader".parse().expect("valid");
        assert_eq!(
            (f.kind, f.node),
            (FaultKind::NodeKill, Some(NodeTarget::Leader))
        );
        let f: FaultSpec = "node-kill@3:2".parse().expect("valid");
        assert_eq!(f.node, Some(NodeTarget::Node(2)));
        let f: FaultSpec = "partition@3+5:follower".parse().expect("valid");
        assert_eq!(
            (f.kind, f.node),
            (FaultKind::Partition, Some(NodeTarget::Follower))
        );
        for bad in [
            "node-kill@3+5",
            "partition@3+5",
            "node-kill@3+5:0",
            "node-kill@3+5:boss",
            "broker-kill@3+5:leader",
            "broker-kill",
            "kill@1",
            "store-pause@-1+2",
            "store-pause@1+x",
            "@1",
        ] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad} must be refused");
        }
    }
}
