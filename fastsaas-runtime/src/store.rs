//! Reading and writing records: the paths the CRUD routes, template clones
//! and the records API share (validation, ownership and the `create`
//! check, sealing of encrypted fields, authorized deletes and lists).

use chrono::Utc;
use fastsaas_core::{ApiError, ApiResult, FieldError, Page, ResourceSpec};
use std::marker::PhantomData;

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::access::{self, Subject};
use crate::cache::Forget;
use crate::cursor::CursorKey;
use crate::db::begin_write;
use crate::error::db_error;
use crate::identity::Principal;
use crate::notify::Notifier;
use crate::notify::changes::{Change, Told, owners_who_read};
use crate::query::{self, page_of};
use crate::references;
use crate::resource::{NewRow, Record, Resource, load_authorized};
use crate::seal::{self, FieldKeys};

/// The record of a row, its encrypted fields opened, or a logged 500 for a
/// row that does not fit its type (edited by hand, or left by an older
/// version of the struct).
pub(crate) fn record_of<T: Resource>(keys: Option<&FieldKeys>, mut model: T::Model) -> Result<Record<T>, ApiError> {
    seal::open_row::<T>(keys, &mut model)?;
    T::from_model(model).map_err(|err| {
        tracing::error!(resource = T::SPEC.name, error = %err, "a stored row does not fit its type");
        ApiError::Internal
    })
}

/// What reading and writing records needs: the database and the keys of
/// encrypted fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Store<'a> {
    /// The pool.
    pub(crate) db: &'a DatabaseConnection,
    /// The keys of encrypted fields, when configured.
    pub(crate) keys: Option<&'a FieldKeys>,
    /// The key of list cursors.
    pub(crate) cursors: &'a CursorKey,
    /// Tells owners of changes to `#[crud(notify)]` resources.
    pub(crate) notifier: &'a Notifier,
    /// Every type the app serves: those whose references name a deleted
    /// object.
    pub(crate) specs: &'a [&'static ResourceSpec],
}

/// Where a created or updated `T` is written: straight to the pool, or,
/// for a `#[crud(notify)]` resource, in a transaction that also writes the
/// notifications of the change.
struct Writer<'a, T> {
    store: Store<'a>,
    tx: Option<DatabaseTransaction>,
    resource: PhantomData<T>,
}

impl<'a, T: Resource> Writer<'a, T> {
    async fn begin(store: Store<'a>) -> ApiResult<Writer<'a, T>> {
        let tx = match T::SPEC.notify {
            true => Some(begin_write(store.db).await.map_err(|err| db_error(T::SPEC, err))?),
            false => None,
        };
        Ok(Writer { store, tx, resource: PhantomData })
    }

    /// Where every statement of the change goes, reads included: a read on
    /// the pool while the transaction holds a connection would need two.
    fn conn(&self) -> DatabaseExecutor<'_> {
        match &self.tx {
            Some(tx) => tx.into(),
            None => self.store.db.into(),
        }
    }

    /// Tells the owners of `model` of `change` made by `actor` and commits.
    async fn finish(self, change: Change, model: &T::Model, actor: Uuid) -> ApiResult<()> {
        let Some(tx) = self.tx else { return Ok(()) };
        let told = tell::<T>(self.store.notifier, &tx, (change, model), None, actor).await?;
        tx.commit().await.map_err(|err| db_error(T::SPEC, err))?;
        told.committed(self.store.notifier);
        Ok(())
    }
}

/// For a `#[crud(notify)]` resource, writes in `tx` the notifications of
/// `change` to `model` by `actor` to its owners who may read it (`readers`
/// if they were found before the change, as a deletion must); wake them
/// once `tx` commits.
pub(crate) async fn tell<T: Resource>(
    notifier: &Notifier,
    tx: &DatabaseTransaction,
    (change, model): (Change, &T::Model),
    readers: Option<Vec<Uuid>>,
    actor: Uuid,
) -> ApiResult<Told> {
    if !T::SPEC.notify {
        return Ok(Told::default());
    }
    let id = T::id_of(model);
    let readers = match readers {
        Some(readers) => readers,
        None => owners_who_read(tx, T::SPEC, (id, T::owner_of(model))).await?,
    };
    let told = notifier.write_change(tx, readers, T::SPEC.name, (change, id), actor).await;
    told.map_err(|err| db_error(T::SPEC, err))
}

