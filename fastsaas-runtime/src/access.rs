//! Access control applied to requests: the ACL entries that could apply are
//! read from the database, [`fastsaas_core::acl::decide`] decides, and
//! lists are filtered in SQL by the same rules, so pages and totals count
//! only what the caller may see.

use fastsaas_core::acl::{self, ANY_ACTION, AclEntry, Decision, Effect, Request, decide};
use fastsaas_core::resource::TEMPLATES_TABLE;
use fastsaas_core::{ApiError, ApiResult, ResourceSpec};
use std::sync::Arc;

use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::db::counts::Tally;
use crate::db::statement::statement;
use crate::error::internal;
use crate::identity::entities::acl_entry;
use crate::query::Readable;

/// The table of ACL entries.
const ACL_TABLE: &str = "fastsaas_acl_entries";

/// The stored name of an effect.
pub(crate) fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// The effect of a stored name; anything but `allow` is the safer `deny`.
pub(crate) fn effect_of(stored: &str) -> Effect {
    if stored == "allow" { Effect::Allow } else { Effect::Deny }
}

/// A stored entry as the rules see it.
pub(crate) fn entry_of(row: acl_entry::Model) -> AclEntry {
    AclEntry {
        id: row.id,
        principal_id: row.principal_id,
        object: row.object_id,
        action: row.action,
        effect: effect_of(&row.effect),
    }
}

/// The type-wide entries (of every type) that name one of a caller's ids,
/// read together with the caller, so that creates, lists and collection
/// endpoints need no query of their own for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TypeWideEntries(Vec<(String, AclEntry)>);

impl TypeWideEntries {
    /// Adds an entry of the type named `resource_type`.
    pub(crate) fn push(&mut self, resource_type: String, entry: AclEntry) {
        self.0.push((resource_type, entry));
    }

    fn of<'a>(&'a self, spec: &'a ResourceSpec) -> impl Iterator<Item = &'a AclEntry> + 'a {
        self.0.iter().filter(|(name, _)| name == spec.name).map(|(_, entry)| entry)
    }
}

/// Whom a decision is about: the principal as the rules see it, and its
/// type-wide entries when they were read with it.
#[derive(Clone, Debug)]
pub(crate) struct Subject {
    /// The principal.
    pub(crate) caller: acl::Principal,
    type_wide: Option<Arc<TypeWideEntries>>,
}

impl Subject {
    /// A subject whose entries are read when a decision needs them.
    pub(crate) fn of(caller: acl::Principal) -> Subject {
        Subject { caller, type_wide: None }
    }

    /// A subject whose type-wide entries are already known.
    pub(crate) fn with_type_wide(caller: acl::Principal, type_wide: Arc<TypeWideEntries>) -> Subject {
        Subject { caller, type_wide: Some(type_wide) }
    }

    pub(crate) fn holds_any(&self, roles: &[&str]) -> bool {
        self.caller.holds_any(roles)
    }

    /// Whether its type-wide entries were read with it.
    pub(crate) fn knows_type_wide(&self) -> bool {
        self.type_wide.is_some()
    }
}

/// The entries of `spec`'s type that name one of the subject's ids, on one
/// of `objects` or type-wide: only those on the objects are read when the
/// type-wide ones are known.
async fn entries_for(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    objects: &[Uuid],
) -> ApiResult<Vec<AclEntry>> {
    let mut entries: Vec<AclEntry> = match &subject.type_wide {
        Some(known) => known.of(spec).cloned().collect(),
        None => Vec::new(),
    };
    let mut on_object = Condition::any();
    if subject.type_wide.is_none() {
        on_object = on_object.add(acl_entry::Column::ObjectId.is_null());
    }
    if !objects.is_empty() {
        on_object = on_object.add(acl_entry::Column::ObjectId.is_in(objects.iter().copied()));
    }
    if on_object.is_empty() {
        return Ok(entries);
    }
    let rows = acl_entry::Entity::find()
        .filter(acl_entry::Column::ResourceType.eq(spec.name))
        .filter(acl_entry::Column::PrincipalId.is_in(subject.caller.principal_ids()))
        .filter(on_object)
        .all(db)
        .await
        .map_err(internal)?;
    entries.extend(rows.into_iter().map(entry_of));
    Ok(entries)
}

