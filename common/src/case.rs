//! The infection case and its validation.
//!
//! Validation works on parsed JSON values rather than a typed `Deserialize` so that one request
//! reports *every* bad field with a reason, instead of stopping at serde's first error. Only what
//! validation looks at is built ([`crate::shallow_json`]).

use serde::Serialize;
use serde::de::{self, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

pub use crate::envelope::Case;
use crate::shallow_json::{Fields, Item, MAX_FIELDS, read_fields};

/// Largest batch one request may carry.
pub const MAX_BATCH: usize = 1_000;
pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_LOCATION_CHARS: usize = 128;
pub const MAX_AGE: u64 = 130;
pub const INFECTED_TYPES: [&str; 3] = ["imported", "non-imported", "communitary"];
pub const STATES: [&str; 2] = ["symptomatic", "asymptomatic"];

const KNOWN_KEYS: [&str; 6] = [
    "name",
    "location",
    "age",
    "infectedtype",
    "infected_type",
    "state",
];

/// One problem with one field; `field` is prefixed with `[i].` inside a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

/// Why a request body was refused: the body as a whole (`error`) and each bad field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct CaseError {
    pub error: String,
    pub fields: Vec<FieldProblem>,
}

impl CaseError {
    fn whole(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            fields: Vec::new(),
        }
    }
}

/// Parses a request body holding one case object or an array of 1..=1000 of them.
/// A batch is all-or-nothing: one bad case refuses the whole body. Parsing stops at the
/// 1,001st item, so a body of a million tiny items never becomes a million values in memory.
pub fn parse_cases(body: &[u8]) -> Result<Vec<Case>, CaseError> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed = reader.deserialize_any(BodyVisitor).and_then(|b| {
        reader.end()?;
        Ok(b)
    });
    match parsed {
        Ok(Body::One(fields)) => validate_case(&fields, "")
            .map(|case| vec![case])
            .map_err(invalid),
        Ok(Body::Many(items)) => parse_batch(&items),
        Ok(Body::Other(kind)) => Err(CaseError::whole(format!(
            "body must be a case object or an array of cases, not {kind}"
        ))),
        Err(e) if e.to_string().starts_with(TOO_MANY) => Err(CaseError {
            error: format!(
                "batch has more than {MAX_BATCH} cases; at most {MAX_BATCH} are allowed"
            ),
            fields: vec![FieldProblem {
                field: "[]".into(),
                problem: format!("more than {MAX_BATCH} items, limit {MAX_BATCH}"),
            }],
        }),
        Err(e) => Err(CaseError::whole(format!(
            "body is not valid UTF-8 JSON: {e}"
        ))),
    }
}

