//! The routes of `{scope}/templates`.

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use fastsaas_core::acl::actions_of;
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::resource::TEMPLATE_FIELDS;
use fastsaas_core::{Access, ApiError, ApiResult, FieldError, Operation, Page, ResourceSpec};
use http::{HeaderMap, Method, StatusCode};
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::{self, Column, Entity};
use super::load::{authorized, clone_template, parent_chain, readable_ancestry};
use super::{Templated, Templates, chain};
use crate::access::Subject;
use crate::body::{BodyShape, BodySpec, parse_json, read_json, read_optional_json_bytes};
use crate::crud::owner_is_fixed;
use crate::db::turns::begin_turn;
use crate::error::internal;
use crate::http::ObjectId;
use crate::http::created;
use crate::identity::{Principal, rejected};
use crate::openapi::{TemplateRoute, crud_operation, template_operation};
use crate::query::page_of;
use crate::resource::Resource;
use crate::route_table::Route;
use crate::state::AppState;
use crate::validate::check;
use crate::{access, acl_routes, query};

const TEMPLATE_BODY: BodySpec = BodySpec { name: "Template", fields: &TEMPLATE_FIELDS };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplate {
    name: String,
    #[serde(default)]
    parent_id: Option<Uuid>,
    params: Map<String, Value>,
    #[serde(default)]
    owner_id: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateChanges {
    // `present`: an absent member is no change, a `null` one is refused
    // (neither the name nor the params may be null).
    #[serde(default, deserialize_with = "crate::field::present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::field::present")]
    parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::field::present")]
    params: Option<Map<String, Value>>,
}

/// The routes of `{scope}/templates...` and the templates' ACL routes for
/// `T`, each with its documentation.
pub(crate) fn routes<T: Templated>() -> Vec<Route<AppState>> {
    let (spec, templates) = (T::SPEC, T::TEMPLATES);
    let path = templates.path;
    let item = format!("{path}/{{id}}");
    let crud = |op, method: &Method| crud_operation(templates, op, method);
    let mut routes = vec![
        Route::post(path, create::<T>).documented(crud(Operation::Create, &Method::POST)),
        Route::get(path, list::<T>).documented(crud(Operation::List, &Method::GET)),
        Route::get(item.clone(), read::<T>).documented(crud(Operation::Read, &Method::GET)),
        Route::patch(item.clone(), update::<T>).documented(crud(Operation::Update, &Method::PATCH)),
        Route::put(item.clone(), replace::<T>).documented(crud(Operation::Update, &Method::PUT)),
        Route::delete(item.clone(), delete::<T>).documented(crud(Operation::Delete, &Method::DELETE)),
        Route::get(format!("{item}/resolved"), resolved::<T>).documented(template_operation(
            spec,
            templates,
            TemplateRoute::Resolved,
        )),
        Route::post(format!("{item}/clone"), clone::<T>)
            .documented(template_operation(spec, templates, TemplateRoute::Clone))
            .action(Operation::Create.as_str()),
    ];
    routes.extend(acl_routes::routes::<Templates<T>>(&actions_of(&[])));
    routes
}

/// Checks `params` as values of `T`'s readable and writable fields: the
/// shape of a PATCH body (`null` allowed everywhere: it removes a value),
/// and the validation rules. Errors name `params.<field>`.
fn check_params<T: Resource>(params: &Map<String, Value>) -> ApiResult<()> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut present = Map::new();
    for (name, value) in params {
        match T::SPEC.field(name) {
            Some(field) if field.access == Access::WriteOnly => errors.push(FieldError::new(
                name.as_str(),
                FieldErrorCode::Invalid,
                "a write-only value is not kept in a template, which others may read; send it when cloning",
            )),
            Some(_) if value.is_null() => {}
            _ => {
                present.insert(name.clone(), value.clone());
            }
        }
    }
    let bytes = serde_json::to_vec(&present).map_err(|_| ApiError::Internal)?;
    match parse_json::<T::Patch>(BodySpec::of(T::SPEC), BodyShape::Partial, &bytes) {
        Ok(patch) => T::validate_patch(&patch, &mut errors),
        Err(ApiError::Validation(found)) => errors.extend(found),
        Err(other) => return Err(other),
    }
    for error in &mut errors {
        error.field = format!("params.{}", error.field);
    }
    rejected(errors)
}