/// The alias of the entries joined to an object's row.
const JOINED: &str = "fastsaas_joined_acl";

/// Joins to `select` (the row of one object of `spec`'s type) the entries
/// that could decide on it for `subject`, one result row per entry (a row
/// with nulls when there is none), so that the object and what decides
/// access come in one round trip. Read them back with [`joined_entry`].
pub(crate) fn join_entries(select: &mut SelectStatement, spec: &ResourceSpec, subject: &Subject) {
    let mut on_object = Condition::any().add(Expr::col((JOINED, "object_id")).equals((spec.table, "id")));
    if subject.type_wide.is_none() {
        on_object = on_object.add(Expr::col((JOINED, "object_id")).is_null());
    }
    let on = Condition::all()
        .add(Expr::col((JOINED, "resource_type")).eq(spec.name))
        .add(Expr::col((JOINED, "principal_id")).is_in(subject.caller.principal_ids()))
        .add(on_object);
    select.join_as(JoinType::LeftJoin, ACL_TABLE, JOINED, on);
    for column in JOINED_COLUMNS {
        select.expr_as(Expr::col((JOINED, column)), format!("{JOINED}_{column}"));
    }
}

const JOINED_COLUMNS: [&str; 5] = ["id", "principal_id", "object_id", "action", "effect"];

/// The entry joined by [`join_entries`] to one result row, if there is one.
pub(crate) fn joined_entry(row: &QueryResult) -> ApiResult<Option<AclEntry>> {
    let column = |name: &str| format!("{JOINED}_{name}");
    let Some(id) = row.try_get::<Option<Uuid>>("", &column("id")).map_err(internal)? else {
        return Ok(None);
    };
    let effect: String = row.try_get("", &column("effect")).map_err(internal)?;
    Ok(Some(AclEntry {
        id,
        principal_id: row.try_get("", &column("principal_id")).map_err(internal)?,
        object: row.try_get("", &column("object_id")).map_err(internal)?,
        action: row.try_get("", &column("action")).map_err(internal)?,
        effect: effect_of(&effect),
    }))
}

/// Decides `action` on a loaded object (id and owner) of `spec`'s type over
/// the entries joined to its row: 404 for a subject that may not even read
/// it, 403 for one that may read it but not act.
pub(crate) fn authorize_joined(
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
    object: (Uuid, Option<Uuid>),
    joined: Vec<AclEntry>,
) -> ApiResult<()> {
    Decider::joined(spec, subject, object, joined).verdict(action)
}

/// The decision on `action` on a loaded object over the entries joined to
/// its row (an explanation, where [`authorize_joined`] answers).
pub(crate) fn decide_joined(
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
    object: (Uuid, Option<Uuid>),
    joined: Vec<AclEntry>,
) -> Decision {
    Decider::joined(spec, subject, object, joined).decide(action)
}

/// The first of `objects` (id and owner) that `caller` may not do `action`
/// on, if any: one query for the entries of all of them.
pub(crate) async fn first_refused(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
    objects: &[(Uuid, Option<Uuid>)],
) -> ApiResult<Option<Uuid>> {
    if subject.holds_any(spec.acl_allow_always) {
        return Ok(None);
    }
    let ids: Vec<Uuid> = objects.iter().map(|(id, _)| *id).collect();
    let entries = entries_for(db, spec, subject, &ids).await?;
    Ok(objects.iter().find_map(|&object| {
        let request = Request {
            action,
            object: Some(object),
            acl_admins: spec.acl_admins,
            acl_allow_always: spec.acl_allow_always,
        };
        (!decide(&subject.caller, &request, &entries).allowed).then_some(object.0)
    }))
}

/// The owner of object `id` of `spec`'s type: `None` if there is no such
/// object, `Some(None)` if it has no owner.
pub(crate) async fn owner_of(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    id: Uuid,
) -> Result<Option<Option<Uuid>>, sea_orm::DbErr> {
    let sql = format!("SELECT owner_id FROM \"{}\" WHERE id = $1", spec.table);
    let statement = sea_orm::Statement::from_sql_and_values(db.get_database_backend(), sql, [id.into()]);
    let row = db.query_one_raw(statement).await?;
    row.map(|row| row.try_get_by_index::<Option<Uuid>>(0)).transpose()
}

