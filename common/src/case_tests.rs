use super::*;

fn ok_case() -> serde_json::Value {
    serde_json::json!({"name": "Ana López", "location": "Escuintla", "age": 34,
        "infectedtype": "communitary", "state": "symptomatic"})
}

#[test]
fn accepts_one_case_and_trims_text() {
    let mut v = ok_case();
    v["name"] = "  Ana  ".into();
    let cases = parse_cases(v.to_string().as_bytes()).expect("valid");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].name, "Ana");
    assert_eq!(cases[0].age, 34);
}

#[test]
fn accepts_infected_type_alias() {
    let mut v = ok_case();
    let t = v
        .as_object_mut()
        .and_then(|m| m.remove("infectedtype"))
        .expect("key");
    v["infected_type"] = t;
    let cases = parse_cases(v.to_string().as_bytes()).expect("valid");
    assert_eq!(cases[0].infectedtype, "communitary");
}

#[test]
fn names_every_bad_field() {
    let body = br#"{"name": "", "location": 5, "age": 34.5, "infectedtype": "x", "extra": 1}"#;
    let err = parse_cases(body).expect_err("invalid");
    let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    for f in ["extra", "name", "location", "age", "infectedtype", "state"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn batch_is_all_or_nothing_with_indexed_fields() {
    let mut bad = ok_case();
    bad["age"] = (-1).into();
    let body = serde_json::json!([ok_case(), bad]).to_string();
    let err = parse_cases(body.as_bytes()).expect_err("invalid");
    assert_eq!(err.fields[0].field, "[1].age");
}

#[test]
fn rejects_oversized_and_empty_batches() {
    let big = serde_json::Value::Array(vec![ok_case(); MAX_BATCH + 1]).to_string();
    assert!(parse_cases(big.as_bytes()).is_err());
    assert!(parse_cases(b"[]").is_err());
    let full = serde_json::Value::Array(vec![ok_case(); MAX_BATCH]).to_string();
    assert_eq!(parse_cases(full.as_bytes()).map(|c| c.len()), Ok(MAX_BATCH));
}

#[test]
fn age_bounds() {
    for (age, ok) in [(0, true), (130, true), (131, false)] {
        let mut v = ok_case();
        v["age"] = age.into();
        assert_eq!(
            parse_cases(v.to_string().as_bytes()).is_ok(),
            ok,
            "age {age}"
        );
    }
}

#[test]
fn refuses_control_and_bidi_characters_by_field() {
    for (text, code) in [
        ("bad\u{0}name", "U+0000"),
        ("a\nb", "U+000A"),
        ("x\u{202E}y", "U+202E"),
    ] {
        let mut v = ok_case();
        v["location"] = text.into();
        let err = parse_cases(v.to_string().as_bytes()).expect_err(text);
        assert_eq!(err.fields.len(), 1, "{err:?}");
        assert_eq!(err.fields[0].field, "location");
        assert!(err.fields[0].problem.contains(code), "{err:?}");
    }
}

#[test]
fn stops_parsing_at_the_batch_limit() {
    let zeros = format!("[{}]", vec!["0"; 300_000].join(","));
    let err = parse_cases(zeros.as_bytes()).expect_err("too many");
    assert_eq!(err.fields[0].field, "[]");
    assert!(
        parse_cases(b"[] x").is_err(),
        "trailing characters are refused"
    );
    assert!(
        parse_cases(b"42")
            .expect_err("number")
            .error
            .contains("a number")
    );
}

#[test]
fn nested_values_are_reported_not_built() {
    let mut v = ok_case();
    v["name"] = serde_json::json!([[0, 0], [0]]);
    v["x"] = serde_json::json!({"deep": [[[1]]]});
    let err = parse_cases(v.to_string().as_bytes()).expect_err("invalid");
    let by_field: Vec<(&str, &str)> = err
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.problem.as_str()))
        .collect();
    assert!(
        by_field.contains(&("name", "must be a string, not an array")),
        "{by_field:?}"
    );
    assert!(by_field.contains(&("x", "unknown field")), "{by_field:?}");
    let batch = parse_cases(b"[[0,[0]],{}]").expect_err("invalid");
    assert_eq!(
        batch.fields[0].problem,
        "must be a case object, not an array"
    );
}

#[test]
fn a_case_with_too_many_fields_says_so() {
    let mut v = ok_case();
    for i in 0..30 {
        v[format!("extra{i}")] = i.into();
    }
    let err = parse_cases(v.to_string().as_bytes()).expect_err("invalid");
    let star = err
        .fields
        .iter()
        .find(|f| f.field == "*")
        .expect("a * problem");
    assert!(star.problem.contains("unread"), "{star:?}");
}