/// Checks what a create or change of template `id` (`None` when new)
/// sends: the name, the params, and the parent (readable by the caller,
/// no cycle, not too deep).
async fn check_template<T: Templated>(
    db: &impl ConnectionTrait,
    subject: &Subject,
    id: Option<Uuid>,
    name: Option<&String>,
    params: Option<&Map<String, Value>>,
    parent_id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(name) = name {
        let mut errors = Vec::new();
        check(&TEMPLATE_FIELDS[0], name, &mut errors);
        rejected(errors)?;
    }
    if let Some(params) = params {
        check_params::<T>(params)?;
    }
    if let Some(parent_id) = parent_id {
        let parent = parent_chain(db, T::TEMPLATES, subject, parent_id).await?;
        chain::check_parent(db, T::TEMPLATES, id, &parent).await?;
    }
    Ok(())
}

/// `POST {scope}/templates` `{name, parent_id?, params, owner_id?}`.
async fn create<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let spec = T::TEMPLATES;
    let input: NewTemplate = read_json(TEMPLATE_BODY, BodyShape::Create, &headers, body, app.body_limit()).await?;
    let subject = principal.subject();
    let (id, now) = (Uuid::new_v4(), Utc::now());
    let turn = chain_turn(&app, spec, input.parent_id).await?;
    check_template::<T>(&turn, &subject, None, Some(&input.name), Some(&input.params), input.parent_id).await?;
    let owner_id =
        access::authorize_create(app.db(), spec, &principal.subject(), principal.acts_for(), id, input.owner_id)
            .await?;
    let template = entity::ActiveModel {
        id: Set(id),
        resource_type: Set(spec.name.to_owned()),
        name: Set(input.name),
        parent_id: Set(input.parent_id),
        params: Set(Value::Object(input.params)),
        owner_id: Set(Some(owner_id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&turn)
    .await
    .map_err(internal)?;
    turn.commit().await.map_err(internal)?;
    Ok(created(uri.path(), id, template))
}

/// `GET {scope}/templates/{id}`.
async fn read<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<entity::Model>> {
    Ok(Json(authorized(app.db(), T::TEMPLATES, &principal.subject(), "read", id).await?))
}

/// `PATCH {scope}/templates/{id}` `{name?, parent_id?, params?}`: `params`
/// replaces the template's own params as a whole.
async fn update<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<entity::Model>> {
    let subject = principal.subject();
    authorized(app.db(), T::TEMPLATES, &subject, "update", id).await?;
    let changes: TemplateChanges =
        read_json(TEMPLATE_BODY, BodyShape::Partial, &headers, body, app.body_limit()).await?;
    change::<T>(&app, &subject, id, changes).await
}

/// `PUT {scope}/templates/{id}` `{name, parent_id?, params}`: every field
/// replaced (a missing `parent_id` makes the template a root).
async fn replace<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<entity::Model>> {
    let subject = principal.subject();
    authorized(app.db(), T::TEMPLATES, &subject, "update", id).await?;
    let input: NewTemplate = read_json(TEMPLATE_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    if input.owner_id.is_some() {
        return Err(owner_is_fixed());
    }
    let changes =
        TemplateChanges { name: Some(input.name), parent_id: Some(input.parent_id), params: Some(input.params) };
    change::<T>(&app, &subject, id, changes).await
}

/// Checks and stores the changes of a PATCH or PUT.
async fn change<T: Templated>(
    app: &AppState,
    subject: &Subject,
    id: Uuid,
    changes: TemplateChanges,
) -> ApiResult<Json<entity::Model>> {
    let spec = T::TEMPLATES;
    let parent_id = changes.parent_id.flatten();
    let turn = chain_turn(app, spec, parent_id).await?;
    check_template::<T>(&turn, subject, Some(id), changes.name.as_ref(), changes.params.as_ref(), parent_id).await?;
    let template = entity::ActiveModel {
        id: Unchanged(id),
        name: changes.name.map_or(NotSet, Set),
        parent_id: changes.parent_id.map_or(NotSet, Set),
        params: changes.params.map_or(NotSet, |params| Set(Value::Object(params))),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .update(&turn)
    .await
    .map_err(|err| match err {
        sea_orm::DbErr::RecordNotUpdated | sea_orm::DbErr::RecordNotFound(_) => ApiError::not_found(spec.name),
        other => internal(other),
    })?;
    turn.commit().await.map_err(internal)?;
    Ok(Json(template))
}

/// A transaction for a write that may change the shape of `spec`'s chains
/// (a template hung under `parent`), holding the type's turn when it does:
/// two moves checked at the same moment (A under B, B under A) would each
/// pass the cycle and depth checks alone.
async fn chain_turn(app: &AppState, spec: &ResourceSpec, parent: Option<Uuid>) -> ApiResult<DatabaseTransaction> {
    let transaction = match parent {
        Some(_) => begin_turn(app.db(), &format!("templates:{}", spec.name)).await,
        None => crate::db::begin_write(app.db()).await,
    };
    transaction.map_err(internal)
}

/// `DELETE {scope}/templates/{id}`: 409 while templates of its own owner
/// hang under it. Templates of others hung under it become roots, keeping
/// their own params: an owner is never blocked by what others attached to
/// its objects. Objects cloned from it keep their values and their
/// `template_id`.
async fn delete<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<StatusCode> {
    let spec = T::TEMPLATES;
    let template = authorized(app.db(), spec, &principal.subject(), "delete", id).await?;
    let transaction = crate::db::begin_write(app.db()).await.map_err(internal)?;
    let mut others = Entity::update_many()
        .col_expr(Column::ParentId, Expr::value(Option::<Uuid>::None))
        .filter(Column::ResourceType.eq(spec.name))
        .filter(Column::ParentId.eq(id));
    if let Some(owner) = template.owner_id {
        others = others.filter(Column::OwnerId.ne(owner));
    }
    others.exec(&transaction).await.map_err(internal)?;
    if chain::has_children(&transaction, spec, id).await? {
        return Err(ApiError::Conflict(format!(
            "templates of this {}'s owner have it as their parent; delete or re-parent them first",
            spec.name
        )));
    }
    let removed = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::ResourceType.eq(spec.name))
        .exec(&transaction)
        .await
        .map_err(internal)?;
    transaction.commit().await.map_err(internal)?;
    crate::http::deleted(&removed, spec.name)
}

/// `GET {scope}/templates`: the templates the caller may read, a page.
async fn list<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<entity::Model>>> {
    let spec = T::TEMPLATES;
    let query = query::parse(spec, raw.as_deref())?;
    let select = Entity::find().filter(Column::ResourceType.eq(spec.name));
    let readable = access::permitted_rows(app.db(), spec, &principal.subject(), "read").await?;
    Ok(Json(page_of(app.db(), app.cursors(), spec, &query, select, readable, (Column::Id, Column::CreatedAt)).await?))
}

/// `GET {scope}/templates/{id}/resolved`: the params of the chain, merged.
async fn resolved<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<Value>> {
    let template = authorized(app.db(), T::TEMPLATES, &principal.subject(), "read", id).await?;
    let subject = principal.subject();
    Ok(Json(chain::resolve(&readable_ancestry(app.db(), T::TEMPLATES, &subject, template).await?)))
}

/// `POST {scope}/templates/{id}/clone` `{...field overrides, owner_id?}`
/// (or no body: the template as it is): 201 with the new record, whose
/// `Location` is under the resource's scope.
async fn clone<T: Templated>(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_optional_json_bytes(&headers, body, app.body_limit()).await?;
    let overrides: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|err| ApiError::MalformedJson(err.to_string()))?
    };
    let model = clone_template::<T>(app.store(), &principal, id, overrides).await?;
    Ok(created(T::SPEC.path, T::id_of(&model), model))
}
