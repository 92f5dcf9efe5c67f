//! The generic handlers behind every resource's routes.
//!
//! Each follows the one request path of the design: read the input, check
//! it, touch the database, answer with the record. Authorization slots in as
//! the step before the database once principals exist.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Path, RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use fastsaas_core::ResourceSpec;
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, FieldError, Page};
use http::{HeaderMap, StatusCode};
use sea_orm::sea_query::Order;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use serde::Serialize;
use uuid::Uuid;

use crate::access::{self, Subject};
use crate::app::AppState;
use crate::body::{BodyShape, BodySpec, read_json};
use crate::error::db_error;
use crate::identity::Principal;
use crate::query::{self, Direction, ListQuery};
use crate::resource::{NewRow, Resource, load_authorized};
use crate::routes::created;
use crate::seal;

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
    let model = create_row::<T>(&app, &principal, input, None).await?;
    Ok(created(uri.path(), T::id_of(&model), model))
}

/// The one create path, for `POST /items` and for clones of a template:
/// validation, then ownership and the `create` check
/// ([`access::authorize_create`]: 403 when refused), then the insert.
pub(crate) async fn create_row<T: Resource>(
    app: &AppState,
    principal: &Principal,
    input: T::Create,
    template_id: Option<Uuid>,
) -> ApiResult<T::Model> {
    validated(&input, T::validate_create)?;
    let requested = T::requested_owner(&input);
    insert_authorized::<T>(app, principal, requested, |row| T::new_row(input, NewRow { template_id, ..row })).await
}

/// Inserts the row `build` makes of the new object's framework values,
/// once ownership and the `create` check let the principal create it
/// ([`access::authorize_create`]: 403 when refused).
pub(crate) async fn insert_authorized<T: Resource>(
    app: &AppState,
    principal: &Principal,
    requested_owner: Option<Uuid>,
    build: impl FnOnce(NewRow) -> T::ActiveModel,
) -> ApiResult<T::Model> {
    let id = Uuid::new_v4();
    let owner_id = access::authorize_create(app.db(), T::SPEC, principal, id, requested_owner).await?;
    let row = NewRow { id, owner_id: Some(owner_id), template_id: None, now: Utc::now() };
    let mut row = build(row);
    seal::seal_row::<T>(app.field_keys(), id, &mut row)?;
    row.insert(app.db()).await.map_err(|err| db_error(T::SPEC, err))
}

/// `GET /items/{id}`.
pub(crate) async fn read<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<T::Model>> {
    Ok(Json(load_authorized::<T>(&app, &principal.subject(), "read", id).await?))
}

/// `PATCH /items/{id}`: the fields present are replaced.
pub(crate) async fn patch<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<T::Model>> {
    load_authorized::<T>(&app, &principal.subject(), "update", id).await?;
    let input: T::Patch =
        read_json(BodySpec::of(T::SPEC), BodyShape::Partial, &headers, body, app.body_limit()).await?;
    validated(&input, T::validate_patch)?;
    update_row::<T>(&app, id, T::patch_row(input, id, Utc::now())).await
}

/// `PUT /items/{id}`: every writable field is replaced.
pub(crate) async fn replace<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<T::Model>> {
    load_authorized::<T>(&app, &principal.subject(), "update", id).await?;
    let input: T::Create = read_json(BodySpec::of(T::SPEC), BodyShape::Whole, &headers, body, app.body_limit()).await?;
    if T::requested_owner(&input).is_some() {
        return Err(owner_is_fixed());
    }
    validated(&input, T::validate_create)?;
    update_row::<T>(&app, id, T::replace_row(input, id, Utc::now())).await
}

async fn update_row<T: Resource>(app: &AppState, id: Uuid, mut changes: T::ActiveModel) -> ApiResult<Json<T::Model>> {
    seal::seal_row::<T>(app.field_keys(), id, &mut changes)?;
    match changes.update(app.db()).await {
        Ok(model) => Ok(Json(model)),
        Err(sea_orm::DbErr::RecordNotUpdated | sea_orm::DbErr::RecordNotFound(_)) => {
            Err(ApiError::not_found(T::SPEC.name))
        }
        Err(err) => Err(db_error(T::SPEC, err)),
    }
}

