//! HTTP plumbing shared by every surface: the path's ids as UUIDs, the
//! answers of a create and a delete, and each request's deadline. Generic
//! over the state, so it knows no service.

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::response::IntoResponse;
use fastsaas_core::ApiError;
use http::header;
use uuid::Uuid;

/// The largest request body accepted, in bytes: what body extractors need
/// of the state. (Not `Clone`, so that any state holding an `AppState`
/// provides it.)
#[derive(Debug)]
pub struct BodyLimit(pub usize);

/// How requests' handlers run: each as a task of its own, at most
/// `capacity` at once (those whose client left included), answered 503
/// past the deadline (`FASTSAAS_REQUEST_TIMEOUT_SECS`).
#[derive(Clone, Debug)]
pub(crate) struct RequestHandlers {
    deadline: std::time::Duration,
    running: std::sync::Arc<tokio::sync::Semaphore>,
    capacity: u32,
}

impl RequestHandlers {
    /// A deadline of `secs` (from 1 s to a day), `capacity` handlers at once.
    pub(crate) fn new(secs: u64, capacity: usize) -> RequestHandlers {
        let capacity = u32::try_from(capacity.max(1)).unwrap_or(u32::MAX >> 3);
        RequestHandlers {
            deadline: std::time::Duration::from_secs(secs.clamp(1, 24 * 60 * 60)),
            running: std::sync::Arc::new(tokio::sync::Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Resolves once every handler has ended, or after `patience`.
    pub(crate) async fn drained(&self, patience: std::time::Duration) {
        let all = std::sync::Arc::clone(&self.running).acquire_many_owned(self.capacity);
        if tokio::time::timeout(patience, all).await.is_err() {
            tracing::warn!("handlers still running at shutdown were stopped");
        }
    }
}

/// The middleware that runs each handler to its end, and answers 503 when
/// it has not answered by the deadline.
///
/// The handler runs as a task of its own: neither the deadline nor a
/// client that hangs up stops it half-way. A handler cut between its commit
/// and what must follow (the invalidation of cached reads, on every
/// replica) would leave the change made and the caches serving what it
/// replaced.
pub(crate) async fn within_deadline(
    axum::extract::State(handlers): axum::extract::State<RequestHandlers>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let Ok(turn) = std::sync::Arc::clone(&handlers.running).try_acquire_owned() else {
        tracing::warn!("every handler slot is taken; a request was turned away");
        return ApiError::Unavailable("the server is busy; try again later".into()).into_response();
    };
    let handler = tokio::spawn(
        async move {
            let _turn = turn;
            next.run(request).await
        }
        .in_current_span(),
    );
    let secs = handlers.deadline.as_secs();
    match tokio::time::timeout(handlers.deadline, handler).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => {
            // The payload may hold request data: not logged.
            tracing::error!("a request's handler panicked");
            ApiError::Internal.into_response()
        }
        Err(_) => {
            tracing::warn!(deadline_secs = secs, "the request's handler ran past its deadline");
            // Not "try again": what it was doing may still complete.
            let detail = format!("the request took longer than {secs} s; what it asked may still complete");
            let mut response = ApiError::Unavailable(detail).into_response();
            response.headers_mut().remove(header::RETRY_AFTER);
            response
        }
    }
}

/// A 201 with the new object's URL (the request path plus its id) in
/// `Location`, and its JSON.
pub(crate) fn created(request_path: &str, id: Uuid, body: impl serde::Serialize) -> axum::response::Response {
    let location = format!("{}/{id}", request_path.trim_end_matches('/'));
    (http::StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response()
}

/// `Ok` when a delete removed something, else the 404 for `what`.
pub(crate) fn deleted(result: &sea_orm::DeleteResult, what: &str) -> fastsaas_core::ApiResult<http::StatusCode> {
    if result.rows_affected == 0 { Err(ApiError::NotFound(what.to_owned())) } else { Ok(http::StatusCode::NO_CONTENT) }
}

/// The `{id}` of an object's path, or the 400 that says it is not a UUID
/// (whatever the path holds, even bytes that are not UTF-8).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ObjectId(pub(crate) Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ObjectId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(Path(params)) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await else {
            return Err(undecodable(parts));
        };
        // `{id}`, or the first parameter of framework routes such as `/acl/{id}`.
        let id = params.iter().find(|(name, _)| name == "id").or(params.first());
        let (_, text) = id.ok_or_else(|| ApiError::InvalidId(String::new()))?;
        Uuid::parse_str(text).map(ObjectId).map_err(|_| ApiError::InvalidId(text.clone()))
    }
}

/// The 400 for a path that is not valid percent-encoded UTF-8 (say `%FF`),
/// showing its last segment as it was sent.
fn undecodable(parts: &http::request::Parts) -> ApiError {
    let raw = parts.uri.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    ApiError::InvalidId(raw.to_owned())
}

/// Every parameter of the path (`/roles/{id}/members/{user_id}`) as a UUID,
/// in order, or the 400 naming the first that is not one.
#[derive(Clone, Debug)]
pub(crate) struct PathIds(pub(crate) Vec<Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(Path(params)) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await else {
            return Err(undecodable(parts));
        };
        params
            .into_iter()
            .map(|(_, text)| Uuid::parse_str(&text).map_err(|_| ApiError::InvalidId(text)))
            .collect::<Result<_, _>>()
            .map(PathIds)
    }
}