/// The one create path, for `POST /items` and for clones of a template:
/// validation, then ownership and the `create` check
/// ([`access::authorize_create`]: 403 when refused), then the insert.
pub(crate) async fn create_row<T: Resource>(
    store: Store<'_>,
    principal: &Principal,
    input: T::Create,
    template_id: Option<Uuid>,
) -> ApiResult<T::Model> {
    validated(&input, T::validate_create)?;
    let requested = T::requested_owner(&input);
    insert_authorized::<T>(store, principal, requested, |row| T::new_row(input, NewRow { template_id, ..row })).await
}

/// Inserts the row `build` makes of the new object's framework values,
/// once ownership and the `create` check let the principal create it
/// ([`access::authorize_create`]: 403 when refused).
pub(crate) async fn insert_authorized<T: Resource>(
    store: Store<'_>,
    principal: &Principal,
    requested_owner: Option<Uuid>,
    build: impl FnOnce(NewRow) -> T::ActiveModel,
) -> ApiResult<T::Model> {
    let id = Uuid::new_v4();
    let owner_id =
        access::authorize_create(store.db, T::SPEC, &principal.subject(), principal.acts_for(), id, requested_owner)
            .await?;
    let row = NewRow { id, owner_id: Some(owner_id), template_id: None, now: Utc::now() };
    let mut row = build(row);
    references::check_set::<T>(store.db, &principal.subject(), &row).await?;
    seal::seal_row::<T>(store.keys, id, &mut row)?;
    let writer = Writer::<T>::begin(store).await?;
    let model = row.insert(&writer.conn()).await.map_err(write_error::<T>)?;
    writer.finish(Change::Created, &model, principal.id).await?;
    Ok(model)
}

/// Writes `changes` to object `id` once `subject` may update it: one
/// statement that checks as it writes (`UPDATE .. WHERE id = $1 AND <may
/// update> RETURNING *`, see [`access::may_condition`]). When it writes
/// nothing, the object is loaded to tell why (404 / 403), and written if it
/// became writable meanwhile; encrypted values are sealed first.
pub(crate) async fn update_authorized<T: Resource>(
    store: Store<'_>,
    subject: &Subject,
    id: Uuid,
    mut changes: T::ActiveModel,
) -> ApiResult<T::Model> {
    references::check_set::<T>(store.db, subject, &changes).await?;
    seal::seal_row::<T>(store.keys, id, &mut changes)?;
    let writer = Writer::<T>::begin(store).await?;
    let model = update_on::<T>(&writer.conn(), subject, id, changes).await?;
    writer.finish(Change::Updated, &model, subject.caller.id).await?;
    forget_object::<T>(store, id).await;
    Ok(model)
}

/// Once a change to object `id` has committed: for a `#[crud(cache)]`
/// type, its cached row is stale, here at once and on every replica.
pub(crate) async fn forget_object<T: Resource>(store: Store<'_>, id: Uuid) {
    if T::SPEC.cache_ttl_secs.is_some() {
        store.notifier.forget(store.db, Forget::Object(T::SPEC.name.to_owned(), id)).await;
    }
}

async fn update_on<T: Resource>(
    conn: &DatabaseExecutor<'_>,
    subject: &Subject,
    id: Uuid,
    changes: T::ActiveModel,
) -> ApiResult<T::Model> {
    if let Some(may) = access::may_condition(T::SPEC, subject, "update", id) {
        let update = T::Entity::update(changes.clone()).validate().map_err(|err| db_error(T::SPEC, err))?;
        match update.filter(may).exec(conn).await {
            Ok(model) => return Ok(model),
            Err(sea_orm::DbErr::RecordNotUpdated | sea_orm::DbErr::RecordNotFound(_)) => {}
            Err(err) => return Err(write_error::<T>(err)),
        }
    }
    load_authorized::<T>(conn, subject, "update", id).await?;
    match changes.update(conn).await {
        Ok(model) => Ok(model),
        Err(sea_orm::DbErr::RecordNotUpdated | sea_orm::DbErr::RecordNotFound(_)) => {
            Err(ApiError::not_found(T::SPEC.name))
        }
        Err(err) => Err(write_error::<T>(err)),
    }
}

