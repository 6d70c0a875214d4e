//! `POST /` and `POST /cases`: validate, stamp, publish, answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brokerbench_common::case::{CaseError, FieldProblem, parse_cases};
use brokerbench_common::envelope::{Envelope, idempotent_id, now_ns};
use futures::future::join_all;
use serde_json::json;
use tokio::sync::SemaphorePermit;

use super::Ingress;
use super::body::{BodyError, discard, read_whole};
use super::headers::{content_type_problem, idempotency_key, intended_send};
use super::routing::Route;

pub async fn post_cases(
    State(ingress): State<Arc<Ingress>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let counters = &ingress.counters;
    counters.requests.add(1);
    let response = accept(&ingress, &headers, body).await;
    let hold = ingress.hold_answer.get();
    if !hold.is_zero() {
        crate::precise::wait_until_async(tokio::time::Instant::now() + hold).await;
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
    let admitted = match admit(ingress, headers) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            discard(body).await;
            return refusal.into_response(ingress);
        }
    };
    // The permits stay held until every route has answered.
    let declared = super::headers::content_length(headers);
    let (cases, permit, fingerprint) = match read_cases(ingress, body, declared).await {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(ingress),
    };
    if let Some(key) = &admitted.key
        && ingress.keys.check(key, fingerprint).is_err()
    {
        let text = "this Idempotency-Key came before with another body; use a new key";
        return error(StatusCode::UNPROCESSABLE_ENTITY, text, Vec::new());
    }
    let n = cases.len();
    let accepted_at_ns = now_ns();
    let envelopes: Vec<Envelope> = cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let envelope = Envelope::accept(c, accepted_at_ns, admitted.intended_at_ns);
            match &admitted.key {
                Some(key) => envelope.with_id(idempotent_id(key, i)),
                None => envelope,
            }
        })
        .collect();
    let outgoing = with_forced_duplicates(ingress, &envelopes);
    let origin_ns = admitted.intended_at_ns.unwrap_or(accepted_at_ns);
    let results = join_all(
        ingress
            .routes
            .pick(admitted.key.as_deref())
            .iter()
            .map(|route| {
                publish(
                    route,
                    &outgoing,
                    n as u64,
                    origin_ns,
                    ingress.publish_timeout,
                )
            }),
    )
    .await;
    drop(permit);
    let failures: Vec<PublishFailure> = results.into_iter().filter_map(Result::err).collect();
    if let Some(late) = failures.iter().find(|f| f.timed_out) {
        return retry_later(StatusCode::GATEWAY_TIMEOUT, late.text.clone());
    }
    if let Some(failure) = failures.into_iter().next() {
        return error(StatusCode::BAD_GATEWAY, failure.text, Vec::new());
    }
    ingress.counters.accepted.add(n as u64);
    let ids: Vec<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": n, "ids": ids })),
    )
        .into_response()
}

/// Why a request is answered before any of its cases is published.
enum Refusal {
    /// The request is wrong: sending it again will not help.
    Invalid(StatusCode, String, Vec<FieldProblem>),
    /// The ingress cannot take it now: send it again shortly, under the same key.
    NotNow(StatusCode, String),
    /// Too many cases in flight.
    Saturated,
}

impl Refusal {
    fn into_response(self, ingress: &Ingress) -> Response {
        match self {
            Self::Invalid(status, text, fields) => error(status, text, fields),
            Self::NotNow(status, text) => retry_later(status, text),
            Self::Saturated => saturated(ingress),
        }
    }
}

/// What the headers say about a request the ingress is ready for.
struct Admitted {
    intended_at_ns: Option<i64>,
    key: Option<String>,
}

/// Checks the headers and that every route is ready, before the body is read.
fn admit(ingress: &Ingress, headers: &HeaderMap) -> Result<Admitted, Refusal> {
    if let Some(problem) = content_type_problem(headers) {
        return Err(Refusal::Invalid(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            problem,
            Vec::new(),
        ));
    }
    let (intended_at_ns, key) = match (intended_send(headers), idempotency_key(headers)) {
        (Ok(t), Ok(k)) => (t, k),
        (Err(problem), _) | (_, Err(problem)) => {
            let text = "invalid header".into();
            return Err(Refusal::Invalid(
                StatusCode::BAD_REQUEST,
                text,
                vec![problem],
            ));
        }
    };
    let waiting = ingress.routes.not_ready();
    if !waiting.is_empty() {
        let text = format!("not ready: {}; retry shortly", waiting.join("; "));
        return Err(Refusal::NotNow(StatusCode::SERVICE_UNAVAILABLE, text));
    }
    Ok(Admitted {
        intended_at_ns,
        key,
    })
}

/// A body read and parsed: its cases, their in-flight permits and the body's fingerprint.
type ReadBody<'a> = (
    Vec<brokerbench_common::case::Case>,
    SemaphorePermit<'a>,
    u64,
);

