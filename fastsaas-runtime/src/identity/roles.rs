//! `/roles`: named roles and their members; superadmins only.

use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use fastsaas_core::{ApiError, ApiResult, FieldKind, FieldSpec, OperationSet, Page, ResourceSpec, Rule};
use http::{HeaderMap, StatusCode};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bodies::{field, rejected};
use super::entities::{role, user, user_role};
use super::principal::{Principal, SUPERADMIN};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::error::db_error;
use crate::error::internal;
use crate::http::{ObjectId, PathIds};
use crate::http::{created, deleted, route_all};
use crate::query;
use crate::query::page_of;
use crate::state::AppState;
use crate::validate::check;

const NAME: FieldSpec = FieldSpec {
    unique: true,
    filter: true,
    sort: true,
    ..field("name", FieldKind::Text, &[Rule::Length { min: Some(1), max: Some(64) }, Rule::Pattern("[A-Za-z0-9_.:-]+")])
};
static ROLE_FIELDS: [FieldSpec; 1] = [NAME];
/// Roles, described like a resource for bodies, lists and docs.
pub(crate) static ROLES: ResourceSpec = ResourceSpec {
    name: "Role",
    path: "/roles",
    table: "fastsaas_roles",
    ops: OperationSet::ALL,
    acl_admins: &[SUPERADMIN],
    acl_allow_always: &[SUPERADMIN],
    authenticated: false,
    templates: None,
    fields: &ROLE_FIELDS,
    doc: "A named set of users that ACL entries and scopes can name.",
};
static MEMBER_FIELDS: [FieldSpec; 1] = [field("user_id", FieldKind::Uuid, &[])];
const MEMBER_BODY: BodySpec = BodySpec { name: "RoleMember", fields: &MEMBER_FIELDS };

/// Mounts `/roles`.
pub(crate) fn mount(router: Router<AppState>) -> Router<AppState> {
    let routes: [(&str, MethodRouter<AppState>); 4] = [
        ("/roles", post(create).get(list)),
        ("/roles/{id}", delete(remove)),
        ("/roles/{id}/members", post(add_member)),
        ("/roles/{id}/members/{user_id}", delete(remove_member)),
    ];
    route_all(router, routes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: Uuid,
}

#[derive(Serialize)]
struct RoleView {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<role::Model> for RoleView {
    fn from(role: role::Model) -> Self {
        RoleView { id: role.id, name: role.name, created_at: role.created_at }
    }
}

/// `POST /roles`.
async fn create(
    State(app): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    principal.require_superadmin()?;
    let input: NewRole = read_json(BodySpec::of(&ROLES), BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let mut errors = Vec::new();
    check(&NAME, &input.name, &mut errors);
    rejected(errors)?;
    let row = role::ActiveModel { id: Set(Uuid::new_v4()), name: Set(input.name), created_at: Set(Utc::now()) };
    let role = row.insert(app.db()).await.map_err(|err| db_error(&ROLES, err))?;
    Ok(created(uri.path(), role.id, RoleView::from(role)))
}

/// `GET /roles`.
async fn list(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<RoleView>>> {
    principal.require_superadmin()?;
    let query = query::parse(&ROLES, raw.as_deref())?;
    let page =
        page_of(app.db(), &ROLES, &query, role::Entity::find(), role::Column::Id, role::Column::CreatedAt).await?;
    Ok(Json(page.map(RoleView::from)))
}

async fn find_role(app: &AppState, id: Uuid) -> ApiResult<role::Model> {
    role::Entity::find_by_id(id).one(app.db()).await.map_err(internal)?.ok_or_else(|| ApiError::not_found("Role"))
}

/// `DELETE /roles/{id}`: its memberships go with it. The superadmin role
/// stays: without it nobody could manage roles.
async fn remove(State(app): State<AppState>, principal: Principal, ObjectId(id): ObjectId) -> ApiResult<StatusCode> {
    principal.require_superadmin()?;
    let role = find_role(&app, id).await?;
    if role.name == SUPERADMIN {
        return Err(ApiError::Conflict(format!("the `{SUPERADMIN}` role cannot be deleted")));
    }
    role::Entity::delete_by_id(id).exec(app.db()).await.map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /roles/{id}/members` `{user_id}`: idempotent.
async fn add_member(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    principal.require_superadmin()?;
    let input: NewMember = read_json(MEMBER_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    find_role(&app, id).await?;
    user::Entity::find_by_id(input.user_id)
        .one(app.db())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("User"))?;
    user_role::Entity::insert(user_role::ActiveModel {
        user_id: Set(input.user_id),
        role_id: Set(id),
        created_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::columns([user_role::Column::UserId, user_role::Column::RoleId]).do_nothing().to_owned())
    .exec_without_returning(app.db())
    .await
    .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /roles/{id}/members/{user_id}`: takes effect on that user's next request.
async fn remove_member(
    State(app): State<AppState>,
    principal: Principal,
    PathIds(ids): PathIds,
) -> ApiResult<StatusCode> {
    principal.require_superadmin()?;
    let [id, user_id] = ids[..] else { return Err(ApiError::Internal) };
    let removed = user_role::Entity::delete_many()
        .filter(user_role::Column::RoleId.eq(id))
        .filter(user_role::Column::UserId.eq(user_id))
        .exec(app.db())
        .await
        .map_err(internal)?;
    deleted(&removed, "member of this role")
}