/// What a request body is, at the top level.
enum Body {
    One(Fields),
    Many(Vec<Item>),
    Other(&'static str),
}

/// The error text that stops parsing at the batch limit (serde errors carry only text).
const TOO_MANY: &str = "too many items in the batch";

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a case object or an array of cases")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
        read_fields(map).map(Body::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            if items.len() == MAX_BATCH {
                return Err(de::Error::custom(TOO_MANY));
            }
            items.push(item);
        }
        Ok(Body::Many(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Body, E> {
        Ok(Body::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Body, E> {
        Ok(Body::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<Body, E> {
        Ok(Body::Other("null"))
    }
}

fn parse_batch(items: &[Item]) -> Result<Vec<Case>, CaseError> {
    if items.is_empty() {
        return Err(CaseError::whole("batch is empty: send at least one case"));
    }
    let mut cases = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("[{i}].");
        match item {
            Item::Object(fields) => match validate_case(fields, &prefix) {
                Ok(case) => cases.push(case),
                Err(mut p) => problems.append(&mut p),
            },
            Item::Other(kind) => problems.push(FieldProblem {
                field: format!("[{i}]"),
                problem: format!("must be a case object, not {kind}"),
            }),
        }
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(invalid(problems))
    }
}

fn invalid(fields: Vec<FieldProblem>) -> CaseError {
    CaseError {
        error: "invalid case".into(),
        fields,
    }
}

fn validate_case(fields: &Fields, prefix: &str) -> Result<Case, Vec<FieldProblem>> {
    let map = &fields.map;
    let mut problems = Vec::new();
    let mut problem = |field: &str, text: String| {
        problems.push(FieldProblem {
            field: format!("{prefix}{field}"),
            problem: text,
        })
    };
    for key in map.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        problem(key, "unknown field".into());
    }
    if fields.skipped > 0 {
        let text = format!(
            "{} more fields, unread: a case has at most {MAX_FIELDS}",
            fields.skipped
        );
        problem("*", text);
    }
    let infected_key = match (
        map.contains_key("infectedtype"),
        map.contains_key("infected_type"),
    ) {
        (true, true) => {
            problem(
                "infected_type",
                "given twice (as infectedtype and infected_type)".into(),
            );
            "infectedtype"
        }
        (false, true) => "infected_type",
        _ => "infectedtype",
    };
    let name = text_field(map, "name", MAX_NAME_CHARS)
        .map_err(|p| problem("name", p))
        .ok();
    let location = text_field(map, "location", MAX_LOCATION_CHARS)
        .map_err(|p| problem("location", p))
        .ok();
    let age = age_field(map).map_err(|p| problem("age", p)).ok();
    let infectedtype = choice_field(map, infected_key, &INFECTED_TYPES)
        .map_err(|p| problem(infected_key, p))
        .ok();
    let state = choice_field(map, "state", &STATES)
        .map_err(|p| problem("state", p))
        .ok();
    match (name, location, age, infectedtype, state) {
        (Some(name), Some(location), Some(age), Some(infectedtype), Some(state))
            if problems.is_empty() =>
        {
            Ok(Case {
                name,
                location,
                age,
                infectedtype,
                state,
            })
        }
        _ => Err(problems),
    }
}

fn text_field(map: &Map<String, Value>, key: &str, max_chars: usize) -> Result<String, String> {
    let text = match map.get(key) {
        None => return Err("missing".into()),
        Some(Value::String(s)) => s.trim(),
        Some(other) => return Err(format!("must be a string, not {}", json_type(other))),
    };
    check_text(text, max_chars)?;
    Ok(text.to_owned())
}

/// The rules of a text field, once trimmed.
fn check_text(text: &str, max_chars: usize) -> Result<(), String> {
    if let Some((at, c)) = text.chars().enumerate().find(|(_, c)| is_hidden(*c)) {
        return Err(format!(
            "contains the control character U+{:04X} at character {at}; text fields take printable text only",
            u32::from(c)
        ));
    }
    let chars = text.chars().count();
    if chars == 0 {
        return Err("must not be empty or blank".into());
    }
    if chars > max_chars {
        return Err(format!(
            "{chars} characters; at most {max_chars} are allowed"
        ));
    }
    Ok(())
}

impl Case {
    /// The ingress's rules applied to a case that arrived already typed (from a broker, where
    /// anyone who reaches it can publish): every problem, by field; none for a valid case.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let choice = |value: &str, allowed: &[&str]| {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{:?} is not one of {}",
                    truncate(value, 40),
                    allowed.join(", ")
                ))
            }
        };
        let age = if u64::from(self.age) <= MAX_AGE {
            Ok(())
        } else {
            Err(format!("{} is out of range 0..={MAX_AGE}", self.age))
        };
        [
            ("name", check_text(self.name.trim(), MAX_NAME_CHARS)),
            (
                "location",
                check_text(self.location.trim(), MAX_LOCATION_CHARS),
            ),
            ("age", age),
            ("infectedtype", choice(&self.infectedtype, &INFECTED_TYPES)),
            ("state", choice(&self.state, &STATES)),
        ]
        .into_iter()
        .filter_map(|(field, checked)| {
            checked.err().map(|problem| FieldProblem {
                field: field.into(),
                problem,
            })
        })
        .collect()
    }
}

/// Control characters (NUL, newlines, escapes…) and the bidirectional overrides that make text
/// display as something else: none belongs in a name or a place, and some stores refuse NUL.
fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn age_field(map: &Map<String, Value>) -> Result<u32, String> {
    match map.get("age") {
        None => Err("missing".into()),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(age), _) if age <= MAX_AGE => Ok(age as u32),
            (Some(age), _) => Err(format!("{age} is out of range 0..={MAX_AGE}")),
            (None, Some(age)) => Err(format!("{age} is negative; must be 0..={MAX_AGE}")),
            (None, None) => Err(format!("{n} is not a whole number")),
        },
        Some(other) => Err(format!("must be an integer, not {}", json_type(other))),
    }
}

fn choice_field(map: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<String, String> {
    match map.get(key) {
        None => Err("missing".into()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        Some(Value::String(s)) => Err(format!(
            "{:?} is not one of {}",
            truncate(s, 40),
            allowed.join(", ")
        )),
        Some(other) => Err(format!("must be a string, not {}", json_type(other))),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;
