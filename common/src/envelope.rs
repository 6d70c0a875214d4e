//! The protobuf envelope (generated from `proto/brokerbench.proto`) and what the ingress stamps on it.

use prost::Message;

tonic::include_proto!("brokerbench.v1");

pub use crate::clock::now_ns;

/// Where the case ids of a request with an `Idempotency-Key` come from (a fixed, random UUID).
const IDEMPOTENT_IDS: uuid::Uuid = uuid::Uuid::from_u128(0x5b1c_03c8_7f4e_4d8a_9a55_2f3e_8c61_d0b7);

/// The id of the `index`-th case of a request sent with `Idempotency-Key: key`: the same key
/// always yields the same ids, so a retried request stores each case once, and a client that
/// chose the key knows the ids without reading the answer.
pub fn idempotent_id(key: &str, index: usize) -> String {
    uuid::Uuid::new_v5(&IDEMPOTENT_IDS, format!("{key}#{index}").as_bytes()).to_string()
}

impl Envelope {
    /// Wraps an accepted case with a fresh time-ordered id and the acceptance time.
    pub fn accept(case: Case, accepted_at_ns: i64, intended_at_ns: Option<i64>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            case: Some(case),
            accepted_at_ns,
            intended_at_ns,
        }
    }

    /// The same envelope under another id (an idempotent request's, see [`idempotent_id`]).
    pub fn with_id(self, id: String) -> Self {
        Self { id, ..self }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        Self::decode(bytes)
    }

    /// Where end-to-end latency starts: when the generator meant to send, if it said, so that a
    /// stalled system cannot hide its queueing delay (coordinated omission).
    pub fn latency_origin_ns(&self) -> i64 {
        self.intended_at_ns.unwrap_or(self.accepted_at_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes() {
        let case = Case {
            name: "Ana".into(),
            location: "Petén".into(),
            age: 3,
            infectedtype: "imported".into(),
            state: "asymptomatic".into(),
        };
        let env = Envelope::accept(case, 10, Some(7));
        let back = Envelope::from_bytes(&env.to_bytes()).expect("decodes");
        assert_eq!(back, env);
        assert_eq!(back.latency_origin_ns(), 7);
        assert!(Envelope::from_bytes(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn idempotent_ids_depend_on_key_and_index_only() {
        assert_eq!(idempotent_id("k1", 0), idempotent_id("k1", 0));
        assert_ne!(idempotent_id("k1", 0), idempotent_id("k1", 1));
        assert_ne!(idempotent_id("k1", 0), idempotent_id("k2", 0));
    }
}
