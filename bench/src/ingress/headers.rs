//! What the ingress reads from a request's headers before its body: the content type, when the
//! generator meant to send it, and its `Idempotency-Key`.

use axum::http::{HeaderMap, header};
use brokerbench_common::case::FieldProblem;
use brokerbench_common::envelope::now_ns;

/// Header carrying when the load generator meant to send the request (ns since the epoch).
pub const INTENDED_SEND_HEADER: &str = "x-intended-send-ns";

/// JSON, no content type at all, or `text/plain`: early Locust files posted a raw JSON string
/// with `data=json.dumps(record)`, which their HTTP client labels `text/plain; charset=utf-8`.
/// The body must still be JSON; anything else is refused with 415.
pub(super) fn content_type_problem(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("");
    let mime = text.split(';').next().unwrap_or("").trim();
    if ["application/json", "text/plain"]
        .iter()
        .any(|ok| mime.eq_ignore_ascii_case(ok))
    {
        None
    } else {
        Some(format!(
            "content type {text:?} is not supported; send application/json (or none)"
        ))
    }
}

/// The body length the client declared, if it did (a chunked body declares none). A value that
/// is not a number is left to hyper, which refuses such a request before it gets here.
pub(super) fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The generator's intended send time, within an hour of this clock: a value far off (say `1`)
/// would file every later sample of the run in the histograms' top bucket.
pub(super) fn intended_send(headers: &HeaderMap) -> Result<Option<i64>, FieldProblem> {
    let Some(value) = headers.get(INTENDED_SEND_HEADER) else {
        return Ok(None);
    };
    let problem = |text: String| FieldProblem {
        field: INTENDED_SEND_HEADER.into(),
        problem: text,
    };
    let ns = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| problem("must be an integer: nanoseconds since the Unix epoch".into()))?;
    let off_s = (ns as f64 - now_ns() as f64) / 1e9;
    if off_s.abs() > INTENDED_SEND_TOLERANCE_S {
        return Err(problem(format!(
            "{off_s:+.0} s from this server's clock; must be within ±{INTENDED_SEND_TOLERANCE_S} s"
        )));
    }
    Ok(Some(ns))
}

/// How far `x-intended-send-ns` may be from the ingress's clock, seconds.
const INTENDED_SEND_TOLERANCE_S: f64 = 3_600.0;

/// Header that makes a request's case ids deterministic (same key, same ids).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// `Idempotency-Key`: 1–200 visible ASCII characters, when given.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, FieldProblem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if (1..=200).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic) {
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    } else {
        Err(FieldProblem {
            field: IDEMPOTENCY_KEY_HEADER.into(),
            problem: "must be 1–200 visible ASCII characters".into(),
        })
    }
}