/// The error of a write of a `T` row: a reference whose target vanished
/// since it was checked is the 404 of the field.
pub(crate) fn write_error<T: Resource>(err: sea_orm::DbErr) -> ApiError {
    references::dangling(T::SPEC, &err).unwrap_or_else(|| db_error(T::SPEC, err))
}

/// Deletes object `id` once the subject may: one statement that checks as
/// it deletes, then, when it deleted nothing, the object loaded to tell why
/// (404 / 403), and deleted if it became deletable meanwhile.
pub(crate) async fn delete_row<T: Resource>(store: Store<'_>, subject: &Subject, id: Uuid) -> ApiResult<()> {
    delete_on_its_path::<T>(store, subject, id).await?;
    forget_object::<T>(store, id).await;
    forget_dependents(store, T::SPEC).await;
    Ok(())
}

/// Once objects of `parent` were deleted: the cached rows of the types
/// their deletion cascaded to or set a reference of are stale.
pub(crate) async fn forget_dependents(store: Store<'_>, parent: &'static ResourceSpec) {
    for dependent in references::cached_dependents(store.specs, parent) {
        store.notifier.forget(store.db, Forget::Objects(dependent.to_owned())).await;
    }
}

/// The error of a deletion of object `id` of `spec`: 409 naming the types
/// whose references still need it.
async fn delete_error(store: Store<'_>, spec: &'static ResourceSpec, id: Uuid, err: sea_orm::DbErr) -> ApiError {
    match references::still_referred_to(store.db, store.specs, (spec, id), &err).await {
        Some(conflict) => conflict,
        None => db_error(spec, err),
    }
}

async fn delete_on_its_path<T: Resource>(store: Store<'_>, subject: &Subject, id: Uuid) -> ApiResult<()> {
    if T::SPEC.notify || references::notifies_dependents(store.specs, T::SPEC) {
        return delete_told::<T>(store, subject, id).await;
    }
    let delete = |may: Option<Condition>| {
        let mut rows = T::Entity::delete_many().filter(T::ID.eq(id));
        if let Some(may) = may {
            rows = rows.filter(may);
        }
        rows.exec(store.db)
    };
    if let Some(may) = access::may_condition(T::SPEC, subject, "delete", id) {
        match delete(Some(may)).await {
            Ok(done) if done.rows_affected > 0 => return Ok(()),
            Ok(_) => {}
            Err(err) => return Err(delete_error(store, T::SPEC, id, err).await),
        }
    }
    load_authorized::<T>(store.db, subject, "delete", id).await?;
    match delete(None).await {
        Ok(done) if done.rows_affected > 0 => Ok(()),
        Ok(_) => Err(ApiError::not_found(T::SPEC.name)),
        Err(err) => Err(delete_error(store, T::SPEC, id, err).await),
    }
}

/// [`delete_row`] of a `#[crud(notify)]` resource, or of one whose
/// deletion reaches a notified type through references, in one
/// transaction: the object is authorized and its readers (and those of
/// the objects its deletion reaches) found while they and their ACL
/// entries exist, then it is deleted and they are told.
async fn delete_told<T: Resource>(store: Store<'_>, subject: &Subject, id: Uuid) -> ApiResult<()> {
    let failed = |err| db_error(T::SPEC, err);
    let tx = begin_write(store.db).await.map_err(failed)?;
    let model = load_authorized::<T>(&tx, subject, "delete", id).await?;
    let readers = match T::SPEC.notify {
        true => owners_who_read(&tx, T::SPEC, (id, T::owner_of(&model))).await?,
        false => Vec::new(),
    };
    let dependents =
        references::tell_dependents(&tx, (store.notifier, store.specs), (T::SPEC, vec![id]), subject.caller.id).await?;
    match T::Entity::delete_many().filter(T::ID.eq(id)).exec(&tx).await {
        Ok(done) if done.rows_affected > 0 => {}
        Ok(_) => return Err(ApiError::not_found(T::SPEC.name)),
        Err(err) => {
            // The transaction is over; the reason is read on the pool.
            drop(tx);
            return Err(delete_error(store, T::SPEC, id, err).await);
        }
    }
    let told = tell::<T>(store.notifier, &tx, (Change::Deleted, &model), Some(readers), subject.caller.id).await?;
    tx.commit().await.map_err(failed)?;
    told.and(dependents).committed(store.notifier);
    Ok(())
}

