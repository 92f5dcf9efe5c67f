//! One error type for the HTTP layer, rendered as RFC 9457 problem+json.
//!
//! Every failure a client can see is an [`ApiError`]. Each kind of error has
//! one [`ProblemKind`] that fixes its status, title and stable `type` URI, so
//! clients match on `type` and `/openapi.json` lists the types per route.

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// The result type of handlers: success or an [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A kind of error: its status, title and stable `type` URI, declared once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// 400: the body is not JSON at all.
    MalformedJson,
    /// 400: fields of the body are wrong (type, missing, unknown, read-only,
    /// failed validation); `errors` names each.
    Validation,
    /// 400: the query string is wrong (unknown parameter, bad page, bad filter).
    InvalidQuery,
    /// 400: an id in the path is not a UUID.
    InvalidId,
    /// 401: no credentials, or invalid or expired ones, or a failed login.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such object, or the caller may not read it.
    NotFound,
    /// 405: the operation is disabled for this resource, or the method unknown.
    MethodNotAllowed,
    /// 409: a unique field is taken, or another conflict with stored state.
    Conflict,
    /// 413: the body is over the configured limit.
    PayloadTooLarge,
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 429: too many attempts; `Retry-After` says when to try again.
    RateLimited,
    /// 503: a dependency (the database) does not answer, or the process
    /// is not ready; `Retry-After` says when to try again.
    Unavailable,
    /// 500: the server failed; details are in its logs, never in the body.
    Internal,
}

impl ProblemKind {
    /// Every kind, for documentation.
    pub const ALL: [ProblemKind; 14] = [
        ProblemKind::MalformedJson,
        ProblemKind::Validation,
        ProblemKind::InvalidQuery,
        ProblemKind::InvalidId,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::RateLimited,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson
            | ProblemKind::Validation
            | ProblemKind::InvalidQuery
            | ProblemKind::InvalidId => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `type` URI clients match on.
    pub const fn type_uri(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "urn:fastsaas:problem:malformed-json",
            ProblemKind::Validation => "urn:fastsaas:problem:validation",
            ProblemKind::InvalidQuery => "urn:fastsaas:problem:invalid-query",
            ProblemKind::InvalidId => "urn:fastsaas:problem:invalid-id",
            ProblemKind::Unauthorized => "urn:fastsaas:problem:unauthorized",
            ProblemKind::Forbidden => "urn:fastsaas:problem:forbidden",
            ProblemKind::NotFound => "urn:fastsaas:problem:not-found",
            ProblemKind::MethodNotAllowed => "urn:fastsaas:problem:method-not-allowed",
            ProblemKind::Conflict => "urn:fastsaas:problem:conflict",
            ProblemKind::PayloadTooLarge => "urn:fastsaas:problem:payload-too-large",
            ProblemKind::UnsupportedMediaType => "urn:fastsaas:problem:unsupported-media-type",
            ProblemKind::RateLimited => "urn:fastsaas:problem:rate-limited",
            ProblemKind::Unavailable => "urn:fastsaas:problem:unavailable",
            ProblemKind::Internal => "urn:fastsaas:problem:internal",
        }
    }

    /// The short, human-readable summary (the same for every occurrence).
    pub const fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "Malformed JSON",
            ProblemKind::Validation => "Invalid fields",
            ProblemKind::InvalidQuery => "Invalid query",
            ProblemKind::InvalidId => "Invalid id",
            ProblemKind::Unauthorized => "Unauthorized",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::Unavailable => "Service unavailable",
            ProblemKind::Internal => "Internal server error",
        }
    }
}

/// Why one field of a body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldErrorCode {
    /// The value has the wrong JSON type or cannot be read as the field's type.
    WrongType,
    /// A required field is absent.
    Missing,
    /// The resource has no such field (or it is hidden).
    Unknown,
    /// The field is set by the server only.
    ReadOnly,
    /// `null` was sent for a field that cannot be null.
    NotNullable,
    /// A validation rule failed.
    Invalid,
}

/// One refused field: an entry of a problem's `errors`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name (`"<body>"` when the body as a whole is wrong).
    pub field: String,
    /// Why, as a stable code.
    pub code: FieldErrorCode,
    /// Why, for people.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }
}

/// An RFC 9457 problem details body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The stable identifier of the kind of error.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The refused fields, for errors caused by fields of the body.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

/// Every error a client can see. Renders as problem+json.
///
/// ```
/// use fastsaas_core::{ApiError, ProblemKind};
/// let err = ApiError::not_found("Item");
/// assert_eq!(err.kind(), ProblemKind::NotFound);
/// assert_eq!(err.problem().status, 404);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// Fields of the body are wrong.
    #[error("{} field(s) of the body are invalid", .0.len())]
    Validation(Vec<FieldError>),
    /// The query string is wrong.
    #[error("{0}")]
    InvalidQuery(String),
    /// An id in the path is not a UUID.
    #[error("`{0}` is not a valid id; ids are UUIDs")]
    InvalidId(String),
    /// No credentials, or bad ones. The detail is the same for every cause
    /// a client could probe (unknown e-mail or wrong password).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such object (or the caller may not read it).
    #[error("no such {0}")]
    NotFound(String),
    /// The operation or method is not available here.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A conflict with stored state, e.g. a unique field taken.
    #[error("{0}")]
    Conflict(String),
    /// The body is over the limit.
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not declared as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; try again in {0} s")]
    RateLimited(u64),
    /// A dependency (the database) does not answer; the detail says which.
    #[error("{0}")]
    Unavailable(String),
    /// The server failed. The cause is logged where it happened, not shown.
    #[error("the server could not complete the request")]
    Internal,
}

/// The `Retry-After` of a 503, in seconds.
const UNAVAILABLE_RETRY_SECS: u64 = 1;

impl ApiError {
    /// A 404 for a resource type, e.g. `ApiError::not_found("Item")`.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(what.to_owned())
    }

    /// A 400 for one refused field.
    pub fn field(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The kind, which fixes status, title and `type`.
    pub fn kind(&self) -> ProblemKind {
        match self {
            ApiError::MalformedJson(_) => ProblemKind::MalformedJson,
            ApiError::Validation(_) => ProblemKind::Validation,
            ApiError::InvalidQuery(_) => ProblemKind::InvalidQuery,
            ApiError::InvalidId(_) => ProblemKind::InvalidId,
            ApiError::Unauthorized(_) => ProblemKind::Unauthorized,
            ApiError::Forbidden(_) => ProblemKind::Forbidden,
            ApiError::NotFound(_) => ProblemKind::NotFound,
            ApiError::MethodNotAllowed(_) => ProblemKind::MethodNotAllowed,
            ApiError::Conflict(_) => ProblemKind::Conflict,
            ApiError::PayloadTooLarge(_) => ProblemKind::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ProblemKind::UnsupportedMediaType,
            ApiError::RateLimited(_) => ProblemKind::RateLimited,
            ApiError::Unavailable(_) => ProblemKind::Unavailable,
            ApiError::Internal => ProblemKind::Internal,
        }
    }

    /// The problem+json body.
    pub fn problem(&self) -> Problem {
        let kind = self.kind();
        Problem {
            type_uri: kind.type_uri().to_owned(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: self.to_string(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.kind().status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            // A database that does not answer, or a process shutting down,
            // is worth asking again shortly (another replica may answer).
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_SECS));
            }
            _ => {}
        }
        response
    }
}
