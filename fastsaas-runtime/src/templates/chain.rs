//! Parent chains: loading them, bounding them, refusing cycles, and
//! resolving their params (RFC 7386 JSON merge, root first).

use std::collections::HashSet;

use fastsaas_core::{ApiError, ApiResult, ResourceSpec};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::{self, Column, Entity};
use crate::error::internal;

/// The longest chain of templates, root to leaf.
pub const MAX_DEPTH: usize = 32;

/// The select of template `id` of `spec`'s type.
pub(super) fn by_id(spec: &ResourceSpec, id: Uuid) -> Select<Entity> {
    Entity::find_by_id(id).filter(Column::ResourceType.eq(spec.name))
}

/// The template `id` of `spec`'s type, or 404.
pub(super) async fn find(db: &impl ConnectionTrait, spec: &ResourceSpec, id: Uuid) -> ApiResult<entity::Model> {
    by_id(spec, id).one(db).await.map_err(internal)?.ok_or_else(|| ApiError::not_found(spec.name))
}

/// `template` and its ancestors, leaf first.
pub(super) async fn ancestry(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    template: entity::Model,
) -> ApiResult<Vec<entity::Model>> {
    let mut chain = vec![template];
    while let Some(parent_id) = chain.last().and_then(|last| last.parent_id) {
        // Writes keep chains short and acyclic; this guards reads against a
        // table edited by hand.
        if chain.len() >= MAX_DEPTH || chain.iter().any(|seen| seen.id == parent_id) {
            tracing::error!(template = %chain[0].id, "a template chain is cyclic or too deep");
            return Err(too_deep(spec));
        }
        chain.push(find(db, spec, parent_id).await?);
    }
    Ok(chain)
}

/// The params of a chain (leaf first) deep-merged root first: objects merge
/// key by key, anything else is replaced, `null` removes a key.
pub(super) fn resolve(chain: &[entity::Model]) -> Value {
    let mut resolved = Value::Object(Map::new());
    for template in chain.iter().rev() {
        json_patch::merge(&mut resolved, &template.params);
    }
    resolved
}

/// Checks that `template` (`None` for a new one) may hang under `parent`
/// (leaf-first ancestry of the new parent): no cycle (409), and the deepest
/// chain through it stays within [`MAX_DEPTH`] (409).
pub(super) async fn check_parent(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    template: Option<Uuid>,
    parent: &[entity::Model],
) -> ApiResult<()> {
    if let Some(id) = template
        && parent.iter().any(|ancestor| ancestor.id == id)
    {
        return Err(ApiError::Conflict(format!("this parent would make the {} its own ancestor", spec.name)));
    }
    let below = match template {
        Some(id) => height_below(db, spec, id).await?,
        None => 0,
    };
    if parent.len() + 1 + below > MAX_DEPTH {
        return Err(too_deep(spec));
    }
    Ok(())
}

/// How many generations of children hang below `id`.
async fn height_below(db: &impl ConnectionTrait, spec: &ResourceSpec, id: Uuid) -> ApiResult<usize> {
    let mut generation = vec![id];
    let mut seen: HashSet<Uuid> = HashSet::from([id]);
    let mut height = 0;
    loop {
        let children: Vec<Uuid> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::ResourceType.eq(spec.name))
            .filter(Column::ParentId.is_in(generation))
            .into_tuple()
            .all(db)
            .await
            .map_err(internal)?;
        let children: Vec<Uuid> = children.into_iter().filter(|child| seen.insert(*child)).collect();
        if children.is_empty() || height > MAX_DEPTH {
            return Ok(height);
        }
        height += 1;
        generation = children;
    }
}

/// Whether any template hangs under `id`.
pub(super) async fn has_children(db: &impl ConnectionTrait, spec: &ResourceSpec, id: Uuid) -> ApiResult<bool> {
    let child = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ResourceType.eq(spec.name))
        .filter(Column::ParentId.eq(id))
        .into_tuple::<Uuid>()
        .one(db)
        .await
        .map_err(internal)?;
    Ok(child.is_some())
}

fn too_deep(spec: &ResourceSpec) -> ApiError {
    ApiError::Conflict(format!("a chain of {} may hold at most {MAX_DEPTH} templates", spec.name))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn template(params: Value) -> entity::Model {
        let now = Utc::now();
        entity::Model {
            id: Uuid::new_v4(),
            resource_type: "ItemTemplate".into(),
            name: "t".into(),
            parent_id: None,
            params,
            owner_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_child_wins_objects_merge_arrays_are_replaced_and_null_removes() {
        let root = template(json!({"name": "base", "config": {"a": 1, "b": {"x": 1}, "list": [1, 2]}, "tag": "t"}));
        let child = template(json!({"config": {"b": {"y": 2}, "list": [3]}, "tag": null}));
        let leaf = template(json!({"config": {"a": 9}}));
        assert_eq!(
            resolve(&[leaf, child, root]),
            json!({"name": "base", "config": {"a": 9, "b": {"x": 1, "y": 2}, "list": [3]}})
        );
    }

    #[test]
    fn an_object_replacing_a_scalar_loses_its_nulls() {
        let root = template(json!({"config": 5}));
        let child = template(json!({"config": {"a": null, "b": 1}}));
        assert_eq!(resolve(&[child, root]), json!({"config": {"b": 1}}));
    }
}
