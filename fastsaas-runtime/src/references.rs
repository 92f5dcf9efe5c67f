//! References between resources (`#[crud(references = Parent)]`): which
//! types refer to which (checked at start-up, tables created parents
//! first), the check that a caller may point at a target, and the errors
//! of a reference that names nothing or a target that others still need.

use fastsaas_core::{ApiError, ApiResult, FieldSpec, OnDelete, ResourceSpec};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseTransaction, DbErr, ModelTrait, SqlErr, Value};
use uuid::Uuid;

use crate::access::{self, Subject};
use crate::db::references::{constraint_name, references};
use crate::error::db_error;
use crate::notify::Notifier;
use crate::notify::changes::{Change, Told, owners_who_read};
use crate::resource::{Resource, joined_rows};

/// The order to create `specs`' tables in, parents before the types that
/// refer to them (a type may refer to itself); an error naming the field
/// when a target is not served or references go round in a cycle.
pub(crate) fn creation_order(specs: &[&'static ResourceSpec]) -> Result<Vec<usize>, String> {
    for spec in specs {
        for (field, reference) in references(spec) {
            let target = (reference.target)();
            if !specs.iter().any(|served| std::ptr::eq(*served, target)) {
                return Err(format!(
                    "`{}.{}` references `{}`, which the app does not serve: register it with App::resource",
                    spec.name, field.name, target.name
                ));
            }
        }
    }
    let parents = |spec: &ResourceSpec| -> Vec<usize> {
        references(spec)
            .filter_map(|(_, reference)| specs.iter().position(|served| std::ptr::eq(*served, (reference.target)())))
            .filter(|parent| !std::ptr::eq(specs[*parent], spec))
            .collect()
    };
    let mut order = Vec::with_capacity(specs.len());
    let mut placed = vec![false; specs.len()];
    while order.len() < specs.len() {
        let ready = (0..specs.len()).find(|index| !placed[*index] && parents(specs[*index]).iter().all(|p| placed[*p]));
        let Some(next) = ready else {
            let waiting: Vec<&str> = (0..specs.len()).filter(|i| !placed[*i]).map(|i| specs[i].name).collect();
            return Err(format!(
                "the references of {} go round in a cycle: one of them must be an id without `references`",
                waiting.join(", ")
            ));
        };
        placed[next] = true;
        order.push(next);
    }
    Ok(order)
}

/// The types whose references name `parent`, with the field and what
/// deleting a parent does to them.
pub(crate) fn children_of<'s>(
    specs: &'s [&'static ResourceSpec],
    parent: &'static ResourceSpec,
) -> impl Iterator<Item = (&'static ResourceSpec, &'static FieldSpec, OnDelete)> + 's {
    specs.iter().flat_map(move |child| {
        references(child)
            .filter(move |(_, reference)| std::ptr::eq((reference.target)(), parent))
            .map(move |(field, reference)| (*child, field, reference.on_delete))
    })
}

/// The `#[crud(cache)]` types whose rows deleting objects of `parent`
/// deletes (`cascade`, and theirs in turn) or changes (`set_null`).
pub(crate) fn cached_dependents(specs: &[&'static ResourceSpec], parent: &'static ResourceSpec) -> Vec<&'static str> {
    dependents(specs, parent).into_iter().filter(|spec| spec.cache_ttl_secs.is_some()).map(|spec| spec.name).collect()
}