/// Reads and parses the body (`declared` bytes long, if the client said), holding its bytes
/// against `--max-body-bytes-in-flight` meanwhile and one in-flight permit per case after;
/// returns the cases, the permits and the body's fingerprint.
async fn read_cases(
    ingress: &Ingress,
    body: Body,
    declared: Option<usize>,
) -> Result<ReadBody<'_>, Refusal> {
    let reserved = match declared {
        Some(n) if n > ingress.max_body_bytes => {
            discard(body).await;
            return Err(too_large_refusal(ingress));
        }
        Some(n) => n,
        None => ingress.max_body_bytes,
    };
    let reserved = u32::try_from(reserved.max(1)).unwrap_or(u32::MAX);
    let Ok(bytes_held) = ingress.body_bytes.try_acquire_many(reserved) else {
        ingress.counters.saturated.add(1);
        let text = "too many request bytes are being read at once (--max-body-bytes-in-flight); \
                    retry shortly";
        return Err(Refusal::NotNow(
            StatusCode::SERVICE_UNAVAILABLE,
            text.into(),
        ));
    };
    // One permit before the body is read, so a flood of bodies is bounded in count too; the
    // rest once the body says how many cases it carries.
    let Ok(mut permit) = ingress.in_flight.try_acquire() else {
        return Err(Refusal::Saturated);
    };
    let read = read_whole(body, declared, ingress.max_body_bytes);
    let bytes = match tokio::time::timeout(ingress.body_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(BodyError::TooLarge(_))) => return Err(too_large_refusal(ingress)),
        Ok(Err(e)) => {
            return Err(Refusal::Invalid(
                StatusCode::BAD_REQUEST,
                e.to_string(),
                Vec::new(),
            ));
        }
        Err(_) => {
            let text = format!("body not received within {:?}", ingress.body_timeout);
            return Err(Refusal::Invalid(
                StatusCode::REQUEST_TIMEOUT,
                text,
                Vec::new(),
            ));
        }
    };
    let cases = parse_cases(&bytes).map_err(|CaseError { error, fields }| {
        Refusal::Invalid(StatusCode::BAD_REQUEST, error, fields)
    })?;
    let fingerprint = super::keys::fingerprint(&bytes);
    drop((bytes, bytes_held));
    if cases.len() > 1 {
        let more = u32::try_from(cases.len() - 1).unwrap_or(u32::MAX);
        let Ok(rest) = ingress.in_flight.try_acquire_many(more) else {
            return Err(Refusal::Saturated);
        };
        permit.merge(rest);
    }
    Ok((cases, permit, fingerprint))
}

fn too_large_refusal(ingress: &Ingress) -> Refusal {
    let text = format!("body is larger than {} bytes", ingress.max_body_bytes);
    Refusal::Invalid(StatusCode::PAYLOAD_TOO_LARGE, text, Vec::new())
}

fn saturated(ingress: &Ingress) -> Response {
    ingress.counters.saturated.add(1);
    let text = format!(
        "publish pipeline is saturated ({} cases in flight); retry shortly",
        ingress.max_in_flight
    );
    retry_later(StatusCode::SERVICE_UNAVAILABLE, text)
}

/// An error the client should retry after a second (with the same `Idempotency-Key`).
fn retry_later(status: StatusCode, text: String) -> Response {
    let mut response = error(status, text, Vec::new());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
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

/// Why a route did not acknowledge.
struct PublishFailure {
    text: String,
    /// No answer within the publish timeout (504), rather than a refusal (502).
    timed_out: bool,
}

/// Publishes on one route within `timeout`, recording the handing-over-until-acknowledged time
/// once per accepted case (`cases`; forced duplicates are not counted) in the phase of
/// `origin_ns`; a failed or timed-out publish is recorded in `publish_errors` instead, so that
/// `publish` is not biased low exactly when a broker struggles. A publish still unanswered at the timeout is abandoned: the middleware may still
/// take it, which a retry with the same `Idempotency-Key` turns into a counted duplicate.
async fn publish(
    route: &Route,
    envelopes: &[Envelope],
    cases: u64,
    origin_ns: i64,
    timeout: Duration,
) -> Result<(), PublishFailure> {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, route.publisher.publish(envelopes)).await;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let n = cases;
    let failure = match result {
        Ok(Ok(())) => {
            route.latency.record_n_us(origin_ns, us, n);
            route.published.add(n);
            return Ok(());
        }
        Ok(Err(e)) => PublishFailure {
            text: format!("the middleware did not acknowledge: {e}"),
            timed_out: false,
        },
        Err(_) => PublishFailure {
            text: format!(
                "{} did not acknowledge within {timeout:?}; retry shortly",
                route.publisher.middleware()
            ),
            timed_out: true,
        },
    };
    tracing::warn!(error = %failure.text, "publish failed");
    route.failed_latency.record_n_us(origin_ns, us, n);
    route.errors.add(n);
    Err(failure)
}

fn error(status: StatusCode, text: impl Into<String>, fields: Vec<FieldProblem>) -> Response {
    (
        status,
        Json(json!({ "error": text.into(), "fields": fields })),
    )
        .into_response()
}
