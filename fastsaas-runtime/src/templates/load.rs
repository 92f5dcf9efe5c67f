//! Templates as a caller may use them: one template checked like any
//! object, its chain readable at this moment, and a clone through the
//! resource's create path.

use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, ResourceSpec};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;

use super::{Templated, chain, entity};
use crate::access::{self, Subject};
use crate::body::{BodyShape, BodySpec, parse_json};
use crate::identity::Principal;
use crate::resource::load_authorized_in;
use crate::store::{Store, create_row};

/// The template `id` once the subject may do `action` on it (404/403 as for
/// any object).
pub(crate) async fn authorized(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    subject: &Subject,
    action: &str,
    id: Uuid,
) -> ApiResult<entity::Model> {
    load_authorized_in(db, spec, subject, action, (id, chain::by_id(spec, id)), |template| template.owner_id).await
}

/// The leaf-first ancestry of a parent the caller names: 404 unless it
/// exists and the caller may read it.
pub(crate) async fn parent_chain(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    subject: &Subject,
    parent_id: Uuid,
) -> ApiResult<Vec<entity::Model>> {
    let parent = authorized(db, spec, subject, "read", parent_id).await.map_err(|err| {
        if let ApiError::NotFound(_) = err { ApiError::not_found(&format!("parent {}", spec.name)) } else { err }
    })?;
    readable_ancestry(db, spec, subject, parent).await
}

/// `template` (already checked) and its ancestors, leaf first, once the
/// caller may read every one of them now: a reader whose access to an
/// ancestor was revoked (or denied) no longer reads its values through a
/// child it hung below it (403).
pub(crate) async fn readable_ancestry(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    template: entity::Model,
) -> ApiResult<Vec<entity::Model>> {
    let chain = chain::ancestry(db, spec, template).await?;
    let ancestors: Vec<(Uuid, Option<Uuid>)> = chain[1..].iter().map(|t| (t.id, t.owner_id)).collect();
    match access::first_refused(db, spec, subject, "read", &ancestors).await? {
        None => Ok(chain),
        Some(refused) => Err(ApiError::Forbidden(format!(
            "this {name} starts from {name} {refused}, which you may not read",
            name = spec.name
        ))),
    }
}

/// A new `T` from template `id`: its resolved params deep-merged with
/// `overrides`, then the create path of `T`.
pub(crate) async fn clone_template<T: Templated>(
    store: Store<'_>,
    principal: &Principal,
    id: Uuid,
    overrides: Value,
) -> ApiResult<T::Model> {
    let Value::Object(mut overrides) = overrides else {
        return Err(ApiError::field("<body>", FieldErrorCode::WrongType, "the body must be a JSON object"));
    };
    let subject = principal.subject();
    let template = authorized(store.db, T::TEMPLATES, &subject, "read", id).await?;
    let mut values = chain::resolve(&readable_ancestry(store.db, T::TEMPLATES, &subject, template).await?);
    let owner = overrides.remove("owner_id");
    json_patch::merge(&mut values, &Value::Object(overrides));
    if let (Some(owner), Value::Object(values)) = (owner, &mut values) {
        values.insert("owner_id".to_owned(), owner);
    }
    let bytes = serde_json::to_vec(&values).map_err(|_| ApiError::Internal)?;
    let input: T::Create = parse_json(BodySpec::of(T::SPEC), BodyShape::Create, &bytes)?;
    create_row::<T>(store, principal, input, Some(id)).await
}
