//! The generic handlers behind every resource's routes.
//!
//! Each follows the one request path of the design: read the input, check
//! it, touch the database, answer with the record. Authorization slots in as
//! the step before the database once principals exist.

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, Page};
use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::access::{self};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::cached::load_readable;
use crate::expand;
use crate::http::{ObjectId, created};
use crate::identity::Principal;
use crate::resource::Resource;
use crate::state::AppState;
use crate::store::{clear_rows, create_row, delete_row, list_rows, update_authorized, validated};

/// `POST /items`: 201 with the record and its `Location`.
pub(crate) async fn create<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let input: T::Create =
        read_json(BodySpec::of(T::SPEC), BodyShape::Create, &headers, body, app.body_limit()).await?;
    let model = create_row::<T>(app.store(), &principal, input, None).await?;
    Ok(created(uri.path(), T::id_of(&model), model))
}

/// `GET /items/{id}` (`?expand=` embeds what its references name).
pub(crate) async fn read<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let expansions = expand::requested(T::SPEC, raw.as_deref())?;
    let caches = app.notifier().caches();
    let subject = principal.subject();
    let model = load_readable::<T>(app.db(), caches, &subject, id).await?;
    if expansions.is_empty() {
        return Ok(Json(model).into_response());
    }
    let mut records = [record_json::<T>(&model)?];
    expand::expand(app.db(), app.registry().loaders(), &subject, &expansions, &mut records).await?;
    let [record] = records;
    Ok(Json(record).into_response())
}

/// A record as JSON, to embed what its references name.
fn record_json<T: Resource>(model: &T::Model) -> ApiResult<serde_json::Value> {
    serde_json::to_value(model).map_err(|err| {
        tracing::error!(resource = T::SPEC.name, error = %err, "a record could not be written as JSON");
        ApiError::Internal
    })
}

/// `PATCH /items/{id}`: the fields present are replaced.
pub(crate) async fn patch<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<T::Model>> {
    let input: T::Patch =
        read_json(BodySpec::of(T::SPEC), BodyShape::Partial, &headers, body, app.body_limit()).await?;
    validated(&input, T::validate_patch)?;
    let changes = T::patch_row(input, id, Utc::now());
    Ok(Json(update_authorized::<T>(app.store(), &principal.subject(), id, changes).await?))
}

/// `PUT /items/{id}`: every writable field is replaced.
pub(crate) async fn replace<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<T::Model>> {
    let input: T::Create = read_json(BodySpec::of(T::SPEC), BodyShape::Whole, &headers, body, app.body_limit()).await?;
    if T::requested_owner(&input).is_some() {
        return Err(owner_is_fixed());
    }
    validated(&input, T::validate_create)?;
    let changes = T::replace_row(input, id, Utc::now());
    Ok(Json(update_authorized::<T>(app.store(), &principal.subject(), id, changes).await?))
}

/// `DELETE /items/{id}`: 204.
pub(crate) async fn delete<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<StatusCode> {
    delete_row::<T>(app.store(), &principal.subject(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /items?page=&page_size=&total=&sort=&field=value&expand=`.
pub(crate) async fn list<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let subject = principal.subject();
    let page = list_rows::<T>(app.store(), &subject, raw.as_deref()).await?;
    page_answer::<T>(&app, &subject, raw.as_deref(), page).await
}

/// A page of `T` records, with what `?expand=` in `raw` asks embedded.
pub(crate) async fn page_answer<T: Resource>(
    app: &AppState,
    subject: &crate::access::Subject,
    raw: Option<&str>,
    page: Page<T::Model>,
) -> ApiResult<Response> {
    let expansions = expand::requested(T::SPEC, raw)?;
    if expansions.is_empty() {
        return Ok(Json(page).into_response());
    }
    let mut page = page.try_map(|model| record_json::<T>(&model))?;
    expand::expand(app.db(), app.registry().loaders(), subject, &expansions, &mut page.items).await?;
    Ok(Json(page).into_response())
}

/// The body of a clear: how many rows were deleted.
#[derive(Debug, Serialize)]
pub(crate) struct Cleared {
    deleted: u64,
}

/// `DELETE /items`: needs type-wide delete permission (403 otherwise), then
/// deletes every row the caller may delete; answers `{deleted: n}`.
pub(crate) async fn clear<T: Resource>(State(app): State<AppState>, principal: Principal) -> ApiResult<Json<Cleared>> {
    let subject = principal.subject();
    if !access::decision(app.db(), T::SPEC, &subject, "delete", None).await?.allowed {
        return Err(ApiError::Forbidden(format!("clearing {} needs type-wide delete permission", T::SPEC.name)));
    }
    let deleted = clear_rows::<T>(app.store(), &subject).await?;
    Ok(Json(Cleared { deleted }))
}

/// The 400 for an `owner_id` in a PUT body: the owner is chosen once, at
/// creation.
pub(crate) fn owner_is_fixed() -> ApiError {
    ApiError::field("owner_id", FieldErrorCode::ReadOnly, "the owner is set when the object is created")
}
