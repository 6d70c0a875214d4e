//! Who offered a run's load.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// The built-in open-loop generator, corrected for coordinated omission.
    Builtin,
    /// Locust, headless, one worker per core: closed loop, no coordinated-omission correction.
    Locust,
}

impl Generator {
    /// What `summary.json` and the pages call it: the built-in one by what it is, `open-loop`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Builtin => "open-loop",
            Self::Locust => "locust",
        }
    }
}

impl std::fmt::Display for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `summary.json` names the generator by [`Generator::name`].
pub(super) mod by_name {
    use super::Generator;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(g: &Generator, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(g.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Generator, D::Error> {
        match String::deserialize(d)?.as_str() {
            "open-loop" => Ok(Generator::Builtin),
            "locust" => Ok(Generator::Locust),
            other => Err(serde::de::Error::custom(format!(
                "generator {other:?}: expected open-loop or locust"
            ))),
        }
    }
}
