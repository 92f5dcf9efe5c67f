//! API keys of authenticated resources (`#[crud(authenticated)]`):
//! `{scope}/{id}/keys`. A key is shown once, stored as a SHA-256 hash, and
//! `Authorization: Bearer <key>` then acts as that resource.

use axum::extract::{OriginalUri, State};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use fastsaas_core::{ApiError, ApiResult};
use http::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::acl_routes::managed;
use crate::app::AppState;
use crate::crud::{ObjectId, PathIds};
use crate::identity::entities::api_key;
use crate::identity::tokens::new_api_key;
use crate::identity::{Principal, internal};
use crate::resource::Resource;
use crate::routes::{created, deleted, route_all};

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

/// Mounts `{scope}/{id}/keys` for an authenticated `T`.
pub(crate) fn mount<T: Resource>(router: Router<AppState>) -> Router<AppState> {
    if !T::SPEC.authenticated {
        return router;
    }
    let path = T::SPEC.path;
    let routes: [(String, MethodRouter<AppState>); 2] = [
        (format!("{path}/{{id}}/keys"), get(list::<T>).post(create::<T>)),
        (format!("{path}/{{id}}/keys/{{key_id}}"), delete(revoke::<T>)),
    ];
    route_all(router, routes)
}

/// `POST {scope}/{id}/keys`: the object's managers only.
async fn create<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    managed::<T>(&app, &principal.caller(), id).await?;
    let (key, key_hash) = new_api_key()?;
    let row = api_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        resource_type: Set(T::SPEC.name.to_owned()),
        resource_id: Set(id),
        key_hash: Set(key_hash),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
    }
    .insert(app.db())
    .await
    .map_err(internal)?;
    let body = NewKey { id: row.id, key, created_at: row.created_at };
    let mut response = created(uri.path(), row.id, body);
    // The key is a credential: no cache keeps it.
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET {scope}/{id}/keys`.
async fn list<T: Resource>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<Vec<KeyView>>> {
    managed::<T>(&app, &principal.caller(), id).await?;
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
    managed::<T>(&app, &principal.caller(), id).await?;
    let removed = api_key::Entity::delete_many()
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::ResourceType.eq(T::SPEC.name))
        .filter(api_key::Column::ResourceId.eq(id))
        .exec(app.db())
        .await
        .map_err(internal)?;
    deleted(&removed, "API key")
}
