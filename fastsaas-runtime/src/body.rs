//! Reading a JSON body: content type, size limit, and errors that name every
//! refused field at once.

use axum::body::Body;
use chrono::{DateTime, Utc};
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, FieldError, FieldKind, FieldSpec, ResourceSpec};
use http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use fastsaas_core::resource::FRAMEWORK_COLUMNS;

/// Which body is being read: a create or PUT needs every required field (a
/// create may also name its `owner_id`); a PATCH may carry any subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyShape {
    Create,
    Whole,
    Partial,
}

/// What a body may hold: the fields of a resource, or of a framework route
/// such as `/login`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodySpec {
    /// The name used in messages ("Item has no field `x`").
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [FieldSpec],
}

impl BodySpec {
    pub(crate) fn of(resource: &'static ResourceSpec) -> BodySpec {
        BodySpec { name: resource.name, fields: resource.fields }
    }

    fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// Reads the body as `T`, or explains in one error everything wrong with it.
pub(crate) async fn read_json<T: DeserializeOwned>(
    spec: BodySpec,
    shape: BodyShape,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    parse_json(spec, shape, &read_json_bytes(headers, body, limit).await?)
}

/// The bytes of a JSON body, once its content type and size are right and
/// no text in it holds a NUL character.
pub(crate) async fn read_json_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    check_content_type(headers)?;
    let bytes = read_limited(headers, body, limit).await?;
    refuse_nul(&bytes)?;
    Ok(bytes)
}

/// Like [`read_json_bytes`], for a body that may be left out: an empty
/// body needs no content type.
pub(crate) async fn read_optional_json_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let bytes = read_limited(headers, body, limit).await?;
    if !bytes.is_empty() {
        check_content_type(headers)?;
        refuse_nul(&bytes)?;
    }
    Ok(bytes)
}

/// The message for a text holding U+0000.
pub(crate) const NUL_MESSAGE: &str = "text may not contain the NUL character (U+0000)";

/// A 400 naming every member whose text (or name) holds a NUL character:
/// PostgreSQL stores none in `text` or `jsonb`, and the same body must get
/// the same answer on every database. JSON can only carry one as the
/// escape `\u0000`, so bodies without that escape cost one scan.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    // Malformed JSON is left to the parser, which explains it.
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    let mut fields = Vec::new();
    nul_paths(&value, "", &mut fields);
    if fields.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation(
        fields.into_iter().map(|field| FieldError::new(field, FieldErrorCode::Invalid, NUL_MESSAGE)).collect(),
    ))
}

/// Whether `bytes` hold the escape `\u0000` (not an escaped backslash
/// followed by `u0000`).
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            if bytes[index + 1..].starts_with(b"u0000") {
                return true;
            }
            index += 2;
        } else {
            index += 1;
        }
    }
    false
}

/// The paths (`a.b[0]`) of every string or member name in `value` holding
/// a NUL character.
fn nul_paths(value: &Value, path: &str, found: &mut Vec<String>) {
    let here = || if path.is_empty() { "<body>".to_owned() } else { path.to_owned() };
    match value {
        Value::String(text) if text.contains('\0') => found.push(here()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_paths(item, &format!("{path}[{index}]"), found);
            }
        }
        Value::Object(members) => {
            for (name, member) in members {
                let inner = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                if name.contains('\0') {
                    found.push(inner.replace('\0', "\\u0000"));
                } else {
                    nul_paths(member, &inner, found);
                }
            }
        }
        _ => {}
    }
}

/// Parses `bytes` as `T`, or explains in one error everything wrong with it.
pub(crate) fn parse_json<T: DeserializeOwned>(spec: BodySpec, shape: BodyShape, bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array too, by position: a body must be
    // an object, whatever the typed parse would accept.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(bytes) {
            Err(err) => ApiError::MalformedJson(err.to_string()),
            Ok(_) => ApiError::field("<body>", FieldErrorCode::WrongType, "the body must be a JSON object"),
        });
    }
    // The common case costs one typed parse; the slow analysis runs only to
    // explain a failure.
    let parsed = serde_json::from_slice(bytes).map_err(|err| explain::<T>(spec, shape, bytes, err))?;
    if shape == BodyShape::Create {
        required_secrets_sent(spec, bytes)?;
    }
    Ok(parsed)
}

/// A create must send every required write-only field. The typed body
/// reads write-only fields as optional, since a PUT that leaves one out
/// keeps the stored value (a client never reads a secret back); so a
/// create checks their presence here, at the cost of a second parse only
/// for types that have such a field.
fn required_secrets_sent(spec: BodySpec, bytes: &[u8]) -> Result<(), ApiError> {
    let required = || {
        spec.fields
            .iter()
            .filter(|field| field.access == fastsaas_core::Access::WriteOnly && field.is_required_on_create())
    };
    if required().next().is_none() {
        return Ok(());
    }
    let Ok(Value::Object(sent)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    let missing: Vec<FieldError> = required()
        .filter(|field| !sent.contains_key(field.name))
        .map(|field| FieldError::new(field.name, FieldErrorCode::Missing, "this field is required"))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(ApiError::Validation(missing)) }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON; send `Content-Type: application/json`".into(),
        ));
    };
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let is_json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!("the body must be JSON, not `{essence}`")))
    }
}

