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
}
