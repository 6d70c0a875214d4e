//! `POST /` and `POST /cases`: validate, stamp, publish, answer.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brokerbench_common::case::{CaseError, FieldProblem, parse_cases};
use brokerbench_common::envelope::{Envelope, now_ns};
use futures::future::join_all;
use serde_json::json;

use super::Ingress;
use super::routing::Route;

/// Header carrying when the load generator meant to send the request (ns since the epoch).
pub const INTENDED_SEND_HEADER: &str = "x-intended-send-ns";

pub async fn post_cases(
    State(ingress): State<Arc<Ingress>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let counters = &ingress.counters;
    counters.requests.add(1);
    let response = accept(&ingress, &headers, body).await;
    if let Some(hold) = ingress.hold_answer {
        crate::precise::wait_until_async(arrived + hold).await;
    }
    let class = match response.status().as_u16() {
        200..=299 => &counters.responses_2xx,
        400..=499 => &counters.responses_4xx,
        _ => &counters.responses_5xx,
    };
    class.add(1);
    response
}

async fn accept(ingress: &Ingress, headers: &HeaderMap, body: Body) -> Response {
    if let Some(problem) = content_type_problem(headers) {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, problem, Vec::new());
    }
    let intended_at_ns = match intended_send(headers) {
        Ok(t) => t,
        Err(problem) => return error(StatusCode::BAD_REQUEST, "invalid header", vec![problem]),
    };
    let Ok(bytes) = to_bytes(body, ingress.max_body_bytes).await else {
        let text = format!("body is larger than {} bytes", ingress.max_body_bytes);
        return error(StatusCode::PAYLOAD_TOO_LARGE, text, Vec::new());
    };
    let cases = match parse_cases(&bytes) {
        Ok(cases) => cases,
        Err(CaseError {
            error: text,
            fields,
        }) => return error(StatusCode::BAD_REQUEST, text, fields),
    };
    let n = cases.len();
    let Ok(_permit) = ingress
        .in_flight
        .try_acquire_many(u32::try_from(n).unwrap_or(u32::MAX))
    else {
        ingress.counters.saturated.add(1);
        let text = format!(
            "publish pipeline is saturated ({} cases in flight); retry shortly",
            ingress.max_in_flight
        );
        let mut response = error(StatusCode::SERVICE_UNAVAILABLE, text, Vec::new());
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    let accepted_at_ns = now_ns();
    let envelopes: Vec<Envelope> = cases
        .into_iter()
        .map(|c| Envelope::accept(c, accepted_at_ns, intended_at_ns))
        .collect();
    let outgoing = with_forced_duplicates(ingress, &envelopes);
    let origin_ns = intended_at_ns.unwrap_or(accepted_at_ns);
    let results = join_all(
        ingress
            .routes
            .pick()
            .iter()
            .map(|route| publish(route, &outgoing, n as u64, origin_ns)),
    )
    .await;
    if let Some(failure) = results.into_iter().find_map(Result::err) {
        return error(StatusCode::BAD_GATEWAY, failure, Vec::new());
    }
    ingress.counters.accepted.add(n as u64);
    let ids: Vec<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": n, "ids": ids })),
    )
        .into_response()
}

/// The envelopes to publish: all of them, plus a second copy of every `duplicate_every`-th case
/// when that diagnostic is on.
fn with_forced_duplicates(ingress: &Ingress, envelopes: &[Envelope]) -> Vec<Envelope> {
    let mut out = envelopes.to_vec();
    if ingress.duplicate_every > 0 {
        for e in envelopes {
            let n = ingress
                .accepted_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if n.is_multiple_of(ingress.duplicate_every) {
                out.push(e.clone());
            }
        }
    }
    out
}

/// Publishes on one route, recording the handing-over-until-acknowledged time once per accepted
/// case (`cases`; forced duplicates are not counted) in the phase of `origin_ns`.
async fn publish(
    route: &Route,
    envelopes: &[Envelope],
    cases: u64,
    origin_ns: i64,
) -> Result<(), String> {
    let started = Instant::now();
    let result = route.publisher.publish(envelopes).await;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let n = cases;
    match result {
        Ok(()) => {
            route.latency.record_n_us(origin_ns, us, n);
            route.published.add(n);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "publish failed");
            route.errors.add(n);
            Err(format!("the middleware did not acknowledge: {e}"))
        }
    }
}

/// JSON, no content type at all, or `text/plain`: early Locust files posted a raw JSON string
/// with `data=json.dumps(record)`, which their HTTP client labels `text/plain; charset=utf-8`.
/// The body must still be JSON; anything else is refused with 415.
fn content_type_problem(headers: &HeaderMap) -> Option<String> {
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

fn intended_send(headers: &HeaderMap) -> Result<Option<i64>, FieldProblem> {
    let Some(value) = headers.get(INTENDED_SEND_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|ns| *ns > 0)
        .map(Some)
        .ok_or_else(|| FieldProblem {
            field: INTENDED_SEND_HEADER.into(),
            problem: "must be a positive integer: nanoseconds since the Unix epoch".into(),
        })
}

fn error(status: StatusCode, text: impl Into<String>, fields: Vec<FieldProblem>) -> Response {
    (
        status,
        Json(json!({ "error": text.into(), "fields": fields })),
    )
        .into_response()
}
