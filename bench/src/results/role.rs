//! Which part of a pipeline a process plays, as every figure about processes names it: the
//! runner's samples, `summary.json`'s costs, `resources.csv` and the report. Written as text
//! (`ingress`, `store`, `subscriber:<path>`, `broker:<path>`), read back into the enum, so a
//! misspelt role is an error where it is read, never a silent miss.

use std::fmt;
use std::str::FromStr;

use brokerbench_common::settings::Middleware;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Ingress,
    /// The MongoDB-wire server.
    Store,
    Subscriber(Middleware),
    Broker(Middleware),
}

impl Role {
    /// The path a role belongs to alone (the ingress and the store may serve several).
    pub fn path(self) -> Option<Middleware> {
        match self {
            Self::Subscriber(m) | Self::Broker(m) => Some(m),
            Self::Ingress | Self::Store => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ingress => f.write_str("ingress"),
            Self::Store => f.write_str("store"),
            Self::Subscriber(m) => write!(f, "subscriber:{m}"),
            Self::Broker(m) => write!(f, "broker:{m}"),
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let path = |name: &str| {
            Middleware::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .ok_or_else(|| format!("{text:?}: no path {name:?}"))
        };
        match text.split_once(':') {
            None if text == "ingress" => Ok(Self::Ingress),
            None if text == "store" => Ok(Self::Store),
            Some(("subscriber", m)) => path(m).map(Self::Subscriber),
            Some(("broker", m)) => path(m).map(Self::Broker),
            _ => Err(format!(
                "{text:?} is not a role (ingress, store, subscriber:<path>, broker:<path>)"
            )),
        }
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_as_written() {
        let mut roles = vec![Role::Ingress, Role::Store];
        for m in Middleware::ALL {
            roles.extend([Role::Subscriber(m), Role::Broker(m)]);
        }
        for role in roles {
            let json = serde_json::to_string(&role).expect("serializes");
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).expect("parses"), role);
        }
        for bad in ["subscriber:mqtt", "broker", "Ingress", "subscriber:"] {
            assert!(bad.parse::<Role>().is_err(), "{bad} must be refused");
        }
    }
}