async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::PayloadTooLarge(limit)),
        Err(err) => Err(ApiError::MalformedJson(format!("the body could not be read: {err}"))),
    }
}

/// Builds the 400 for a body that did not parse as `T`: every unknown,
/// read-only, mistyped or missing field, each named.
fn explain<T: DeserializeOwned>(spec: BodySpec, shape: BodyShape, bytes: &[u8], err: serde_json::Error) -> ApiError {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(_) => return ApiError::MalformedJson(err.to_string()),
    };
    let Value::Object(object) = value else {
        return ApiError::field("<body>", FieldErrorCode::WrongType, "the body must be a JSON object");
    };
    let (mut errors, mut broken_rules) = (Vec::new(), Vec::new());
    for (name, value) in &object {
        let owner_allowed = shape == BodyShape::Create && name == "owner_id";
        let error = if owner_allowed {
            (!value.is_null() && value.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()).is_none())
                .then(|| FieldError::new(name, FieldErrorCode::WrongType, "expected a UUID"))
        } else {
            check_member(spec, name, value)
        };
        match (error, spec.field(name)) {
            (Some(error), _) => errors.push(error),
            // A well-shaped value still gets its rules checked, so every
            // problem of the body is reported at once.
            (None, Some(field)) => crate::validate::check(field, value, &mut broken_rules),
            (None, None) => {}
        }
    }
    if shape != BodyShape::Partial {
        // A PUT keeps a write-only value it leaves out.
        let required = |field: &&FieldSpec| {
            field.is_required_on_create()
                && (shape == BodyShape::Create || field.access != fastsaas_core::Access::WriteOnly)
        };
        for field in spec.fields.iter().filter(required) {
            if !object.contains_key(field.name) {
                errors.push(FieldError::new(field.name, FieldErrorCode::Missing, "this field is required"));
            }
        }
    }
    if errors.is_empty() {
        // The shapes are right, so the failure is deeper (an item of a list,
        // a value of a map): let serde name the path.
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let (field, message) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
            Err(deep) => (deep.path().to_string(), deep.into_inner().to_string()),
            Ok(_) => ("<body>".to_owned(), err.to_string()),
        };
        // serde quotes the offending value; a secret must not come back.
        let top = field.split(['.', '[']).next().unwrap_or_default();
        let secret = spec.field(top).is_some_and(|f| f.access == fastsaas_core::Access::WriteOnly);
        let message = if secret { "a value here does not have the expected type".to_owned() } else { message };
        errors.push(FieldError::new(field, FieldErrorCode::WrongType, message));
    }
    errors.extend(broken_rules);
    ApiError::Validation(errors)
}

fn check_member(spec: BodySpec, name: &str, value: &Value) -> Option<FieldError> {
    if FRAMEWORK_COLUMNS.contains(&name) {
        return Some(FieldError::new(name, FieldErrorCode::ReadOnly, "this field is set by the server"));
    }
    let Some(field) = spec.field(name).filter(|field| field.access != fastsaas_core::Access::Hidden) else {
        return Some(FieldError::new(name, FieldErrorCode::Unknown, format!("{} has no field `{name}`", spec.name)));
    };
    if !field.access.is_writable() {
        return Some(FieldError::new(name, FieldErrorCode::ReadOnly, "this field is set by the server"));
    }
    if value.is_null() {
        return (!field.nullable)
            .then(|| FieldError::new(name, FieldErrorCode::NotNullable, "this field cannot be null"));
    }
    shape_error(field, value).map(|message| FieldError::new(name, FieldErrorCode::WrongType, message))
}

/// Why `value` cannot be a value of `field`, if it cannot.
pub(crate) fn shape_error(field: &FieldSpec, value: &Value) -> Option<String> {
    let fits = match field.kind {
        FieldKind::Text => value.is_string(),
        FieldKind::Bool => value.is_boolean(),
        FieldKind::Int32 => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        FieldKind::Int64 => value.as_i64().is_some(),
        FieldKind::Float => value.is_number(),
        FieldKind::Uuid => value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
        FieldKind::DateTime => value.as_str().is_some_and(|s| s.parse::<DateTime<Utc>>().is_ok()),
        FieldKind::Json => true,
        FieldKind::Array(_) => value.is_array(),
        FieldKind::Object(_) => value.is_object(),
        FieldKind::Enum(variants) => value.as_str().is_some_and(|s| variants.contains(&s)),
    };
    (!fits).then(|| format!("expected {}", describe(field.kind)))
}

/// The expected value of a kind, for messages.
pub(crate) fn describe(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "a string".into(),
        FieldKind::Bool => "true or false".into(),
        FieldKind::Int32 => "an integer between -2147483648 and 2147483647".into(),
        FieldKind::Int64 => "an integer".into(),
        FieldKind::Float => "a number".into(),
        FieldKind::Uuid => "a UUID".into(),
        FieldKind::DateTime => "an RFC 3339 date-time".into(),
        FieldKind::Json => "any JSON value".into(),
        FieldKind::Array(_) => "an array".into(),
        FieldKind::Object(_) => "an object".into(),
        FieldKind::Enum(variants) => format!("one of {}", variants.join(", ")),
    }
}
