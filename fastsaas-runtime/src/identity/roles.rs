//! `/roles`: named roles and their members; superadmins only.

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::ProblemKind;
use fastsaas_core::{ApiError, ApiResult, FieldKind, FieldSpec, Page};
use http::{HeaderMap, StatusCode};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bodies::{ROLE_NAME, ROLES, field, rejected};
use super::entities::{role, user, user_role};
use super::principal::{Principal, SUPERADMIN};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::cache::Forget;
use crate::error::db_error;
use crate::error::internal;
use crate::http::{ObjectId, PathIds};
use crate::http::{created, deleted};
use crate::openapi::{IdentityDoc, forbidden, identity_operation, problem};
use crate::query;
use crate::query::{Readable, page_of};
use crate::route_table::Route;
use crate::state::AppState;
use crate::validate::check;

static MEMBER_FIELDS: [FieldSpec; 1] = [field("user_id", FieldKind::Uuid, &[])];
const MEMBER_BODY: BodySpec = BodySpec { name: "RoleMember", fields: &MEMBER_FIELDS };

/// The `/roles` routes, each with its documentation.
pub(crate) fn routes() -> Vec<Route<AppState>> {
    let doc = |id, summary, body, success, list, problems| {
        identity_operation(IdentityDoc { id, summary, body, success, signed_in: true, list, problems })
    };
    vec![
        Route::post("/roles", create).documented(doc(
            "create_role",
            "Create a role (superadmins)",
            Some("RoleCreate"),
            ("201", Some("Role")),
            None,
            vec![forbidden(), ("409", problem("The name is taken", &[ProblemKind::Conflict]))],
        )),
        Route::get("/roles", list).documented(doc(
            "list_roles",
            "List roles (superadmins)",
            None,
            ("200", Some("RolePage")),
            Some(&ROLES),
            vec![("400", problem("The query is invalid", &[ProblemKind::InvalidQuery])), forbidden()],
        )),
        Route::delete("/roles/{id}", remove).documented(doc(
            "delete_role",
            "Delete a role (superadmins)",
            None,
            ("204", None),
            None,
            vec![
                forbidden(),
                ("404", problem("No such role", &[ProblemKind::NotFound])),
                ("409", problem("The superadmin role stays", &[ProblemKind::Conflict])),
            ],
        )),
        Route::post("/roles/{id}/members", add_member).documented(doc(
            "add_role_member",
            "Give a user the role (superadmins)",
            Some("RoleMember"),
            ("204", None),
            None,
            vec![forbidden(), ("404", problem("No such role or user", &[ProblemKind::NotFound]))],
        )),
        Route::delete("/roles/{id}/members/{user_id}", remove_member).documented(doc(
            "remove_role_member",
            "Take the role from a user (superadmins)",
            None,
            ("204", None),
            None,
            vec![forbidden(), ("404", problem("Not a member", &[ProblemKind::NotFound]))],
        )),
    ]
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
    check(&ROLE_NAME, &input.name, &mut errors);
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
    let page = page_of(
        app.db(),
        app.cursors(),
        &ROLES,
        &query,
        role::Entity::find(),
        Readable::default(),
        (role::Column::Id, role::Column::CreatedAt),
    )
    .await?;
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
    app.notifier().forget(app.db(), Forget::Callers).await;
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
    app.notifier().forget(app.db(), Forget::Caller(input.user_id)).await;
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
    app.notifier().forget(app.db(), Forget::Caller(user_id)).await;
    deleted(&removed, "member of this role")
}
