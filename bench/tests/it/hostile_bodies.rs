//! Malformed and hostile bodies: each gets the right 4xx with a field-level message, nothing is
//! stored, nothing panics.

use crate::support;

use std::time::Duration;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::settings::Middleware;
use serde_json::{Value, json};
use support::{Pipeline, case};

const JSON: Option<&str> = Some("application/json");

struct Hostile {
    what: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    header: Option<(&'static str, &'static str)>,
    status: u16,
    /// A field the error must name; None where the body as a whole is at fault.
    field: Option<&'static str>,
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut c = case(1);
    c[field] = value;
    c.to_string().into_bytes()
}

fn without(field: &str) -> Vec<u8> {
    let mut c = case(1);
    c.as_object_mut().expect("object").remove(field);
    c.to_string().into_bytes()
}

fn h(what: &'static str, body: Vec<u8>, status: u16, field: Option<&'static str>) -> Hostile {
    Hostile {
        what,
        body,
        content_type: JSON,
        header: None,
        status,
        field,
    }
}

fn table() -> Vec<Hostile> {
    let good = case(1).to_string().into_bytes();
    let mut bad_in_batch = vec![case(1), case(2)];
    bad_in_batch[1]["age"] = json!(-4);
    vec![
        h("broken JSON", br#"{"name": "Ana", "#.to_vec(), 400, None),
        h("empty body", Vec::new(), 400, None),
        h("null", b"null".to_vec(), 400, None),
        h("a number", b"42".to_vec(), 400, None),
        h("a string", br#""hello""#.to_vec(), 400, None),
        h("empty object", b"{}".to_vec(), 400, Some("name")),
        h("name is a number", with("name", json!(5)), 400, Some("name")),
        h("name is an object", with("name", json!({"first": "Ana"})), 400, Some("name")),
        h("age is a string", with("age", json!("34")), 400, Some("age")),
        h("age is a float", with("age", json!(34.5)), 400, Some("age")),
        h("age is 1e3", br#"{"name":"A","location":"B","age":1e3,"infectedtype":"imported","state":"symptomatic"}"#.to_vec(), 400, Some("age")),
        h("age is negative", with("age", json!(-1)), 400, Some("age")),
        h("age is 131", with("age", json!(131)), 400, Some("age")),
        h("age is null", with("age", Value::Null), 400, Some("age")),
        h("age is a boolean", with("age", json!(true)), 400, Some("age")),
        h("missing name", without("name"), 400, Some("name")),
        h("missing state", without("state"), 400, Some("state")),
        h("unknown field", with("extra", json!(1)), 400, Some("extra")),
        h("empty name", with("name", json!("")), 400, Some("name")),
        h("blank location", with("location", json!("   ")), 400, Some("location")),
        h("257-char name", with("name", json!("n".repeat(257))), 400, Some("name")),
        h("129-char location", with("location", json!("l".repeat(129))), 400, Some("location")),
        h("1 MB name", with("name", json!("x".repeat(1_000_000))), 400, Some("name")),
        h("unknown infected type", with("infectedtype", json!("zombie")), 400, Some("infectedtype")),
        h("unknown state", with("state", json!("dead")), 400, Some("state")),
        h("both infected type keys", with("infected_type", json!("imported")), 400, Some("infected_type")),
        h("2 MiB body", format!("[{}]", vec![String::from_utf8(good.clone()).expect("utf8"); 16_000].join(",")).into_bytes(), 413, None),
        h("1,001-case batch", Value::Array((0..1001).map(case).collect()).to_string().into_bytes(), 400, Some("[]")),
        h("empty batch", b"[]".to_vec(), 400, None),
        h("batch holding a number", b"[1]".to_vec(), 400, Some("[0]")),
        h("one bad case in a batch", Value::Array(bad_in_batch).to_string().into_bytes(), 400, Some("[1].age")),
        h("non-UTF-8 bytes", b"{\"name\": \"\xff\xfe\", \"location\": \"B\"}".to_vec(), 400, None),
        h("nesting 100,000 deep", "[".repeat(100_000).into_bytes(), 400, None),
        Hostile { what: "XML content type", body: good.clone(), content_type: Some("application/xml"), header: None, status: 415, field: None },
        Hostile { what: "form encoded", body: good.clone(), content_type: Some("application/x-www-form-urlencoded"), header: None, status: 415, field: None },
        Hostile { what: "multipart", body: b"--x\r\n\r\n--x--".to_vec(), content_type: Some("multipart/form-data; boundary=x"), header: None, status: 415, field: None },
        Hostile { what: "plain text that is not JSON", body: b"name=Ana".to_vec(), content_type: Some("text/plain"), header: None, status: 400, field: None },
        Hostile { what: "bad intended-send header", body: good.clone(), content_type: JSON, header: Some(("x-intended-send-ns", "soon")), status: 400, field: Some("x-intended-send-ns") },
        Hostile { what: "intended send at 1 ns after the epoch", body: good.clone(), content_type: JSON, header: Some(("x-intended-send-ns", "1")), status: 400, field: Some("x-intended-send-ns") },
        Hostile { what: "intended send a day ahead", body: good.clone(), content_type: JSON, header: Some(("x-intended-send-ns", Box::leak(far_future().into_boxed_str()))), status: 400, field: Some("x-intended-send-ns") },
        Hostile { what: "idempotency key with a space", body: good, content_type: JSON, header: Some(("idempotency-key", "two words")), status: 400, field: Some("idempotency-key") },
        h("NUL in a name", with("name", json!("bad\u{0}name")), 400, Some("name")),
        h("escape sequence in a location", with("location", json!("Pet\u{1b}[31mén")), 400, Some("location")),
        h("right-to-left override in a name", with("name", json!("Ana\u{202E}zepóL")), 400, Some("name")),
        h("300,000 numbers in one array", format!("[{}]", vec!["0"; 300_000].join(",")).into_bytes(), 400, Some("[]")),
    ]
}

/// Nanoseconds since the epoch a day from now, as text.
fn far_future() -> String {
    (brokerbench_common::envelope::now_ns() + 86_400 * 1_000_000_000).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_the_right_4xx_and_store_nothing() {
    let pipeline = Pipeline::start(&[Middleware::Nats], "single", &[]).await;
    // A fresh connection per request: the server closes one whose body it did not read (413,
    // 415), and a pooled connection racing that close fails with IncompleteMessage.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let cases = table();
    assert!(cases.len() >= 25);
    for hostile in cases {
        let mut request = client
            .post(format!("{}/cases", pipeline.ingress))
            .body(hostile.body);
        if let Some(ct) = hostile.content_type {
            request = request.header("content-type", ct);
        }
        if let Some((name, value)) = hostile.header {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("ingress answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(
            status, hostile.status,
            "{}: got {status} {text}",
            hostile.what
        );
        let reply: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: error is not JSON ({e}): {text}", hostile.what));
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: no error text",
            hostile.what
        );
        if let Some(field) = hostile.field {
            let fields = reply["fields"].as_array().expect("fields array");
            assert!(
                fields
                    .iter()
                    .any(|f| f["field"] == field
                        && f["problem"].as_str().is_some_and(|p| !p.is_empty())),
                "{}: {field} not named in {text}",
                hostile.what
            );
        }
    }
    let health = reqwest::get(format!("{}/healthz", pipeline.ingress))
        .await
        .expect("still alive");
    assert!(health.status().is_success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ingress = support::stats(&pipeline.ingress).await;
    assert_eq!(
        ingress.counter(CounterMetric::Accepted, None).unwrap_or(0),
        0
    );
    let subscriber = support::stats(pipeline.subscriber(Middleware::Nats)).await;
    assert_eq!(
        subscriber.counter(CounterMetric::Received, Some(Middleware::Nats)),
        Some(0)
    );
    assert!(pipeline.documents(Middleware::Nats).await.is_empty());
}