/// `DELETE /items/{id}`: 204.
pub(crate) async fn delete<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<StatusCode> {
    delete_row::<T>(&app, &principal.subject(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes object `id` once the subject may (404 / 403 otherwise).
pub(crate) async fn delete_row<T: Resource>(app: &AppState, subject: &Subject, id: Uuid) -> ApiResult<()> {
    load_authorized::<T>(app, subject, "delete", id).await?;
    let result =
        T::Entity::delete_many().filter(T::ID.eq(id)).exec(app.db()).await.map_err(|err| db_error(T::SPEC, err))?;
    if result.rows_affected == 0 {
        return Err(ApiError::not_found(T::SPEC.name));
    }
    Ok(())
}

/// `GET /items?page=&page_size=&total=&sort=&field=value`.
pub(crate) async fn list<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<T::Model>>> {
    Ok(Json(list_rows::<T>(&app, &principal.subject(), raw.as_deref()).await?))
}

/// The page of the rows the subject may read that `raw_query` asks for.
pub(crate) async fn list_rows<T: Resource>(
    app: &AppState,
    subject: &Subject,
    raw_query: Option<&str>,
) -> ApiResult<Page<T::Model>> {
    let query = query::parse(T::SPEC, raw_query)?;
    let mut select = T::Entity::find();
    if let Some(readable) = access::permitted_rows(app.db(), T::SPEC, subject, "read").await? {
        select = select.filter(readable);
    }
    page_of(app.db(), T::SPEC, &query, select, T::ID, T::CREATED_AT).await
}

/// One page of `select`, filtered and sorted as `query` says, in
/// `created_at`, `id` order unless a sort is asked for, with `total` unless
/// the client declined it.
pub(crate) async fn page_of<E>(
    db: &DatabaseConnection,
    spec: &'static ResourceSpec,
    query: &ListQuery,
    mut select: Select<E>,
    id: E::Column,
    created_at: E::Column,
) -> ApiResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let column = |name: &str| {
        name.parse::<E::Column>().map_err(|_| {
            tracing::error!(resource = spec.name, field = name, "a field has no column");
            ApiError::Internal
        })
    };
    for (field, value) in &query.filters {
        select = select.filter(column(field.name)?.eq(value.clone()));
    }
    let total =
        if query.with_total { Some(select.clone().count(db).await.map_err(|err| db_error(spec, err))?) } else { None };
    select = match query.sort {
        Some((field, Direction::Ascending)) => select.order_by(column(field.name)?, Order::Asc),
        Some((field, Direction::Descending)) => select.order_by(column(field.name)?, Order::Desc),
        None => select.order_by(created_at, Order::Asc),
    };
    let items = select
        .order_by(id, Order::Asc)
        .limit(query.page_size)
        .offset(query.offset())
        .all(db)
        .await
        .map_err(|err| db_error(spec, err))?;
    Ok(Page { items, page: query.page, page_size: query.page_size, total })
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
    let mut rows = T::Entity::delete_many();
    if let Some(deletable) = access::permitted_rows(app.db(), T::SPEC, &subject, "delete").await? {
        rows = rows.filter(deletable);
    }
    let result = rows.exec(app.db()).await.map_err(|err| db_error(T::SPEC, err))?;
    Ok(Json(Cleared { deleted: result.rows_affected }))
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

/// The 400 for an `owner_id` in a PUT body: the owner is chosen once, at
/// creation.
pub(crate) fn owner_is_fixed() -> ApiError {
    ApiError::field("owner_id", FieldErrorCode::ReadOnly, "the owner is set when the object is created")
}

/// `Ok` when `validate` finds nothing wrong with `input`, else the 400
/// listing everything it found.
pub(crate) fn validated<I>(input: &I, validate: fn(&I, &mut Vec<FieldError>)) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    validate(input, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}