/// Decides whether `caller` may do `action` on `object` (id and owner) of
/// `spec`'s type, or on the type itself when `object` is `None`.
pub(crate) async fn decision(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
    object: Option<(Uuid, Option<Uuid>)>,
) -> ApiResult<Decision> {
    Ok(Decider::load(db, spec, subject, object).await?.decide(action))
}

/// The decisions of one caller on one object (or the type), over the
/// entries read once: a refusal can then tell 403 from 404 with no second
/// query.
struct Decider<'a> {
    spec: &'a ResourceSpec,
    caller: &'a acl::Principal,
    object: Option<(Uuid, Option<Uuid>)>,
    entries: Vec<AclEntry>,
}

impl<'a> Decider<'a> {
    async fn load(
        db: &impl ConnectionTrait,
        spec: &'a ResourceSpec,
        subject: &'a Subject,
        object: Option<(Uuid, Option<Uuid>)>,
    ) -> ApiResult<Decider<'a>> {
        let objects: Vec<Uuid> = object.map(|(id, _)| id).into_iter().collect();
        Decider::load_on(db, spec, subject, object, &objects).await
    }

    /// A decider on `object` over the entries on `objects` and the
    /// type-wide ones (none are read for a role in `acl_allow_always`,
    /// which decides before the entries).
    async fn load_on(
        db: &impl ConnectionTrait,
        spec: &'a ResourceSpec,
        subject: &'a Subject,
        object: Option<(Uuid, Option<Uuid>)>,
        objects: &[Uuid],
    ) -> ApiResult<Decider<'a>> {
        let entries = if subject.holds_any(spec.acl_allow_always) {
            Vec::new()
        } else {
            entries_for(db, spec, subject, objects).await?
        };
        Ok(Decider { spec, caller: &subject.caller, object, entries })
    }

    /// A decider on a loaded object over the entries joined to its row and
    /// the subject's known type-wide ones.
    fn joined(
        spec: &'a ResourceSpec,
        subject: &'a Subject,
        object: (Uuid, Option<Uuid>),
        mut joined: Vec<AclEntry>,
    ) -> Decider<'a> {
        if let Some(known) = &subject.type_wide {
            joined.extend(known.of(spec).cloned());
        }
        Decider { spec, caller: &subject.caller, object: Some(object), entries: joined }
    }

    /// Lets the request go on, or answers 404 when the caller may not even
    /// read the object (its existence is not revealed) and 403 when it may
    /// read it but not do `action`.
    fn verdict(&self, action: &str) -> ApiResult<()> {
        if self.decide(action).allowed {
            return Ok(());
        }
        if action != "read" && self.decide("read").allowed {
            return Err(ApiError::Forbidden(format!("you may not {action} this {}", self.spec.name)));
        }
        Err(ApiError::not_found(self.spec.name))
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

/// The owner of object `id` that `subject` creates, once the rules let
/// it: the owner asked for, or by default `acts_for`, whom the caller acts
/// for (itself, or an agent's owner). Ownership is never chosen freely: the
/// owner is that default or an organization the caller administers,
/// whatever the entries say, unless the caller holds a role in
/// `acl_allow_always`. Then `create` is decided as an action on the new
/// object, so an agent creates only where an entry lets it.
pub(crate) async fn authorize_create(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    acts_for: Uuid,
    id: Uuid,
    requested: Option<Uuid>,
) -> ApiResult<Uuid> {
    let owner = requested.unwrap_or(acts_for);
    let may_own =
        owner == acts_for || subject.caller.admin_of.contains(&owner) || subject.holds_any(spec.acl_allow_always);
    if !may_own {
        return Err(ApiError::Forbidden(format!(
            "a new {} belongs to you or to an organization you administer, not to {owner}",
            spec.name
        )));
    }
    // A new object has no entries of its own: only the type-wide ones apply.
    if Decider::load_on(db, spec, subject, Some((id, Some(owner))), &[]).await?.decide("create").allowed {
        Ok(owner)
    } else {
        Err(ApiError::Forbidden(format!("you may not create a {} owned by {owner}", spec.name)))
    }
}

/// Lets a request on the type as a whole (a custom endpoint without an
/// `{id}`) go on, or answers 403.
pub(crate) async fn authorize_type_wide(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
) -> ApiResult<()> {
    if decision(db, spec, subject, action, None).await?.allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("`{action}` on {} needs a type-wide permission", spec.name)))
    }
}