/// Deletes every `T` the subject may delete (a clear), in one transaction
/// that also tells the owners of the `#[crud(notify)]` objects it reaches
/// through references; how many it deleted. 409 when objects elsewhere
/// still refer to some of them.
pub(crate) async fn clear_rows<T: Resource>(store: Store<'_>, subject: &Subject) -> ApiResult<u64> {
    let failed = |err| db_error(T::SPEC, err);
    let deletable = access::permitted_rows(store.db, T::SPEC, subject, "delete").await?.condition();
    let deletable = deletable.unwrap_or_else(Condition::all);
    let tx = begin_write(store.db).await.map_err(failed)?;
    let told = if references::notifies_dependents(store.specs, T::SPEC) {
        let ids = T::Entity::find().select_only().column(T::ID).filter(deletable.clone());
        let ids: Vec<Uuid> = ids.into_tuple().all(&tx).await.map_err(failed)?;
        references::tell_dependents(&tx, (store.notifier, store.specs), (T::SPEC, ids), subject.caller.id).await?
    } else {
        Told::default()
    };
    let deleted = T::Entity::delete_many().filter(deletable).exec(&tx).await.map_err(|err| {
        let what = format!("the clear would delete {}", T::SPEC.name);
        references::refused_in_bulk(&what, &err).unwrap_or_else(|| db_error(T::SPEC, err))
    })?;
    tx.commit().await.map_err(failed)?;
    told.committed(store.notifier);
    if T::SPEC.cache_ttl_secs.is_some() {
        store.notifier.forget(store.db, Forget::Objects(T::SPEC.name.to_owned())).await;
    }
    forget_dependents(store, T::SPEC).await;
    Ok(deleted.rows_affected)
}

/// In `tx`, the transaction that deletes `owner` (a user or an
/// organization, `what` names it in errors): deletes everything it owns
/// (children before parents), telling the owners of the `#[crud(notify)]`
/// objects of others the deletion reaches. Gives what the caches must
/// forget once `tx` commits, and who to wake. 409 when objects of others
/// still refer to what it owns.
pub(crate) async fn delete_owned(
    tx: &DatabaseTransaction,
    store: Store<'_>,
    (owner, what): (Uuid, &str),
    actor: Uuid,
) -> ApiResult<(Vec<Forget>, Told)> {
    let stale = crate::cached::forgets_for_owner(tx, store.specs, owner).await?;
    let told = references::tell_owned_dependents(tx, (store.notifier, store.specs), owner, actor).await?;
    crate::db::cleanup::forget_owner(tx, store.specs, owner).await.map_err(|err| {
        references::refused_in_bulk(&format!("{what} owns"), &err).unwrap_or_else(|| crate::error::internal(err))
    })?;
    Ok((stale, told))
}

/// The page of the rows the subject may read that `raw_query` asks for.
pub(crate) async fn list_rows<T: Resource>(
    store: Store<'_>,
    subject: &Subject,
    raw_query: Option<&str>,
) -> ApiResult<Page<T::Model>> {
    list_rows_where::<T>(store, subject, raw_query, Condition::all()).await
}

/// [`list_rows`] among the rows that `condition` picks (a parent's
/// children).
pub(crate) async fn list_rows_where<T: Resource>(
    store: Store<'_>,
    subject: &Subject,
    raw_query: Option<&str>,
    condition: impl IntoCondition,
) -> ApiResult<Page<T::Model>> {
    let query = query::parse(T::SPEC, raw_query)?;
    let readable = access::permitted_rows(store.db, T::SPEC, subject, "read").await?;
    let rows = T::Entity::find().filter(condition);
    page_of(store.db, store.cursors, T::SPEC, &query, rows, readable, (T::ID, T::CREATED_AT)).await
}

/// `Ok` when `validate` finds nothing wrong with `input`, else the 400
/// listing everything it found.
pub(crate) fn validated<I>(input: &I, validate: fn(&I, &mut Vec<FieldError>)) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    validate(input, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}
