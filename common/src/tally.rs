//! The dashboard's tallies: what each path's subscriber stored, counted as it stores.
//!
//! The cases page shows totals, shares and the newest cases. Computed from the collections they
//! cost a scan each: FerretDB 1.24 pushes no sort, range or `$group` down to PostgreSQL, and here
//! it counted 200,000 documents in 12.8 s and grouped them in 10.8 s. So each subscriber counts
//! what it stores and adds its counts to one small document per path (in [`COLLECTION`], `_id` =
//! the path's name) once a second; the page reads those few documents. The subscriber writes,
//! the dashboard reads: both go through this module.
//!
//! A tally counts a case when its write is confirmed. A write that timed out but landed is
//! counted by neither try (its redelivery meets a duplicate), and a subscriber killed within a
//! second of writing loses that second's counts: the collection, not the tally, is the record.

use std::collections::BTreeMap;

use mongodb::bson::{Bson, Document, doc};

/// The collection of tally documents, next to the cases' collections.
pub const COLLECTION: &str = "tallies";

/// The newest stored cases each tally keeps (the first page of the cases table).
pub const RECENT: usize = 25;

/// Counts per value of one field.
pub type Counts = BTreeMap<String, u64>;

/// What one path stored: how many, and how many per value of each field the page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub total: u64,
    pub infected_types: Counts,
    pub states: Counts,
    pub locations: Counts,
    /// Per age; ages that are not whole numbers are not counted here.
    pub ages: BTreeMap<i64, u64>,
}

impl Tally {
    /// Counts one stored case, as its document reads.
    pub fn add_document(&mut self, case: &Document) {
        self.total += 1;
        let text = |field: &str| case.get_str(field).unwrap_or_default().to_string();
        *self.infected_types.entry(text("infectedtype")).or_default() += 1;
        *self.states.entry(text("state")).or_default() += 1;
        *self.locations.entry(text("location")).or_default() += 1;
        if let Some(age) = whole_number(case.get("age")) {
            *self.ages.entry(age).or_default() += 1;
        }
    }

    /// Adds `other`'s counts (a flush that failed is tried again with the next one).
    pub fn merge(&mut self, other: Tally) {
        self.total += other.total;
        for (mine, theirs) in [
            (&mut self.infected_types, other.infected_types),
            (&mut self.states, other.states),
            (&mut self.locations, other.locations),
        ] {
            for (key, n) in theirs {
                *mine.entry(key).or_default() += n;
            }
        }
        for (age, n) in other.ages {
            *self.ages.entry(age).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `$inc` document that adds these counts to a tally document.
    pub fn increments(&self) -> Document {
        let mut inc = doc! { "total": count(self.total) };
        for (field, counts) in self.text_fields() {
            for (key, n) in counts {
                inc.insert(format!("{field}.{}", encode_key(key)), count(*n));
            }
        }
        for (age, n) in &self.ages {
            inc.insert(format!("age.{age}"), count(*n));
        }
        inc
    }

    /// A tally document as the subscribers wrote it; what cannot be read counts as absent.
    pub fn from_document(d: &Document) -> Self {
        let counts = |field: &str| -> Counts {
            d.get_document(field)
                .map(|sub| {
                    sub.iter()
                        .map(|(k, v)| (decode_key(k), whole_number(Some(v)).unwrap_or(0)))
                        .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let ages = counts("age")
            .into_iter()
            .filter_map(|(k, n)| k.parse::<i64>().ok().map(|age| (age, n)))
            .collect();
        Self {
            total: whole_number(d.get("total"))
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            infected_types: counts("infectedtype"),
            states: counts("state"),
            locations: counts("location"),
            ages,
        }
    }

    fn text_fields(&self) -> [(&'static str, &Counts); 3] {
        [
            ("infectedtype", &self.infected_types),
            ("state", &self.states),
            ("location", &self.locations),
        ]
    }
}

/// The update that adds `counts` to a path's tally document (filter: `{_id: <path>}`, upsert)
/// and, when given, replaces its newest cases (newest first, at most [`RECENT`]).
pub fn update(counts: &Tally, recent: Option<Vec<Document>>) -> Document {
    let mut update = Document::new();
    if !counts.is_empty() {
        update.insert("$inc", counts.increments());
    }
    if let Some(recent) = recent {
        update.insert("$set", doc! { "recent": recent });
    }
    update
}

/// The newest stored cases a tally document keeps (documents as in the cases' collection).
pub fn recent(d: &Document) -> Vec<Document> {
    d.get_array("recent")
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_document().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn whole_number(value: Option<&Bson>) -> Option<i64> {
    match value {
        Some(Bson::Int32(v)) => Some(i64::from(*v)),
        Some(Bson::Int64(v)) => Some(*v),
        Some(Bson::Double(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
        _ => None,
    }
}

/// A value as a field name: `.` would open a sub-document and a leading `$` reads as an
/// operator, so `%`, `.` and `$` are written `%25`, `%2E`, `%24`; the empty value is `%`.
fn encode_key(value: &str) -> String {
    if value.is_empty() {
        return "%".into();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '$' => out.push_str("%24"),
            c => out.push(c),
        }
    }
    out
}

fn decode_key(key: &str) -> String {
    if key == "%" {
        return String::new();
    }
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        let decoded = match escape {
            Some("%25") => '%',
            Some("%2E") => '.',
            Some("%24") => '$',
            _ => {
                out.push('%');
                rest = &rest[at + 1..];
                continue;
            }
        };
        out.push(decoded);
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(location: &str, age: i32, state: &str) -> Document {
        doc! { "_id": "x", "name": "n", "location": location, "age": age,
        "infectedtype": "communitary", "state": state }
    }

    #[test]
    fn keys_that_mongodb_would_read_as_paths_or_operators_come_back_unchanged() {
        for value in [
            "St. Louis",
            "$where",
            "100%",
            "%2E",
            "%%24.",
            "",
            "Escuintla",
            "a.b$c%d",
            "é%",
        ] {
            let encoded = encode_key(value);
            assert!(
                !encoded.contains('.') && !encoded.starts_with('$'),
                "{encoded}"
            );
            assert_eq!(decode_key(&encoded), value);
        }
    }

    #[test]
    fn increments_read_back_as_the_counts_they_add() {
        let mut tally = Tally::default();
        tally.add_document(&case("St. Louis", 34, "symptomatic"));
        tally.add_document(&case("St. Louis", 35, "asymptomatic"));
        tally.add_document(&case("Escuintla", 34, "symptomatic"));
        let mut stored = Document::new();
        for (path, n) in tally.increments() {
            let (field, key) = path.split_once('.').unwrap_or((path.as_str(), ""));
            if key.is_empty() {
                stored.insert(field, n);
            } else {
                let sub = stored
                    .entry(field.to_string())
                    .or_insert_with(|| Bson::Document(Document::new()));
                if let Bson::Document(sub) = sub {
                    sub.insert(key, n);
                }
            }
        }
        assert_eq!(Tally::from_document(&stored), tally);
        assert_eq!(tally.locations["St. Louis"], 2);
        assert_eq!(tally.ages[&34], 2);
    }

    #[test]
    fn a_failed_flush_merges_into_the_next() {
        let (mut a, mut b) = (Tally::default(), Tally::default());
        a.add_document(&case("Petén", 40, "symptomatic"));
        b.add_document(&case("Petén", 41, "symptomatic"));
        a.merge(b);
        assert_eq!(
            (a.total, a.locations["Petén"], a.states["symptomatic"]),
            (2, 2, 2)
        );
        assert_eq!(a.ages.len(), 2);
    }
}
