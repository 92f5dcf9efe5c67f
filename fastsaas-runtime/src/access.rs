//! Not a public API (hidden; the benchmarks read query plans through it).
//!
//! Access control applied to requests: the ACL entries that could apply are
//! read from the database, [`fastsaas_core::acl::decide`] decides, and
//! lists are filtered in SQL by the same rules, so pages and totals count
//! only what the caller may see.

use fastsaas_core::acl::{ANY_ACTION, AclEntry, Caller, Decision, Effect, Request, decide};
use fastsaas_core::{ApiError, ApiResult, ResourceSpec};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::identity::entities::acl_entry;
use crate::identity::{Principal, internal};

/// The table of ACL entries.
const ACL_TABLE: &str = "fastsaas_acl_entries";

/// The stored name of an effect.
pub(crate) fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// A stored entry as the rules see it.
pub(crate) fn entry_of(row: acl_entry::Model) -> AclEntry {
    AclEntry {
        id: row.id,
        principal_id: row.principal_id,
        object: row.object_id,
        action: row.action,
        effect: if row.effect == "allow" { Effect::Allow } else { Effect::Deny },
    }
}

/// The entries of `spec`'s type that name one of `caller`'s ids, on one of
/// `objects` or type-wide.
async fn entries_for(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    objects: &[Uuid],
) -> ApiResult<Vec<AclEntry>> {
    let mut on_object = Condition::any().add(acl_entry::Column::ObjectId.is_null());
    if !objects.is_empty() {
        on_object = on_object.add(acl_entry::Column::ObjectId.is_in(objects.iter().copied()));
    }
    let rows = acl_entry::Entity::find()
        .filter(acl_entry::Column::ResourceType.eq(spec.name))
        .filter(acl_entry::Column::PrincipalId.is_in(caller.principal_ids()))
        .filter(on_object)
        .all(db)
        .await
        .map_err(internal)?;
    Ok(rows.into_iter().map(entry_of).collect())
}

/// The first of `objects` (id and owner) that `caller` may not do `action`
/// on, if any: one query for the entries of all of them.
pub(crate) async fn first_refused(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    action: &str,
    objects: &[(Uuid, Option<Uuid>)],
) -> ApiResult<Option<Uuid>> {
    if caller.holds_any(spec.acl_allow_always) {
        return Ok(None);
    }
    let ids: Vec<Uuid> = objects.iter().map(|(id, _)| *id).collect();
    let entries = entries_for(db, spec, caller, &ids).await?;
    Ok(objects.iter().find_map(|&object| {
        let request = Request {
            action,
            object: Some(object),
            acl_admins: spec.acl_admins,
            acl_allow_always: spec.acl_allow_always,
        };
        (!decide(caller, &request, &entries).allowed).then_some(object.0)
    }))
}

/// Decides whether `caller` may do `action` on `object` (id and owner) of
/// `spec`'s type, or on the type itself when `object` is `None`.
pub(crate) async fn decision(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    action: &str,
    object: Option<(Uuid, Option<Uuid>)>,
) -> ApiResult<Decision> {
    Ok(Decider::load(db, spec, caller, object).await?.decide(action))
}

/// The decisions of one caller on one object (or the type), over the
/// entries read once: a refusal can then tell 403 from 404 with no second
/// query.
struct Decider<'a> {
    spec: &'a ResourceSpec,
    caller: &'a Caller,
    object: Option<(Uuid, Option<Uuid>)>,
    entries: Vec<AclEntry>,
}

impl<'a> Decider<'a> {
    async fn load(
        db: &impl ConnectionTrait,
        spec: &'a ResourceSpec,
        caller: &'a Caller,
        object: Option<(Uuid, Option<Uuid>)>,
    ) -> ApiResult<Decider<'a>> {
        // Only a role in `acl_allow_always` decides before the entries.
        let entries = if caller.holds_any(spec.acl_allow_always) {
            Vec::new()
        } else {
            let objects: Vec<Uuid> = object.map(|(id, _)| id).into_iter().collect();
            entries_for(db, spec, caller, &objects).await?
        };
        Ok(Decider { spec, caller, object, entries })
    }

    fn decide(&self, action: &str) -> Decision {
        let spec = self.spec;
        let request = Request {
            action,
            object: self.object,
            acl_admins: spec.acl_admins,
            acl_allow_always: spec.acl_allow_always,
        };
        decide(self.caller, &request, &self.entries)
    }
}

/// The owner of object `id` that `principal` creates, once the rules let
/// it: the owner asked for, or by default whom the principal acts for
/// (itself, or an agent's owner). Ownership is never chosen freely: the
/// owner is that default or an organization the caller administers,
/// whatever the entries say, unless the caller holds a role in
/// `acl_allow_always`. Then `create` is decided as an action on the new
/// object, so an agent creates only where an entry lets it.
pub(crate) async fn authorize_create(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    principal: &Principal,
    id: Uuid,
    requested: Option<Uuid>,
) -> ApiResult<Uuid> {
    let caller = principal.caller();
    let owner = requested.unwrap_or_else(|| principal.acts_for());
    let may_own =
        owner == principal.acts_for() || caller.admin_of.contains(&owner) || caller.holds_any(spec.acl_allow_always);
    if !may_own {
        return Err(ApiError::Forbidden(format!(
            "a new {} belongs to you or to an organization you administer, not to {owner}",
            spec.name
        )));
    }
    if decision(db, spec, &caller, "create", Some((id, Some(owner)))).await?.allowed {
        Ok(owner)
    } else {
        Err(ApiError::Forbidden(format!("you may not create a {} owned by {owner}", spec.name)))
    }
}

