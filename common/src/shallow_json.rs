//! Reading a request body's JSON without building what validation does not look at. A case's
//! fields are strings and numbers; an array or object where one belongs is only reported, so
//! it is skipped as it is read (`IgnoredAny`) instead of being built as a `serde_json::Value`,
//! which costs 16–32 bytes of memory per byte of input: `{"x":[0,0,…]}` in a 1 MiB body would
//! otherwise take about 30 MiB while it is validated. An object keeps at most [`MAX_FIELDS`]
//! members; the rest are counted and skipped.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Members of one object kept for validation (a case has six at most).
pub const MAX_FIELDS: usize = 16;

/// The members of one JSON object: the first [`MAX_FIELDS`], each value [`shallow`](Shallow),
/// and how many more were skipped unread.
#[derive(Debug, Default)]
pub struct Fields {
    pub map: Map<String, Value>,
    pub skipped: usize,
}

/// One item of a JSON array: an object's fields, or what else it was.
#[derive(Debug)]
pub enum Item {
    Object(Fields),
    Other(&'static str),
}

/// Reads an object's members, keeping at most [`MAX_FIELDS`].
pub fn read_fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<Fields, A::Error> {
    let mut fields = Fields::default();
    while let Some(key) = map.next_key::<String>()? {
        if fields.map.len() < MAX_FIELDS {
            let Shallow(value) = map.next_value()?;
            fields.map.insert(key, value);
        } else {
            map.next_value::<IgnoredAny>()?;
            fields.skipped += 1;
        }
    }
    Ok(fields)
}

/// A JSON value with any array or object in it skipped, not built: it reads as an empty one.
struct Shallow(Value);

impl<'de> Deserialize<'de> for Shallow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShallowVisitor)
    }
}

struct ShallowVisitor;

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = Shallow;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Shallow, E> {
        Ok(Shallow(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Shallow, E> {
        Ok(Shallow(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Shallow, E> {
        Ok(Shallow(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Shallow, E> {
        Ok(Shallow(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Shallow, E> {
        Ok(Shallow(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Shallow, E> {
        Ok(Shallow(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Shallow, E> {
        Ok(Shallow(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shallow, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shallow(Value::Array(Vec::new())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Shallow(Value::Object(Map::new())))
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a case object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        read_fields(map).map(Item::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Item::Other("an array"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
        Ok(Item::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Item, E> {
        Ok(Item::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item::Other("null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        let mut reader = serde_json::Deserializer::from_str(json);
        match Item::deserialize(&mut reader).expect("JSON") {
            Item::Object(fields) => fields,
            Item::Other(kind) => panic!("not an object: {kind}"),
        }
    }

    #[test]
    fn nested_values_are_skipped_and_read_as_empty() {
        let f = fields(r#"{"name":"Ana","age":3,"x":[[1,2],[3]],"y":{"z":[0]}}"#);
        assert_eq!(f.map["name"], "Ana");
        assert_eq!(f.map["age"], 3);
        assert_eq!(f.map["x"], Value::Array(Vec::new()));
        assert_eq!(f.map["y"], Value::Object(Map::new()));
        assert_eq!(f.skipped, 0);
    }

    #[test]
    fn members_beyond_the_limit_are_counted_not_kept() {
        let members: Vec<String> = (0..MAX_FIELDS + 5)
            .map(|i| format!(r#""k{i}":{i}"#))
            .collect();
        let f = fields(&format!("{{{}}}", members.join(",")));
        assert_eq!(f.map.len(), MAX_FIELDS);
        assert_eq!(f.skipped, 5);
    }

    #[test]
    fn an_item_says_what_it_is() {
        let items: Vec<Item> =
            serde_json::from_str(r#"[{"a":1},[0],"s",1,null,true]"#).expect("JSON");
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| match i {
                Item::Object(_) => "an object",
                Item::Other(kind) => kind,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "an object",
                "an array",
                "a string",
                "a number",
                "null",
                "a boolean"
            ]
        );
    }
}
