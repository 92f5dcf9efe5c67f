//! Reads by id of `#[crud(cache)]` types through the caches: the row, and
//! the ACL entries on objects of its type that name the caller's
//! principals. Authorization is decided on every read, over the cached
//! row and entries exactly as over the joined ones of a database read; a
//! hit costs no round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fastsaas_core::ApiResult;
use fastsaas_core::acl::AclEntry;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::access::{self, Subject, entry_of};
use crate::cache::{Caches, Lookup, row};
use crate::error::{db_error, internal};
use crate::identity::entities::acl_entry;
use crate::resource::{Resource, load_authorized};

/// A set of a type's object entries larger than this is read with each
/// object instead (one round trip, as without the cache), not kept.
const ENTRIES_KEPT_AT_MOST: usize = 1_000;

/// The object entries of a type naming a set of principals, by object;
/// `None` when they are too many to keep.
type EntriesByObject = Option<HashMap<Uuid, Vec<AclEntry>>>;

/// Object `id` of `T` once `subject` may read it (404 otherwise), through
/// the caches when `T` is `#[crud(cache)]` and the subject's type-wide
/// entries are known (a signed-in user); else from the database.
pub(crate) async fn load_readable<T: Resource>(
    db: &DatabaseConnection,
    caches: &Caches,
    subject: &Subject,
    id: Uuid,
) -> ApiResult<T::Model> {
    let spec = T::SPEC;
    // Without the caches, the one joined read beats two reads to fill them.
    let Some(ttl_secs) = spec.cache_ttl_secs.filter(|_| subject.knows_type_wide() && caches.usable()) else {
        return load_authorized::<T>(db, subject, "read", id).await;
    };
    let entries = if subject.holds_any(spec.acl_allow_always) {
        Vec::new()
    } else {
        match object_entries(db, caches, spec, subject).await?.as_ref() {
            Some(by_object) => by_object.get(&id).cloned().unwrap_or_default(),
            None => return load_authorized::<T>(db, subject, "read", id).await,
        }
    };
    let model = match caches.model::<T::Model>(spec.name, id) {
        Some(model) => T::Model::clone(&model),
        None => {
            let stamp = caches.model_stamp(spec.name, id);
            let ttl = Duration::from_secs(ttl_secs);
            let model = shared_or_read::<T>(db, caches, id, ttl).await?;
            caches.keep_model((spec.name, id), stamp, ttl, Arc::new(model.clone()));
            model
        }
    };
    access::authorize_joined(spec, subject, "read", (id, T::owner_of(&model)), entries)?;
    Ok(model)
}

/// Row `id` of `T` from the second level of the rows cache, or from the
/// database (then kept in the second level for `ttl`).
async fn shared_or_read<T: Resource>(
    db: &DatabaseConnection,
    caches: &Caches,
    id: Uuid,
    ttl: Duration,
) -> ApiResult<T::Model> {
    let spec = T::SPEC;
    let generations = match caches.shared_row(spec.name, id).await {
        Lookup::Hit(columns, generations) => match row::decode::<T::Model, T::ActiveModel>(&columns) {
            Some(model) if T::id_of(&model) == id => return Ok(model),
            _ => Some(generations),
        },
        Lookup::Miss(generations) => Some(generations),
        Lookup::Off => None,
    };
    let found = T::Entity::find().filter(T::ID.eq(id)).one(db).await.map_err(|err| db_error(spec, err))?;
    let model = found.ok_or_else(|| fastsaas_core::ApiError::not_found(spec.name))?;
    if let (Some(generations), Some(shared), Some(columns)) = (generations, caches.shared(), row::encode(&model)) {
        // Off the request's path: a slow Redis must not slow the answer.
        let shared = std::sync::Arc::clone(shared);
        tokio::spawn(async move { shared.keep(spec.name, id, generations, ttl, &columns).await });
    }
    Ok(model)
}

/// The object entries of `spec`'s type naming the subject's principals,
/// cached or read and kept.
async fn object_entries(
    db: &DatabaseConnection,
    caches: &Caches,
    spec: &'static fastsaas_core::ResourceSpec,
    subject: &Subject,
) -> ApiResult<Arc<EntriesByObject>> {
    let mut principals = subject.caller.principal_ids();
    principals.sort_unstable();
    principals.dedup();
    if let Some(known) = caches.entries::<EntriesByObject>(spec.name, &principals) {
        return Ok(known);
    }
    let stamp = caches.entries_stamp(spec.name, &principals);
    let rows = acl_entry::Entity::find()
        .filter(acl_entry::Column::ResourceType.eq(spec.name))
        .filter(acl_entry::Column::ObjectId.is_not_null())
        .filter(acl_entry::Column::PrincipalId.is_in(principals.iter().copied()))
        .limit(u64::try_from(ENTRIES_KEPT_AT_MOST + 1).unwrap_or(u64::MAX))
        .all(db)
        .await
        .map_err(internal)?;
    let count = rows.len();
    let by_object = (count <= ENTRIES_KEPT_AT_MOST).then(|| {
        let mut by_object: HashMap<Uuid, Vec<AclEntry>> = HashMap::new();
        for entry in rows.into_iter().map(entry_of) {
            if let Some(object) = entry.object {
                by_object.entry(object).or_default().push(entry);
            }
        }
        by_object
    });
    let by_object = Arc::new(by_object);
    let kept = if by_object.is_some() { count } else { 0 };
    caches.keep_entries((spec.name, principals), stamp, (Arc::clone(&by_object), kept));
    Ok(by_object)
}

/// A cached type's rows owned by one owner, past this many, are forgotten
/// as the whole type rather than one by one.
const OWNED_ROWS_FORGOTTEN_ONE_BY_ONE: usize = 100;

/// What deleting `owner` (a user or an organization) with everything it
/// owns makes stale in the caches of `specs`' cached types: its rows, read
/// before they go (call it in the deleting transaction), and the types its
/// deletion may cascade to or change a reference of.
pub(crate) async fn forgets_for_owner(
    db: &impl sea_orm::ConnectionTrait,
    specs: &[&'static fastsaas_core::ResourceSpec],
    owner: Uuid,
) -> ApiResult<Vec<crate::cache::Forget>> {
    use crate::cache::Forget;
    let mut forgets = Vec::new();
    for spec in specs.iter().filter(|spec| spec.cache_ttl_secs.is_some()) {
        let sql = format!(
            "SELECT id FROM \"{}\" WHERE owner_id = $1 LIMIT {}",
            spec.table,
            OWNED_ROWS_FORGOTTEN_ONE_BY_ONE + 1
        );
        let statement = sea_orm::Statement::from_sql_and_values(db.get_database_backend(), sql, [owner.into()]);
        let rows = db.query_all_raw(statement).await.map_err(internal)?;
        if rows.len() > OWNED_ROWS_FORGOTTEN_ONE_BY_ONE {
            forgets.push(Forget::Objects(spec.name.to_owned()));
            continue;
        }
        for row in rows {
            let id: Uuid = row.try_get("", "id").map_err(internal)?;
            forgets.push(Forget::Object(spec.name.to_owned(), id));
        }
    }
    // Rows of others that references cascade to or set to null.
    for spec in specs {
        for dependent in crate::references::cached_dependents(specs, spec) {
            let forget = Forget::Objects(dependent.to_owned());
            if !forgets.contains(&forget) {
                forgets.push(forget);
            }
        }
    }
    Ok(forgets)
}
