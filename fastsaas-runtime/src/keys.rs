//! API keys of authenticated resources (`#[crud(authenticated)]`):
//! `{scope}/{id}/keys`. A key is shown once, stored as a SHA-256 hash, and
//! `Authorization: Bearer <key>` then acts as that resource.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::{ApiError, ApiResult};
use http::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::acl_routes::managed;
use crate::error::internal;
use crate::http::{ObjectId, PathIds};
use crate::http::{created, deleted};
use crate::identity::Principal;
use crate::identity::entities::api_key;
use crate::identity::tokens::new_api_key;
use crate::openapi::{KeyRoute, key_operation};
use crate::resource::Resource;
use crate::route_table::Route;
use crate::state::AppState;

/// A new key: the only time `key` is shown.
#[derive(Serialize)]
struct NewKey {
    id: Uuid,
    key: String,
    created_at: DateTime<Utc>,
}

/// A key as listed: never the key itself.
#[derive(Serialize)]
struct KeyView {
    id: Uuid,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

/// The routes of `{scope}/{id}/keys` for an authenticated `T` (none for
/// others), each with its documentation.
pub(crate) fn routes<T: Resource>() -> Vec<Route<AppState>> {
    let spec = T::SPEC;
    if !spec.authenticated {
        return Vec::new();
    }
    let keys = format!("{}/{{id}}/keys", spec.path);
    vec![
        Route::post(keys.clone(), create::<T>).documented(key_operation(spec, KeyRoute::Issue)),
        Route::get(keys.clone(), list::<T>).documented(key_operation(spec, KeyRoute::List)),
        Route::delete(format!("{keys}/{{key_id}}"), revoke::<T>).documented(key_operation(spec, KeyRoute::Revoke)),
    ]
}

/// `POST {scope}/{id}/keys`: the object's managers only.
async fn create<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    managed::<T>(&app, &principal.subject(), id).await?;
    let (key, key_hash) = new_api_key()?;
    let (key_id, now) = (Uuid::new_v4(), Utc::now());
    let db = app.db();
    let backend = db.get_database_backend();
    let values = [key_id.into(), T::SPEC.name.into(), id.into(), key_hash.into(), now.into()];
    let inserted = db
        .execute_raw(Statement::from_sql_and_values(backend, insert_if_alive(T::SPEC.table, backend), values))
        .await
        .map_err(internal)?;
    // The object was deleted since it was checked: no key outlives it.
    if inserted.rows_affected() == 0 {
        return Err(ApiError::not_found(T::SPEC.name));
    }
    let body = NewKey { id: key_id, key, created_at: now };
    let mut response = created(uri.path(), key_id, body);
    // The key is a credential: no cache keeps it.
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The insert of a key for the object `$3` of `table` that happens only if
/// the object exists, in one statement. On PostgreSQL the object's row is
/// share-locked, so a delete running at the same moment either waits for
/// the key and then removes it with the object (its trigger), or has
/// already removed the object and no key is made; SQLite runs one writer
/// at a time.
fn insert_if_alive(table: &str, backend: DbBackend) -> String {
    let lock = if backend == DbBackend::Postgres { " FOR SHARE" } else { "" };
    format!(
        "INSERT INTO fastsaas_api_keys (id, resource_type, resource_id, key_hash, created_at, last_used_at) \
         SELECT $1, $2, $3, $4, $5, NULL WHERE EXISTS (SELECT 1 FROM \"{table}\" WHERE id = $3{lock})"
    )
}

/// `GET {scope}/{id}/keys`.
async fn list<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<Vec<KeyView>>> {
    managed::<T>(&app, &principal.subject(), id).await?;
    let rows = api_key::Entity::find()
        .filter(api_key::Column::ResourceType.eq(T::SPEC.name))
        .filter(api_key::Column::ResourceId.eq(id))
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .all(app.db())
        .await
        .map_err(internal)?;
    Ok(Json(
        rows.into_iter()
            .map(|row| KeyView { id: row.id, created_at: row.created_at, last_used_at: row.last_used_at })
            .collect(),
    ))
}

/// `DELETE {scope}/{id}/keys/{key_id}`: the key stops working at once.
async fn revoke<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    PathIds(ids): PathIds,
) -> ApiResult<StatusCode> {
    let [id, key_id] = ids[..] else { return Err(ApiError::Internal) };
    managed::<T>(&app, &principal.subject(), id).await?;
    let removed = api_key::Entity::delete_many()
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::ResourceType.eq(T::SPEC.name))
        .filter(api_key::Column::ResourceId.eq(id))
        .exec(app.db())
        .await
        .map_err(internal)?;
    deleted(&removed, "API key")
}