/// The rows of `spec`'s table that `subject` may do `action` on: the same
/// rules as [`decide`], row by row, as parts a list walks on its indexes
/// (one per owner the subject reads through, one for the objects shared
/// with it) and the denied ids left out of every part.
///
/// The subject's entries for the type and action are read first, in one
/// query on the entries' covering index, and the condition is built from
/// them: a type-wide deny selects nothing (a constant false, which neither
/// database evaluates per row); a type-wide allow or an `acl_admins` role
/// selects every row but the denied ones; otherwise the rows of the owners
/// the subject reads through (itself, the organizations it administers,
/// for `read` those it belongs to) and the allowed ids, minus the denied
/// ids. No subquery runs per row, so the cost of a page follows the index
/// it walks, not the size of the table.
pub(crate) async fn permitted_rows(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    subject: &Subject,
    action: &str,
) -> ApiResult<Readable> {
    // What counts the readable rows of a resource's table (the templates'
    // table keeps no counters).
    let tally = |owners: Option<Vec<Uuid>>, shared: Option<Condition>, denied: Option<Condition>| {
        (spec.table != TEMPLATES_TABLE).then_some(Tally { resource_type: spec.name, owners, shared, denied })
    };
    if subject.holds_any(spec.acl_allow_always) {
        return Ok(Readable { tally: tally(None, None, None), ..Readable::default() });
    }
    let caller = &subject.caller;
    let rows = acl_entry::Entity::find()
        .select_only()
        .column(acl_entry::Column::ObjectId)
        .column(acl_entry::Column::Effect)
        .filter(acl_entry::Column::ResourceType.eq(spec.name))
        .filter(acl_entry::Column::PrincipalId.is_in(caller.principal_ids()))
        .filter(acl_entry::Column::Action.is_in([action, ANY_ACTION]))
        // Type-wide entries first: a caller with more object entries than
        // are read still has every type-wide one decide.
        .order_by(Expr::col(acl_entry::Column::ObjectId).is_not_null(), Order::Asc)
        .limit(ENTRIES_READ)
        .into_query();
    let rows = db.query_all_raw(statement(db.get_database_backend(), &rows)).await.map_err(internal)?;
    let rows = rows
        .iter()
        .map(QueryResult::try_get_many_by_index::<(Option<Uuid>, String)>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    // Past what is read, both lists of ids are named by subqueries instead.
    let truncated = rows.len() as u64 == ENTRIES_READ;
    let mut reach = Reach::default();
    for (object, effect) in rows {
        match (object, effect_of(&effect)) {
            (None, Effect::Deny) => return Ok(Readable { except: None, any_of: Some(Vec::new()), tally: None }),
            (None, Effect::Allow) => reach.type_wide_allow = true,
            (Some(id), Effect::Deny) => reach.denied.push(id),
            (Some(id), Effect::Allow) => reach.allowed.push(id),
        }
    }
    let named = |ids: Vec<Uuid>, effect: Effect| {
        let id = Expr::col((spec.table, "id"));
        if ids.len() <= LISTED_IDS && !truncated {
            return id.is_in(ids);
        }
        let mut objects = entries_with(spec, &caller.principal_ids(), action, effect);
        objects.column((ACL_TABLE, "object_id")).and_where(Expr::col((ACL_TABLE, "object_id")).is_not_null());
        id.in_subquery(objects)
    };
    let denied =
        (!reach.denied.is_empty() || truncated).then(|| Condition::all().add(named(reach.denied, Effect::Deny)));
    let except = denied.clone().map(|denied| Condition::all().add(denied.not()));
    if reach.type_wide_allow || caller.holds_any(spec.acl_admins) {
        return Ok(Readable { except, any_of: None, tally: tally(None, None, denied) });
    }
    let owners = owners_acted_for(caller, action);
    let owner = || Expr::col((spec.table, "owner_id"));
    let mut any_of: Vec<Condition> = owners.iter().map(|id| Condition::all().add(owner().eq(*id))).collect();
    let shared = (!reach.allowed.is_empty() || truncated).then(|| {
        // The shared objects of others: disjoint from the owners' rows, so
        // that the parts of a page never hold one row twice.
        let others = Condition::any().add(owner().is_null()).add(owner().is_not_in(owners.clone()));
        Condition::all().add(named(reach.allowed, Effect::Allow)).add(others)
    });
    any_of.extend(shared.clone());
    Ok(Readable { except, any_of: Some(any_of), tally: tally(Some(owners), shared, denied) })
}

/// Whether `subject` may do `action` on object `id` of `spec`'s table, as a
/// condition on its row, for a write that checks as it writes (`UPDATE ..
/// WHERE id = $1 AND <this>`): the rule of [`decide`], with the object's
/// own entries read by subqueries on the entries' covering index and the
/// type-wide ones the subject already holds decided here. `None` when
/// those already refuse.
pub(crate) fn may_condition(spec: &ResourceSpec, subject: &Subject, action: &str, id: Uuid) -> Option<Condition> {
    if subject.holds_any(spec.acl_allow_always) {
        return Some(Condition::all());
    }
    let caller = &subject.caller;
    let principals = caller.principal_ids();
    let type_wide = |effect: Effect| {
        subject.type_wide.as_ref().is_some_and(|known| {
            known.of(spec).any(|entry| {
                entry.effect == effect
                    && entry.object.is_none()
                    && principals.contains(&entry.principal_id)
                    && (entry.action == action || entry.action == ANY_ACTION)
            })
        })
    };
    if type_wide(Effect::Deny) {
        return None;
    }
    let entry = |effect: Effect| {
        let mut on = Condition::any().add(Expr::col((ACL_TABLE, "object_id")).eq(id));
        if subject.type_wide.is_none() {
            on = on.add(Expr::col((ACL_TABLE, "object_id")).is_null());
        }
        let mut matching = entries_with(spec, &principals, action, effect);
        matching.expr(Expr::val(1)).cond_where(on);
        Expr::exists(matching)
    };
    let not_denied = Condition::all().add(entry(Effect::Deny).not());
    if type_wide(Effect::Allow) || caller.holds_any(spec.acl_admins) {
        return Some(not_denied);
    }
    let owners = owners_acted_for(caller, action);
    let allowed = Condition::any().add(Expr::col((spec.table, "owner_id")).is_in(owners)).add(entry(Effect::Allow));
    Some(not_denied.add(allowed))
}

/// The owners whose objects `caller` may do `action` on without an entry
/// (steps 2 and 3 of [`decide`]): itself, the organizations it administers,
/// and for `read` those it belongs to; sorted, each once.
fn owners_acted_for(caller: &acl::Principal, action: &str) -> Vec<Uuid> {
    let mut owners = vec![caller.id];
    owners.extend(&caller.admin_of);
    if action == "read" {
        owners.extend(&caller.member_of);
    }
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// The entries of `principals` with `effect` for `action` (or any action)
/// on `spec`'s type, to select from (add the columns and the objects).
fn entries_with(spec: &ResourceSpec, principals: &[Uuid], action: &str, effect: Effect) -> SelectStatement {
    Query::select()
        .from(ACL_TABLE)
        .and_where(Expr::col((ACL_TABLE, "resource_type")).eq(spec.name))
        .and_where(Expr::col((ACL_TABLE, "principal_id")).is_in(principals.iter().copied()))
        .and_where(Expr::col((ACL_TABLE, "action")).is_in([action, ANY_ACTION]))
        .and_where(Expr::col((ACL_TABLE, "effect")).eq(effect_name(effect)))
        .to_owned()
}

/// Up to this many ids, a list condition names objects by value; beyond,
/// by an uncorrelated subquery on the entries (run once, not per row), which
/// keeps within both databases' limits on bound parameters.
const LISTED_IDS: usize = 1000;

/// The most entries a list reads of its caller's: enough for both lists of
/// ids by value and the type-wide entries, so that a caller holding a
/// million entries costs a list no more than one holding two thousand.
const ENTRIES_READ: u64 = 2 * LISTED_IDS as u64 + 100;

/// What a subject's entries for one type and action say, type-wide and
/// object by object.
#[derive(Default)]
struct Reach {
    type_wide_allow: bool,
    allowed: Vec<Uuid>,
    denied: Vec<Uuid>,
}
