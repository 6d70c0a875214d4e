//! What a subscriber checks of an envelope before it stores it. Brokers take messages from
//! anyone who reaches them (NATS, Redis and the Pub/Sub emulator ask for no credentials), so an
//! envelope that decodes is not yet a case the ingress accepted: without this check an empty
//! payload would be stored as a case with an empty id, and a guessed id could take a real
//! case's place.

use crate::case::FieldProblem;
use crate::envelope::Envelope;

/// Why a decoded envelope is not a case the ingress could have accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEnvelope {
    #[error("its id {0:?} is not a UUID")]
    Id(String),
    #[error("it carries no acceptance time")]
    NoAcceptance,
    #[error("it carries no case")]
    NoCase,
    #[error("its case breaks the ingress's rules: {}", described(.0))]
    Case(Vec<FieldProblem>),
}

fn described(problems: &[FieldProblem]) -> String {
    let each: Vec<String> = problems
        .iter()
        .map(|p| format!("{} {}", p.field, p.problem))
        .collect();
    each.join("; ")
}

impl Envelope {
    /// Whether this envelope could have come from the ingress: a UUID for an id, an acceptance
    /// time, and a case that passes the ingress's own validation.
    pub fn check(&self) -> Result<(), InvalidEnvelope> {
        if uuid::Uuid::try_parse(&self.id).is_err() {
            return Err(InvalidEnvelope::Id(self.id.chars().take(40).collect()));
        }
        if self.accepted_at_ns <= 0 {
            return Err(InvalidEnvelope::NoAcceptance);
        }
        let case = self.case.as_ref().ok_or(InvalidEnvelope::NoCase)?;
        let problems = case.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidEnvelope::Case(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Case;

    fn valid() -> Envelope {
        let case = Case {
            name: "Ana".into(),
            location: "Petén".into(),
            age: 3,
            infectedtype: "imported".into(),
            state: "asymptomatic".into(),
        };
        Envelope::accept(case, 10, None)
    }

    #[test]
    fn what_the_ingress_accepts_passes() {
        assert_eq!(valid().check(), Ok(()));
        assert_eq!(
            valid()
                .with_id(crate::envelope::idempotent_id("k", 0))
                .check(),
            Ok(())
        );
    }

    #[test]
    fn an_empty_payload_is_refused_for_its_id() {
        let empty = Envelope::from_bytes(b"").expect("an empty payload decodes");
        assert_eq!(empty.check(), Err(InvalidEnvelope::Id(String::new())));
    }

    #[test]
    fn each_missing_part_is_named() {
        let mut no_time = valid();
        no_time.accepted_at_ns = 0;
        assert_eq!(no_time.check(), Err(InvalidEnvelope::NoAcceptance));
        let no_case = Envelope {
            case: None,
            ..valid()
        };
        assert_eq!(no_case.check(), Err(InvalidEnvelope::NoCase));
    }

    #[test]
    fn a_case_the_ingress_would_refuse_is_refused_with_every_reason() {
        let mut envelope = valid();
        let case = envelope.case.as_mut().expect("case");
        case.name = "bad\u{0}name".into();
        case.age = 131;
        case.state = "unknown".into();
        let Err(InvalidEnvelope::Case(problems)) = envelope.check() else {
            panic!("refused for its case");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["name", "age", "state"]);
        let text = InvalidEnvelope::Case(problems).to_string();
        assert!(text.contains("U+0000") && text.contains("131"), "{text}");
    }
}
