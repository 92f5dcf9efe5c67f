//! [`Json<T>`]: the framework's JSON body and response for custom
//! endpoints and routes of the app's own, with the rules of the generated
//! routes: `Content-Type: application/json` (415), the body limit (413),
//! and every refused field named in one problem+json 400.

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, FieldError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::read_json_bytes;
use crate::http::BodyLimit;

/// A JSON body read with the framework's rules, or a JSON response.
///
/// As an extractor it answers 415 when the body is not declared as JSON,
/// 413 over the app's body limit, and 400 problem+json naming each field
/// that is unknown (a member the type does not read), missing or of the
/// wrong type, and each text holding a NUL character; malformed JSON is a
/// 400 too. As a response it is `axum::Json`.
///
/// See the `fastsaas` crate for an example.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = read_json_bytes(&parts.headers, body, BodyLimit::from_ref(state).0).await?;
        parse_strict(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses `bytes` as `T`, refusing members `T` does not read.
pub(crate) fn parse_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut unknown = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(field_name(&path));
    let ignoring = serde_ignored::Deserializer::new(&mut deserializer, &mut note_unknown);
    let parsed = serde_path_to_error::deserialize::<_, T>(ignoring);
    let mut errors: Vec<FieldError> = unknown
        .iter()
        .map(|field| FieldError::new(field, FieldErrorCode::Unknown, format!("`{field}` is not a member of this body")))
        .collect();
    let value = match parsed {
        Ok(value) => deserializer.end().map(|()| value).map_err(|err| ApiError::MalformedJson(err.to_string()))?,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if !inner.is_data() {
                return Err(ApiError::MalformedJson(inner.to_string()));
            }
            errors.push(data_error(&path, &inner.to_string()));
            return Err(ApiError::Validation(errors));
        }
    };
    if errors.is_empty() { Ok(value) } else { Err(ApiError::Validation(errors)) }
}

/// The field error of a value that did not fit: missing and unknown
/// members get their own codes and name the member.
fn data_error(path: &str, message: &str) -> FieldError {
    let member = |prefix: &str| {
        let name = message.strip_prefix(prefix)?.split('`').next()?;
        Some(if path == "." { name.to_owned() } else { format!("{path}.{name}") })
    };
    if let Some(field) = member("missing field `") {
        return FieldError::new(field, FieldErrorCode::Missing, "this field is required");
    }
    if let Some(field) = member("unknown field `") {
        return FieldError::new(&field, FieldErrorCode::Unknown, format!("`{field}` is not a member of this body"));
    }
    let field = if path == "." || path.starts_with('[') { "<body>" } else { path };
    FieldError::new(field, FieldErrorCode::WrongType, message)
}

/// A path of serde_ignored written like serde_path_to_error's: `a.b[0].c`.
fn field_name(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_name(parent)),
        Path::Map { parent, key } => match field_name(parent) {
            parent if parent.is_empty() => key.clone(),
            parent => format!("{parent}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => field_name(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only parsed")]
    struct Command {
        task: String,
        args: Option<Args>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only parsed")]
    struct Args {
        times: u8,
    }

    fn fields(result: Result<Command, ApiError>) -> Vec<(String, FieldErrorCode)> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected a 400 naming fields, got {other:?}"),
        }
    }

    #[test]
    fn unknown_members_are_named_at_every_depth() {
        let parsed = parse_strict::<Command>(br#"{"task": "echo", "tsak": 1, "args": {"times": 2, "x": []}}"#);
        assert_eq!(
            fields(parsed),
            [("tsak".to_owned(), FieldErrorCode::Unknown), ("args.x".to_owned(), FieldErrorCode::Unknown)]
        );
    }

    #[test]
    fn missing_and_mistyped_members_are_named() {
        assert_eq!(fields(parse_strict::<Command>(b"{}")), [("task".to_owned(), FieldErrorCode::Missing)]);
        let mistyped = parse_strict::<Command>(br#"{"task": "a", "args": {"times": 300}}"#);
        assert_eq!(fields(mistyped), [("args.times".to_owned(), FieldErrorCode::WrongType)]);
        assert_eq!(fields(parse_strict::<Command>(b"[1]")), [("<body>".to_owned(), FieldErrorCode::WrongType)]);
    }

    #[test]
    fn malformed_json_is_its_own_problem() {
        assert!(matches!(parse_strict::<Command>(br#"{"task": "#), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse_strict::<Command>(br#"{"task": "a"} x"#), Err(ApiError::MalformedJson(_))));
        assert!(parse_strict::<Command>(br#"{"task": "a"}"#).is_ok());
    }
}
