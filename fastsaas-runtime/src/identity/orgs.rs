//! `/orgs`: organizations and their members. The creator is the first admin;
//! admins manage members; members read.

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::ProblemKind;
use fastsaas_core::{ApiError, ApiResult, Page};
use http::{HeaderMap, StatusCode};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bodies::{MEMBERS, ORGANIZATION_MEMBER_FIELDS, ORGANIZATION_NAME, ORGANIZATIONS, rejected};
use super::entities::{membership, organization, user};
use super::principal::{OrgRole, Principal};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::cache::Forget;
use crate::db::turns::begin_turn;
use crate::error::internal;
use crate::http::{ObjectId, PathIds};
use crate::http::{created, deleted};
use crate::openapi::{IdentityDoc, forbidden, identity_operation, problem};
use crate::query;
use crate::query::{Readable, page_of};
use crate::route_table::Route;
use crate::state::AppState;
use crate::validate::check;

const MEMBER_BODY: BodySpec = BodySpec { name: "OrganizationMember", fields: &ORGANIZATION_MEMBER_FIELDS };

/// The `/orgs` routes, each with its documentation.
pub(crate) fn routes() -> Vec<Route<AppState>> {
    let bad_query = || ("400", problem("The query is invalid", &[ProblemKind::InvalidQuery]));
    let not_member = || ("404", problem("No such organization, or not a member", &[ProblemKind::NotFound]));
    let last_admin = || ("409", problem("The last admin stays", &[ProblemKind::Conflict]));
    let doc = |id, summary, body, success, list, problems| {
        identity_operation(IdentityDoc { id, summary, body, success, signed_in: true, list, problems })
    };
    vec![
        Route::post("/orgs", create).documented(doc(
            "create_organization",
            "Create an organization; the caller becomes its admin",
            Some("OrganizationCreate"),
            ("201", Some("Organization")),
            None,
            vec![],
        )),
        Route::get("/orgs", list).documented(doc(
            "list_organizations",
            "The caller's organizations",
            None,
            ("200", Some("OrganizationPage")),
            Some(&ORGANIZATIONS),
            vec![bad_query()],
        )),
        Route::get("/orgs/{id}", read).documented(doc(
            "read_organization",
            "Read an organization (members)",
            None,
            ("200", Some("Organization")),
            None,
            vec![not_member()],
        )),
        Route::patch("/orgs/{id}", rename).documented(doc(
            "rename_organization",
            "Rename an organization (org admins)",
            Some("OrganizationCreate"),
            ("200", Some("Organization")),
            None,
            vec![forbidden(), not_member()],
        )),
        Route::delete("/orgs/{id}", remove).documented(doc(
            "delete_organization",
            "Delete an organization with everything it owns (org admins)",
            None,
            ("204", None),
            None,
            vec![forbidden(), not_member()],
        )),
        Route::get("/orgs/{id}/members", list_members).documented(doc(
            "list_organization_members",
            "The members (org admins)",
            None,
            ("200", Some("OrganizationMembershipPage")),
            Some(&MEMBERS),
            vec![bad_query(), forbidden(), not_member()],
        )),
        Route::post("/orgs/{id}/members", add_member).documented(doc(
            "add_organization_member",
            "Add a member by id or e-mail address, or change its role (org admins)",
            Some("OrganizationMember"),
            ("204", None),
            None,
            vec![forbidden(), ("404", problem("No such organization or user", &[ProblemKind::NotFound])), last_admin()],
        )),
        Route::delete("/orgs/{id}/members/{user_id}", remove_member).documented(doc(
            "remove_organization_member",
            "Remove a member (org admins), or leave (the member itself)",
            None,
            ("204", None),
            None,
            vec![forbidden(), ("404", problem("Not a member", &[ProblemKind::NotFound])), last_admin()],
        )),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganization {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    #[serde(default)]
    user_id: Option<Uuid>,
    #[serde(default)]
    email: Option<String>,
    role: OrgRole,
}

/// A member as its organization's admins see it.
#[derive(Serialize)]
struct MemberView {
    user_id: Uuid,
    role: OrgRole,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct OrganizationView {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<organization::Model> for OrganizationView {
    fn from(org: organization::Model) -> Self {
        OrganizationView { id: org.id, name: org.name, created_at: org.created_at, updated_at: org.updated_at }
    }
}

/// `POST /orgs`: the caller becomes its admin, in the same transaction.
async fn create(
    State(app): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let creator = principal.require_user()?;
    let input: NewOrganization =
        read_json(BodySpec::of(&ORGANIZATIONS), BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let mut errors = Vec::new();
    check(&ORGANIZATION_NAME, &input.name, &mut errors);
    rejected(errors)?;
    let now = Utc::now();
    let org = organization::Model { id: Uuid::new_v4(), name: input.name, created_at: now, updated_at: now };
    let txn = crate::db::begin_write(app.db()).await.map_err(internal)?;
    organization::Entity::insert(organization::ActiveModel::from(org.clone()))
        .exec_without_returning(&txn)
        .await
        .map_err(internal)?;
    membership::Entity::insert(membership::ActiveModel {
        organization_id: Set(org.id),
        user_id: Set(creator),
        role: Set(OrgRole::Admin.as_str().to_owned()),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(internal)?;
    txn.commit().await.map_err(internal)?;
    app.notifier().forget(app.db(), Forget::Caller(creator)).await;
    Ok(created(uri.path(), org.id, OrganizationView::from(org)))
}

/// `GET /orgs`: the caller's organizations.
async fn list(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<OrganizationView>>> {
    let query = query::parse(&ORGANIZATIONS, raw.as_deref())?;
    let mine: Vec<Uuid> = principal.organizations.iter().map(|m| m.organization_id).collect();
    let select = organization::Entity::find().filter(organization::Column::Id.is_in(mine));
    let page = page_of(
        app.db(),
        app.cursors(),
        &ORGANIZATIONS,
        &query,
        select,
        Readable::default(),
        (organization::Column::Id, organization::Column::CreatedAt),
    )
    .await?;
    Ok(Json(page.map(OrganizationView::from)))
}

/// The organization `id`, if the caller is a member (or a superadmin);
/// anyone else gets the 404 of a missing one.
async fn visible(app: &AppState, principal: &Principal, id: Uuid) -> ApiResult<organization::Model> {
    if principal.role_in(id).is_none() && !principal.is_superadmin() {
        return Err(ApiError::not_found("Organization"));
    }
    organization::Entity::find_by_id(id)
        .one(app.db())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("Organization"))
}

/// 403 unless the caller administers `id` (a member sees the organization,
/// so it learns nothing from the 403).
fn require_admin(principal: &Principal, id: Uuid) -> ApiResult<()> {
    if principal.role_in(id) == Some(OrgRole::Admin) || principal.is_superadmin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins of this organization manage its members".into()))
    }
}

/// `GET /orgs/{id}`: members only.
async fn read(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<OrganizationView>> {
    Ok(Json(visible(&app, &principal, id).await?.into()))
}

/// `POST /orgs/{id}/members` `{user_id, role}`: adds a member or changes its
/// role; org admins only.
async fn add_member(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    visible(&app, &principal, id).await?;
    require_admin(&principal, id)?;
    let input: NewMember = read_json(MEMBER_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let newcomer = match (input.user_id, input.email) {
        (Some(user_id), None) => user::Entity::find_by_id(user_id),
        (None, Some(email)) => {
            user::Entity::find().filter(user::Column::Email.eq(super::bootstrap::normalize_email(&email)))
        }
        _ => {
            return Err(ApiError::field(
                "user_id",
                fastsaas_core::error::FieldErrorCode::Invalid,
                "name the new member by `user_id` or by `email`, not both",
            ));
        }
    }
    .one(app.db())
    .await
    .map_err(internal)?
    .ok_or_else(|| ApiError::not_found("User"))?;
    let turn = organization_turn(&app, id).await?;
    if input.role == OrgRole::Member {
        ensure_another_admin(&turn, id, newcomer.id).await?;
    }
    membership::Entity::insert(membership::ActiveModel {
        organization_id: Set(id),
        user_id: Set(newcomer.id),
        role: Set(input.role.as_str().to_owned()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([membership::Column::OrganizationId, membership::Column::UserId])
            .update_column(membership::Column::Role)
            .to_owned(),
    )
    .exec_without_returning(&turn)
    .await
    .map_err(internal)?;
    turn.commit().await.map_err(internal)?;
    app.notifier().forget(app.db(), Forget::Caller(newcomer.id)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /orgs/{id}/members/{user_id}`: org admins, or a member leaving;
/// takes effect on that user's next request.
async fn remove_member(
    State(app): State<AppState>,
    principal: Principal,
    PathIds(ids): PathIds,
) -> ApiResult<StatusCode> {
    let [id, user_id] = ids[..] else { return Err(ApiError::Internal) };
    visible(&app, &principal, id).await?;
    if user_id != principal.id {
        require_admin(&principal, id)?;
    }
    let turn = organization_turn(&app, id).await?;
    ensure_another_admin(&turn, id, user_id).await?;
    let removed = membership::Entity::delete_many()
        .filter(membership::Column::OrganizationId.eq(id))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(&turn)
        .await
        .map_err(internal)?;
    turn.commit().await.map_err(internal)?;
    app.notifier().forget(app.db(), Forget::Caller(user_id)).await;
    deleted(&removed, "member of this organization")
}

/// Past this many members, deleting an organization forgets every cached
/// caller at once rather than its members one by one.
const MEMBERS_FORGOTTEN_ONE_BY_ONE: usize = 100;

/// A transaction holding the organization's turn at changing its members,
/// so that two admins removing or demoting each other at the same moment
/// cannot both pass the last-admin check.
async fn organization_turn(app: &AppState, id: Uuid) -> ApiResult<DatabaseTransaction> {
    begin_turn(app.db(), &format!("organization:{id}")).await.map_err(internal)
}

/// 409 if `leaving` is the organization's last admin: an organization
/// without admins could never be managed again.
async fn ensure_another_admin(db: &impl ConnectionTrait, id: Uuid, leaving: Uuid) -> ApiResult<()> {
    let others = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(id))
        .filter(membership::Column::Role.eq(OrgRole::Admin.as_str()))
        .filter(membership::Column::UserId.ne(leaving))
        .count(db)
        .await
        .map_err(internal)?;
    if others == 0 {
        let is_admin = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(id))
            .filter(membership::Column::UserId.eq(leaving))
            .filter(membership::Column::Role.eq(OrgRole::Admin.as_str()))
            .count(db)
            .await
            .map_err(internal)?;
        if is_admin > 0 {
            return Err(ApiError::Conflict("an organization keeps at least one admin".into()));
        }
    }
    Ok(())
}

/// `GET /orgs/{id}/members`: a page of the members, for the organization's
/// admins.
async fn list_members(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<MemberView>>> {
    visible(&app, &principal, id).await?;
    require_admin(&principal, id)?;
    let query = query::parse(&MEMBERS, raw.as_deref())?;
    let select = membership::Entity::find().filter(membership::Column::OrganizationId.eq(id));
    let page = page_of(
        app.db(),
        app.cursors(),
        &MEMBERS,
        &query,
        select,
        Readable::default(),
        (membership::Column::UserId, membership::Column::CreatedAt),
    )
    .await?;
    Ok(Json(page.map(|member| MemberView {
        user_id: member.user_id,
        role: OrgRole::from_stored(&member.role),
        created_at: member.created_at,
    })))
}

/// `PATCH /orgs/{id}` `{name}`: org admins.
async fn rename(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<OrganizationView>> {
    let existing = visible(&app, &principal, id).await?;
    require_admin(&principal, id)?;
    let input: NewOrganization =
        read_json(BodySpec::of(&ORGANIZATIONS), BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let mut errors = Vec::new();
    check(&ORGANIZATION_NAME, &input.name, &mut errors);
    rejected(errors)?;
    let mut row: organization::ActiveModel = existing.into();
    row.name = Set(input.name);
    row.updated_at = Set(Utc::now());
    let updated = row.update(app.db()).await.map_err(internal)?;
    Ok(Json(updated.into()))
}

/// `DELETE /orgs/{id}`: org admins. Everything the organization owns goes
/// with it, in one transaction: its objects and templates (with their
/// entries and keys), the entries naming it, its memberships.
async fn remove(State(app): State<AppState>, principal: Principal, ObjectId(id): ObjectId) -> ApiResult<StatusCode> {
    visible(&app, &principal, id).await?;
    require_admin(&principal, id)?;
    let turn = organization_turn(&app, id).await?;
    let (mut stale, told) =
        crate::store::delete_owned(&turn, app.store(), (id, "the organization"), principal.id).await?;
    let members = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(id))
        .all(&turn)
        .await
        .map_err(internal)?;
    // One invalidation per member, up to a point; then every caller.
    if members.len() > MEMBERS_FORGOTTEN_ONE_BY_ONE {
        stale.push(Forget::Callers);
    } else {
        stale.extend(members.into_iter().map(|member| Forget::Caller(member.user_id)));
    }
    let removed = organization::Entity::delete_by_id(id).exec(&turn).await.map_err(internal)?;
    turn.commit().await.map_err(internal)?;
    told.committed(app.notifier());
    // Its members' callers and what it owned, from every cache.
    for forget in stale {
        app.notifier().forget(app.db(), forget).await;
    }
    deleted(&removed, "Organization")
}