/// Lets the request on an existing object go on, or answers 404 to a caller
/// who may not even read it (its existence is not revealed) and 403 to one
/// who may read it but not do `action`. The entries are read once: the
/// read check of a refusal decides on the same ones.
pub(crate) async fn authorize(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    action: &str,
    id: Uuid,
    owner: Option<Uuid>,
) -> ApiResult<()> {
    let decider = Decider::load(db, spec, caller, Some((id, owner))).await?;
    if decider.decide(action).allowed {
        return Ok(());
    }
    if action != "read" && decider.decide("read").allowed {
        return Err(ApiError::Forbidden(format!("you may not {action} this {}", spec.name)));
    }
    Err(ApiError::not_found(spec.name))
}

/// Lets a request on the type as a whole (a custom endpoint without an
/// `{id}`) go on, or answers 403.
pub(crate) async fn authorize_type_wide(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    action: &str,
) -> ApiResult<()> {
    if decision(db, spec, caller, action, None).await?.allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("`{action}` on {} needs a type-wide permission", spec.name)))
    }
}

/// The SQL condition on `spec`'s table selecting the rows `caller` may do
/// `action` on: the same rules as [`decide`], row by row. `None` means every
/// row (a role in `acl_allow_always`).
///
/// The granting part is an `id IN (...)` over the rows the caller owns or
/// whose organization it belongs to (the `owner_id` index) and the objects
/// its allow entries name (the entries' index), so its cost follows what the
/// caller may see, not the size of the table. Only a type-wide allow (or an
/// `acl_admins` role) grants every row; that is checked first, in one query.
pub async fn permitted_rows(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    caller: &Caller,
    action: &str,
) -> ApiResult<Option<Condition>> {
    if caller.holds_any(spec.acl_allow_always) {
        return Ok(None);
    }
    let entries = |effect: Effect| {
        Query::select()
            .from(ACL_TABLE)
            .and_where(Expr::col((ACL_TABLE, "resource_type")).eq(spec.name))
            .and_where(Expr::col((ACL_TABLE, "effect")).eq(effect_name(effect)))
            .and_where(Expr::col((ACL_TABLE, "principal_id")).is_in(caller.principal_ids()))
            .and_where(Expr::col((ACL_TABLE, "action")).is_in([action, ANY_ACTION]))
            .to_owned()
    };
    let denied = Expr::exists(
        entries(Effect::Deny)
            .expr(Expr::val(1))
            .cond_where(
                Condition::any()
                    .add(Expr::col((ACL_TABLE, "object_id")).is_null())
                    .add(Expr::col((ACL_TABLE, "object_id")).equals((spec.table, "id"))),
            )
            .to_owned(),
    );
    let permitted = Condition::all().add(denied.not());
    let type_wide_allow = acl_entry::Entity::find()
        .filter(acl_entry::Column::ResourceType.eq(spec.name))
        .filter(acl_entry::Column::Effect.eq(effect_name(Effect::Allow)))
        .filter(acl_entry::Column::PrincipalId.is_in(caller.principal_ids()))
        .filter(acl_entry::Column::Action.is_in([action, ANY_ACTION]))
        .filter(acl_entry::Column::ObjectId.is_null())
        .one(db)
        .await
        .map_err(internal)?;
    if type_wide_allow.is_some() || caller.holds_any(spec.acl_admins) {
        return Ok(Some(permitted));
    }
    let mut owners = vec![caller.id];
    owners.extend(&caller.admin_of);
    if action == "read" {
        owners.extend(&caller.member_of);
    }
    let allowed = entries(Effect::Allow)
        .column((ACL_TABLE, "object_id"))
        .and_where(Expr::col((ACL_TABLE, "object_id")).is_not_null())
        .to_owned();
    // Both terms are indexable (`owner_id`, and the primary key fed by the
    // entries' index), so the planner can look rows up by either instead of
    // scanning, and still walk `created_at` when the caller may read most rows.
    let id = Expr::col((spec.table, "id"));
    let allowed_ids = match db.get_database_backend() {
        // PostgreSQL plans `id IN (subquery)` inside an OR as a hashed filter
        // over a full scan; `id = ANY(ARRAY(subquery))` is an index condition
        // it can combine with the `owner_id` one (a BitmapOr).
        DbBackend::Postgres => {
            Expr::cust_with_exprs("$1 = ANY(ARRAY $2)", [id, Expr::SubQuery(None, Box::new(allowed.into()))])
        }
        _ => id.in_subquery(allowed),
    };
    let granted = Condition::any().add(Expr::col((spec.table, "owner_id")).is_in(owners)).add(allowed_ids);
    Ok(Some(permitted.add(granted)))
}
