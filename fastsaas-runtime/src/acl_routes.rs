//! Managing ACL entries: per object (`/items/{id}/acl`, with `/check` to
//! explain a decision) and type-wide (`/acl`, for `acl_admins`).

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use fastsaas_core::acl::{self, Effect, Step};
use fastsaas_core::{ApiError, ApiResult, FieldKind, FieldSpec, ProblemKind, ResourceSpec, Rule};
use http::{HeaderMap, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{self, Subject, effect_name, entry_of};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::cache::Forget;
use crate::error::internal;
use crate::guarded::{Guarded, Held};
use crate::http::{ObjectId, PathIds};
use crate::http::{created, deleted};
use crate::identity::entities::acl_entry;
use crate::identity::{Principal, acl_principal_of, field, rejected};
use crate::openapi::{
    AclRoute, IdentityDoc, acl_entry_create_schema, acl_operation, forbidden, identity_operation, problem,
    type_acl_entry_create_schema,
};
use crate::route_table::Route;
use crate::state::AppState;
use crate::validate::check;

/// An action: an operation, a custom action, or `*`.
const ACTION: FieldSpec = field(
    "action",
    FieldKind::Text,
    &[Rule::Length { min: Some(1), max: Some(64) }, Rule::Pattern(r"\*|[a-z_][a-z0-9_.-]*")],
);
const EFFECT: FieldSpec = field("effect", FieldKind::Enum(&["allow", "deny"]), &[]);
static OBJECT_ENTRY_FIELDS: [FieldSpec; 3] = [field("principal_id", FieldKind::Uuid, &[]), ACTION, EFFECT];
const OBJECT_ENTRY_BODY: BodySpec = BodySpec { name: "AclEntry", fields: &OBJECT_ENTRY_FIELDS };
static TYPE_ENTRY_FIELDS: [FieldSpec; 3] = [
    field("resource", FieldKind::Text, &[Rule::Pattern(r"[A-Za-z_][A-Za-z0-9_]*\.(\*|[a-z_][a-z0-9_.-]*)")]),
    field("principal_id", FieldKind::Uuid, &[]),
    EFFECT,
];
const TYPE_ENTRY_BODY: BodySpec = BodySpec { name: "TypeAclEntry", fields: &TYPE_ENTRY_FIELDS };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewObjectEntry {
    principal_id: Uuid,
    action: String,
    effect: Effect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTypeEntry {
    resource: String,
    principal_id: Uuid,
    effect: Effect,
}

/// An entry on one object.
#[derive(Serialize)]
struct EntryView {
    id: Uuid,
    principal_id: Uuid,
    action: String,
    effect: Effect,
}

/// A type-wide entry.
#[derive(Serialize)]
struct TypeEntryView {
    id: Uuid,
    resource: String,
    principal_id: Uuid,
    action: String,
    effect: Effect,
}

impl From<acl_entry::Model> for TypeEntryView {
    fn from(row: acl_entry::Model) -> Self {
        let resource = format!("{}.{}", row.resource_type, row.action);
        let entry = entry_of(row);
        TypeEntryView {
            id: entry.id,
            resource,
            principal_id: entry.principal_id,
            action: entry.action,
            effect: entry.effect,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckQuery {
    action: String,
    principal_id: Option<Uuid>,
}

#[derive(Serialize)]
struct Explanation {
    allowed: bool,
    rule: Step,
    entry: Option<Uuid>,
    principal_id: Uuid,
    action: String,
}

/// The routes of `{scope}/{id}/acl...` for `T`, whose entries may name
/// `actions`, each with its documentation.
pub(crate) fn routes<T: Guarded>(actions: &[&'static str]) -> Vec<Route<AppState>> {
    let spec = T::spec();
    let acl = format!("{}/{{id}}/acl", spec.path);
    let doc = |route| acl_operation(spec, route, actions);
    vec![
        Route::get(acl.clone(), list_object::<T>).documented(doc(AclRoute::List)),
        Route::post(acl.clone(), add_object::<T>)
            .documented(doc(AclRoute::Add))
            .with_schemas([acl_entry_create_schema(spec, actions)]),
        Route::get(format!("{acl}/check"), check_object::<T>).documented(doc(AclRoute::Check)),
        Route::delete(format!("{acl}/{{entry_id}}"), remove_object::<T>).documented(doc(AclRoute::Remove)),
    ]
}

/// The type-wide `/acl` routes, each with its documentation; entries name
/// one of `resources` (`Type.action`).
pub(crate) fn type_wide_routes(resources: Vec<String>) -> Vec<Route<AppState>> {
    let doc = |id, summary, body, success, problems| {
        identity_operation(IdentityDoc { id, summary, body, success, signed_in: true, list: None, problems })
    };
    vec![
        Route::post("/acl", add_type_wide)
            .documented(doc(
                "add_type_acl_entry",
                "Add a type-wide entry, e.g. `Item.read` (the type's acl_admins)",
                Some("TypeAclEntryCreate"),
                ("201", Some("TypeAclEntry")),
                vec![forbidden()],
            ))
            .with_schemas([type_acl_entry_create_schema(resources)]),
        Route::get("/acl", list_type_wide).documented(doc(
            "list_type_acl_entries",
            "The type-wide entries of the types the caller administers",
            None,
            ("200", Some("TypeAclEntryList")),
            vec![forbidden()],
        )),
        Route::delete("/acl/{id}", remove_type_wide).documented(doc(
            "remove_type_acl_entry",
            "Delete a type-wide entry (the type's acl_admins)",
            None,
            ("204", None),
            vec![forbidden(), ("404", problem("No such entry", &[ProblemKind::NotFound]))],
        )),
    ]
}

/// The owner of object `id` of `T` when `subject` may manage its entries:
/// its owner, an admin of the owning organization, or a holder of an
/// `acl_admins` role. Others get 404 if they cannot read it, else 403.
pub(crate) async fn managed<T: Guarded>(app: &AppState, subject: &Subject, id: Uuid) -> ApiResult<Option<Uuid>> {
    let Held { owner, entries } = T::held(app.db(), subject, id).await?;
    let caller = &subject.caller;
    let manages = owner.is_some_and(|owner| owner == caller.id || caller.admin_of.contains(&owner))
        || caller.holds_any(T::spec().acl_admins)
        || caller.holds_any(T::spec().acl_allow_always);
    if manages {
        return Ok(owner);
    }
    // Managing is not an action entries can grant: a caller who may read the
    // object learns it may not manage it (403); anyone else, nothing (404).
    access::authorize_joined(T::spec(), subject, "read", (id, owner), entries)?;
    Err(ApiError::Forbidden(format!("only the owner and admins manage the entries of this {}", T::spec().name)))
}

/// `GET {scope}/{id}/acl`.
async fn list_object<T: Guarded>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<Vec<EntryView>>> {
    managed::<T>(&app, &principal.subject(), id).await?;
    let rows = acl_entry::Entity::find()
        .filter(acl_entry::Column::ResourceType.eq(T::spec().name))
        .filter(acl_entry::Column::ObjectId.eq(id))
        .order_by_asc(acl_entry::Column::CreatedAt)
        .order_by_asc(acl_entry::Column::Id)
        .all(app.db())
        .await
        .map_err(internal)?;
    Ok(Json(
        rows.into_iter()
            .map(entry_of)
            .map(|e| EntryView { id: e.id, principal_id: e.principal_id, action: e.action, effect: e.effect })
            .collect(),
    ))
}

/// `POST {scope}/{id}/acl` `{principal_id, action, effect}`.
async fn add_object<T: Guarded>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    managed::<T>(&app, &principal.subject(), id).await?;
    let input: NewObjectEntry =
        read_json(OBJECT_ENTRY_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let mut errors = Vec::new();
    check(&ACTION, &input.action, &mut errors);
    rejected(errors)?;
    app.registry().check_action(T::spec(), "action", &input.action)?;
    let row = insert(&app, T::spec(), Some(id), input.principal_id, input.action, input.effect).await?;
    let view = EntryView { id: row.id, principal_id: row.principal_id, action: row.action, effect: input.effect };
    Ok(created(uri.path(), row.id, view))
}

async fn insert(
    app: &AppState,
    spec: &ResourceSpec,
    object: Option<Uuid>,
    principal_id: Uuid,
    action: String,
    effect: Effect,
) -> ApiResult<acl_entry::Model> {
    let row = acl_entry::ActiveModel {
        id: Set(Uuid::new_v4()),
        resource_type: Set(spec.name.to_owned()),
        object_id: Set(object),
        principal_id: Set(principal_id),
        action: Set(action),
        effect: Set(effect_name(effect).to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(app.db())
    .await
    .map_err(internal)?;
    app.notifier().forget(app.db(), entries_changed(spec, object.is_none(), principal_id)).await;
    Ok(row)
}

/// What an entry naming `principal` added or removed makes stale: the
/// callers, whose type-wide entries are read with them, or the entries on
/// objects of the type naming that principal.
fn entries_changed(spec: &ResourceSpec, type_wide: bool, principal: Uuid) -> Forget {
    if type_wide { Forget::Callers } else { Forget::Entries(spec.name.to_owned(), principal) }
}

/// `DELETE {scope}/{id}/acl/{entry_id}`.
async fn remove_object<T: Guarded>(
    State(app): State<AppState>,
    principal: Principal,
    PathIds(ids): PathIds,
) -> ApiResult<StatusCode> {
    let [id, entry_id] = ids[..] else { return Err(ApiError::Internal) };
    managed::<T>(&app, &principal.subject(), id).await?;
    let entry = acl_entry::Entity::find_by_id(entry_id)
        .filter(acl_entry::Column::ResourceType.eq(T::spec().name))
        .filter(acl_entry::Column::ObjectId.eq(id))
        .one(app.db())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound("ACL entry".into()))?;
    let removed = acl_entry::Entity::delete_by_id(entry.id).exec(app.db()).await.map_err(internal)?;
    app.notifier().forget(app.db(), entries_changed(T::spec(), false, entry.principal_id)).await;
    deleted(&removed, "ACL entry")
}

/// `GET {scope}/{id}/acl/check?action=..&principal_id=..`: whether the
/// principal (default: the caller) may do the action, which rule of
/// DESIGN.md section 3 decided and which entry. A caller who may read the
/// object asks about itself; only the type's `acl_admins` about others.
async fn check_object<T: Guarded>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Explanation>> {
    let query: CheckQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).map_err(|err| {
        ApiError::InvalidQuery(format!("{err}; expected `?action=..` and optionally `&principal_id=..`"))
    })?;
    let asker = principal.subject();
    let caller = &asker.caller;
    if let Some(message) = app.registry().unknown_action(T::spec(), &query.action) {
        return Err(ApiError::InvalidQuery(message));
    }
    let subject_id = query.principal_id.unwrap_or(caller.id);
    let Held { owner, entries } = T::held(app.db(), &asker, id).await?;
    access::authorize_joined(T::spec(), &asker, "read", (id, owner), entries.clone())?;
    // A decision about someone else depends on their roles and
    // organizations: only the type's administrators may learn those.
    let administers = caller.holds_any(T::spec().acl_admins) || caller.holds_any(T::spec().acl_allow_always);
    if subject_id != caller.id && !administers {
        return Err(ApiError::Forbidden(format!(
            "only the administrators of {} may ask about another principal; ask about yourself",
            T::spec().name
        )));
    }
    let decision = if subject_id == caller.id {
        access::decide_joined(T::spec(), &asker, &query.action, (id, owner), entries)
    } else {
        let subject = Subject::of(acl_principal_of(app.db(), subject_id).await?);
        access::decision(app.db(), T::spec(), &subject, &query.action, Some((id, owner))).await?
    };
    Ok(Json(Explanation {
        allowed: decision.allowed,
        rule: decision.step,
        entry: decision.entry,
        principal_id: subject_id,
        action: query.action,
    }))
}

/// The resource type and action of `"Type.action"`, if the type is served.
fn resource_and_action<'a>(app: &AppState, resource: &'a str) -> ApiResult<(&'static ResourceSpec, &'a str)> {
    let (name, action) = resource.split_once('.').ok_or_else(|| {
        ApiError::field(
            "resource",
            fastsaas_core::error::FieldErrorCode::Invalid,
            "expected `Type.action`, e.g. `Item.read`",
        )
    })?;
    let spec = app.registry().spec(name).ok_or_else(|| {
        ApiError::field(
            "resource",
            fastsaas_core::error::FieldErrorCode::Invalid,
            format!("this app serves no resource `{name}`"),
        )
    })?;
    Ok((spec, action))
}

fn require_acl_admin(spec: &ResourceSpec, caller: &acl::Principal) -> ApiResult<()> {
    if caller.holds_any(spec.acl_admins) || caller.holds_any(spec.acl_allow_always) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("type-wide entries of {} are managed by its acl_admins", spec.name)))
    }
}

/// `POST /acl` `{resource: "Item.read", principal_id, effect}`.
async fn add_type_wide(
    State(app): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let input: NewTypeEntry = read_json(TYPE_ENTRY_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let mut errors = Vec::new();
    check(&TYPE_ENTRY_FIELDS[0], &input.resource, &mut errors);
    rejected(errors)?;
    let (spec, action) = resource_and_action(&app, &input.resource)?;
    require_acl_admin(spec, &principal.to_acl())?;
    app.registry().check_action(spec, "resource", action)?;
    let row = insert(&app, spec, None, input.principal_id, action.to_owned(), input.effect).await?;
    Ok(created(uri.path(), row.id, TypeEntryView::from(row)))
}

/// `GET /acl`: the type-wide entries of every type the caller administers.
async fn list_type_wide(State(app): State<AppState>, principal: Principal) -> ApiResult<Json<Vec<TypeEntryView>>> {
    let caller = principal.to_acl();
    let types: Vec<&str> = app
        .registry()
        .specs()
        .iter()
        .filter(|spec| require_acl_admin(spec, &caller).is_ok())
        .map(|spec| spec.name)
        .collect();
    if types.is_empty() {
        return Err(ApiError::Forbidden("type-wide entries are managed by the acl_admins of each type".into()));
    }
    let rows = acl_entry::Entity::find()
        .filter(acl_entry::Column::ObjectId.is_null())
        .filter(acl_entry::Column::ResourceType.is_in(types))
        .order_by_asc(acl_entry::Column::CreatedAt)
        .order_by_asc(acl_entry::Column::Id)
        .all(app.db())
        .await
        .map_err(internal)?;
    Ok(Json(rows.into_iter().map(TypeEntryView::from).collect()))
}

/// `DELETE /acl/{id}`.
async fn remove_type_wide(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<StatusCode> {
    let row = acl_entry::Entity::find_by_id(id)
        .filter(acl_entry::Column::ObjectId.is_null())
        .one(app.db())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound("type-wide ACL entry".into()))?;
    let spec =
        app.registry().spec(&row.resource_type).ok_or_else(|| ApiError::NotFound("type-wide ACL entry".into()))?;
    require_acl_admin(spec, &principal.to_acl())?;
    acl_entry::Entity::delete_by_id(id).exec(app.db()).await.map_err(internal)?;
    app.notifier().forget(app.db(), entries_changed(spec, true, row.principal_id)).await;
    Ok(StatusCode::NO_CONTENT)
}