/// Whether deleting objects of `parent` deletes (`cascade`, and theirs in
/// turn) or changes (`set_null`) objects of a `#[crud(notify)]` type.
pub(crate) fn notifies_dependents(specs: &[&'static ResourceSpec], parent: &'static ResourceSpec) -> bool {
    dependents(specs, parent).iter().any(|spec| spec.notify)
}

/// The types whose rows deleting objects of `parent` deletes or changes.
fn dependents(specs: &[&'static ResourceSpec], parent: &'static ResourceSpec) -> Vec<&'static ResourceSpec> {
    let mut reached: Vec<&'static ResourceSpec> = Vec::new();
    let mut deleted = vec![parent];
    while let Some(next) = deleted.pop() {
        for (child, _, on_delete) in children_of(specs, next) {
            if on_delete == OnDelete::Restrict || reached.iter().any(|seen| std::ptr::eq(*seen, child)) {
                continue;
            }
            reached.push(child);
            if on_delete == OnDelete::Cascade {
                deleted.push(child);
            }
        }
    }
    reached
}

/// Before objects `ids` of `parent` are deleted in `tx`: tells the owners
/// of the `#[crud(notify)]` objects the deletion will delete (`cascade`,
/// `Type.deleted`) or change (`set_null`, `Type.updated`) that `actor` did
/// it, as if each were deleted or changed on its own.
pub(crate) async fn tell_dependents(
    tx: &DatabaseTransaction,
    (notifier, specs): (&Notifier, &[&'static ResourceSpec]),
    (parent, ids): (&'static ResourceSpec, Vec<Uuid>),
    actor: Uuid,
) -> ApiResult<Told> {
    let mut told = Told::default();
    let mut seen: Vec<(&'static str, Uuid)> = Vec::new();
    let mut pending = vec![(parent, ids)];
    while let Some((spec, ids)) = pending.pop() {
        for (child, field, on_delete) in children_of(specs, spec) {
            let cascade = on_delete == OnDelete::Cascade;
            if ids.is_empty() || on_delete == OnDelete::Restrict || (!cascade && !child.notify) {
                continue;
            }
            let table = Alias::new(child.table);
            let select = Query::select()
                .columns([(table.clone(), Alias::new("id")), (table.clone(), Alias::new("owner_id"))])
                .from(table.clone())
                .and_where(Expr::col((table, Alias::new(field.name))).is_in(ids.iter().copied()))
                .to_owned();
            let rows = tx.query_all(&select).await.map_err(|err| db_error(child, err))?;
            let mut deleted = Vec::new();
            for row in rows {
                let id: Uuid = row.try_get("", "id").map_err(|err| db_error(child, err))?;
                let owner: Option<Uuid> = row.try_get("", "owner_id").map_err(|err| db_error(child, err))?;
                if seen.contains(&(child.name, id)) {
                    continue;
                }
                seen.push((child.name, id));
                if child.notify {
                    let change = if cascade { Change::Deleted } else { Change::Updated };
                    let readers = owners_who_read(tx, child, (id, owner)).await?;
                    let written = notifier.write_change(tx, readers, child.name, (change, id), actor).await;
                    told = told.and(written.map_err(|err| db_error(child, err))?);
                }
                deleted.push(id);
            }
            if cascade {
                pending.push((child, deleted));
            }
        }
    }
    Ok(told)
}

/// Before everything `owner` owns is deleted in `tx` (a user or an
/// organization deleted): [`tell_dependents`] of each of its objects.
pub(crate) async fn tell_owned_dependents(
    tx: &DatabaseTransaction,
    (notifier, specs): (&Notifier, &[&'static ResourceSpec]),
    owner: Uuid,
    actor: Uuid,
) -> ApiResult<Told> {
    let mut told = Told::default();
    for spec in specs.iter().copied().filter(|spec| notifies_dependents(specs, spec)) {
        let table = Alias::new(spec.table);
        let owned = Query::select()
            .column((table.clone(), Alias::new("id")))
            .from(table.clone())
            .and_where(Expr::col((table, Alias::new("owner_id"))).eq(owner))
            .to_owned();
        let rows = tx.query_all(&owned).await.map_err(|err| db_error(spec, err))?;
        let ids = rows.iter().map(|row| row.try_get("", "id")).collect::<Result<Vec<Uuid>, _>>();
        let ids = ids.map_err(|err| db_error(spec, err))?;
        told = told.and(tell_dependents(tx, (notifier, specs), (spec, ids), actor).await?);
    }
    Ok(told)
}

/// Checks every reference `row` (a new or changed `T`) sets: the caller
/// must be allowed the reference's action on its target (404 naming the
/// field when they may not read it, 403 when they may read, not act).
pub(crate) async fn check_set<T: Resource>(
    db: &impl ConnectionTrait,
    subject: &Subject,
    row: &T::ActiveModel,
) -> ApiResult<()> {
    check_changed::<T>(db, subject, row, None).await
}

/// [`check_set`], skipping the references that `row` sets to the value
/// they have in `before` (the row as it was): pointing on at a target that
/// has since been hidden from the caller is no new pointing.
pub(crate) async fn check_changed<T: Resource>(
    db: &impl ConnectionTrait,
    subject: &Subject,
    row: &T::ActiveModel,
    before: Option<&T::Model>,
) -> ApiResult<()> {
    for (field, reference) in references(T::SPEC) {
        let Ok(column) = field.name.parse::<T::Column>() else { continue };
        let ActiveValue::Set(Value::Uuid(Some(id))) = row.get(column) else { continue };
        if before.is_some_and(|before| before.get(column) == Value::Uuid(Some(id))) {
            continue;
        }
        let target = (reference.target)();
        may_point_at(db, target, subject, (reference.action, id)).await.map_err(|err| match err {
            ApiError::NotFound(_) => not_found(target, field),
            ApiError::Forbidden(_) => ApiError::Forbidden(format!(
                "`{}` may name a {} only where you may `{}` it",
                field.name, target.name, reference.action
            )),
            other => other,
        })?;
    }
    Ok(())
}

/// `Ok` when `subject` may read object `id` of `target`, else its 404.
pub(crate) async fn readable(
    db: &impl ConnectionTrait,
    target: &'static ResourceSpec,
    subject: &Subject,
    id: Uuid,
) -> ApiResult<()> {
    may_point_at(db, target, subject, ("read", id)).await
}

/// `Ok` when `subject` may do `action` on object `id` of `target`.
async fn may_point_at(
    db: &impl ConnectionTrait,
    target: &'static ResourceSpec,
    subject: &Subject,
    (action, id): (&str, Uuid),
) -> ApiResult<()> {
    let table = Alias::new(target.table);
    let select = Query::select()
        .column((table.clone(), Alias::new("owner_id")))
        .from(table.clone())
        .and_where(Expr::col((table, Alias::new("id"))).eq(id))
        .to_owned();
    let (row, entries) = joined_rows(db, target, subject, select).await?;
    let owner: Option<Uuid> = row.try_get("", "owner_id").map_err(|err| db_error(target, err))?;
    access::authorize_joined(target, subject, action, (id, owner), entries)
}

/// The 404 of a reference that names no object the caller may see: the
/// same whether the object exists or not.
fn not_found(target: &ResourceSpec, field: &FieldSpec) -> ApiError {
    ApiError::NotFound(format!("{} named by `{}`", target.name, field.name))
}

/// The database's message when `err` is a foreign key's refusal. SQLite
/// reports an `ON DELETE RESTRICT` as a constraint of a trigger (its
/// extended code 1811), not as a foreign key's (787), so its message
/// tells.
fn foreign_key_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(message)) => Some(message),
        _ => {
            let message = err.to_string();
            message.contains("FOREIGN KEY constraint failed").then_some(message)
        }
    }
}

/// The error of a write of `spec`'s row that the database refused for a
/// reference naming no row (its target deleted since it was checked);
/// `None` for any other error.
pub(crate) fn dangling(spec: &ResourceSpec, err: &DbErr) -> Option<ApiError> {
    let message = foreign_key_violation(err)?;
    let mut fields = references(spec);
    // PostgreSQL names the key; SQLite does not, so a type with one
    // reference is the only one it can name.
    let named = message
        .split('"')
        .find_map(|part| references(spec).find(|(field, _)| constraint_name(spec.table, field.name) == part));
    let only = match (fields.next(), fields.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    };
    Some(match named.or(only) {
        Some((field, reference)) => not_found((reference.target)(), field),
        None => ApiError::NotFound(format!("object a reference of this {} names", spec.name)),
    })
}

/// The 409 of a deletion of object `id` of `parent` that objects of other
/// types still refer to (`on_delete = restrict`), naming them; `None` when
/// the error is not that.
pub(crate) async fn still_referred_to(
    db: &impl ConnectionTrait,
    specs: &[&'static ResourceSpec],
    (parent, id): (&'static ResourceSpec, Uuid),
    err: &DbErr,
) -> Option<ApiError> {
    foreign_key_violation(err)?;
    let mut referring = Vec::new();
    for (child, field, _) in children_of(specs, parent).filter(|(_, _, on_delete)| *on_delete == OnDelete::Restrict) {
        let exists = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(child.table))
            .and_where(Expr::col(Alias::new(field.name)).eq(id))
            .limit(1)
            .to_owned();
        let found = db.query_one(&exists).await;
        if matches!(found, Ok(Some(_))) {
            referring.push(format!("{} (by `{}`)", child.name, field.name));
        }
    }
    let whom = if referring.is_empty() { "other objects".to_owned() } else { referring.join(", ") };
    Some(ApiError::Conflict(format!("this {} is still referred to by {whom}: delete or move them first", parent.name)))
}

/// The 409 of a deletion of many objects (a clear, or an owner's deletion
/// with everything it owned) that objects elsewhere still refer to;
/// `None` when the error is not that.
pub(crate) fn refused_in_bulk(what: &str, err: &DbErr) -> Option<ApiError> {
    foreign_key_violation(err).map(|_| {
        ApiError::Conflict(format!(
            "{what} objects that others still refer to (references with `on_delete = restrict`): delete or move those first"
        ))
    })
}

#[cfg(test)]
mod tests {
    use fastsaas_core::{FieldKind, Reference};

    use super::*;

    static PROJECT: ResourceSpec = ResourceSpec::new("Project", "/projects", "projects");
    static ENV_FIELDS: [FieldSpec; 1] = [FieldSpec::new("project_id", FieldKind::Uuid).with_reference(Reference {
        target: || &PROJECT,
        action: "read",
        on_delete: OnDelete::Cascade,
        expand: false,
    })];
    static ENVIRONMENT: ResourceSpec =
        ResourceSpec::new("Environment", "/environments", "environments").with_fields(&ENV_FIELDS);
    static NODE_FIELDS: [FieldSpec; 1] = [FieldSpec::new("parent_id", FieldKind::Uuid).with_reference(Reference {
        target: || &NODE,
        action: "read",
        on_delete: OnDelete::Cascade,
        expand: false,
    })];
    static NODE: ResourceSpec = ResourceSpec::new("Node", "/nodes", "nodes").with_fields(&NODE_FIELDS);
    static A_FIELDS: [FieldSpec; 1] = [FieldSpec::new("b_id", FieldKind::Uuid).with_reference(Reference {
        target: || &B,
        action: "read",
        on_delete: OnDelete::Restrict,
        expand: false,
    })];
    static A: ResourceSpec = ResourceSpec::new("A", "/a", "a").with_fields(&A_FIELDS);
    static B_FIELDS: [FieldSpec; 1] = [FieldSpec::new("a_id", FieldKind::Uuid).with_reference(Reference {
        target: || &A,
        action: "read",
        on_delete: OnDelete::Restrict,
        expand: false,
    })];
    static B: ResourceSpec = ResourceSpec::new("B", "/b", "b").with_fields(&B_FIELDS);

    #[test]
    fn parents_come_first_and_a_type_may_refer_to_itself() {
        assert_eq!(creation_order(&[&ENVIRONMENT, &NODE, &PROJECT]), Ok(vec![1, 2, 0]));
        let children: Vec<&str> = children_of(&[&ENVIRONMENT, &PROJECT], &PROJECT).map(|(c, _, _)| c.name).collect();
        assert_eq!(children, ["Environment"]);
    }

    #[test]
    fn a_target_not_served_or_a_cycle_is_refused() {
        let missing = creation_order(&[&ENVIRONMENT]).unwrap_err();
        assert!(missing.contains("`Environment.project_id` references `Project`"), "{missing}");
        let cycle = creation_order(&[&A, &B]).unwrap_err();
        assert!(cycle.contains("A, B go round in a cycle"), "{cycle}");
    }
}
