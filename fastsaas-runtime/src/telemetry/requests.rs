//! One span per request, and its request id.
//!
//! Every request runs in a span `request` with its id (the client's
//! `x-request-id` if it is a fit one, else a new UUID), method, matched
//! route template (never the raw path or the query, which may hold a token),
//! and, once known, the principal, the status and the latency; one event
//! `request finished` closes it. Every response, errors included, carries
//! the id back in `x-request-id`. Each request is also counted in the
//! app's metrics, by the same route template.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::header::HeaderName;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use super::metrics::Metrics;

/// The header that carries a request's id, both ways.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of a request: the client's if it is 1 to 64 of
/// `A-Za-z0-9._:-` (anything else could forge log lines), else a new one.
fn request_id(request: &Request) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    });
    match given {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&Uuid::new_v4().simple().to_string()).unwrap_or(HeaderValue::from_static("-")),
    }
}

/// The middleware: runs the request in its span, answers its id, and
/// counts it in `metrics`.
pub(crate) async fn trace(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let route = request.extensions().get::<MatchedPath>().map_or("(no route)", |matched| {
        // Each route is also served with a trailing slash: one name for both.
        let template = matched.as_str().trim_end_matches('/');
        if template.is_empty() { "/" } else { template }
    });
    let route = route.to_owned();
    let method = method_label(request.method());
    let span = tracing::info_span!(
        "request",
        id = %String::from_utf8_lossy(id.as_bytes()),
        method = %method,
        route = %route,
        principal = Empty,
        status = Empty,
        latency_ms = Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics.observe_request(method, &route, response.status().as_u16(), seconds);
    let latency = seconds * 1000.0;
    span.record("status", response.status().as_u16());
    span.record("latency_ms", (latency * 1000.0).round() / 1000.0);
    span.in_scope(|| {
        if response.status().is_server_error() {
            tracing::warn!("request finished");
        } else {
            tracing::info!("request finished");
        }
    });
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The name a request's method is logged and counted under: a standard
/// one's own, `OTHER` for the rest, which a client may invent by the
/// million to grow the metrics.
fn method_label(method: &http::Method) -> &'static str {
    const KNOWN: [http::Method; 9] = [
        http::Method::GET,
        http::Method::HEAD,
        http::Method::POST,
        http::Method::PUT,
        http::Method::PATCH,
        http::Method::DELETE,
        http::Method::OPTIONS,
        http::Method::TRACE,
        http::Method::CONNECT,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("OTHER", |known| known.as_str())
}

/// Records `principal` on the current request's span.
pub(crate) fn record_principal(principal: Uuid) {
    tracing::Span::current().record("principal", tracing::field::display(principal));
}
