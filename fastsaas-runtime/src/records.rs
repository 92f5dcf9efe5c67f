//! [`Records`]: a resource's records from Rust, for custom endpoints and
//! tasks, through the very paths the HTTP routes take.
//!
//! Each call acts for the caller of a [`Ctx`]: the same authorization
//! (404 for what the caller may not read, 403 for what it may read but not
//! change), the same validation rules, the same ownership rule and the
//! same `updated_at`. Unlike a client, the code of the app may set every
//! field of its own struct, `read_only` and `hidden` ones included (a
//! status that only the server changes, say): those are closed to clients,
//! not to the app.

use std::marker::PhantomData;

use fastsaas_core::{ApiResult, Page};
use sea_orm::sea_query::LockType;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::access;
use crate::ctx::Ctx;
use crate::error::db_error;
use crate::notify::changes::Change;
use crate::references;
use crate::resource::{Record, Resource, load_authorized, load_with_entries};
use crate::seal;
use crate::store::record_of;
use crate::store::{delete_row, forget_object, insert_authorized, list_rows, tell, validated, write_error};
use crate::templates::Templated;
use crate::templates::load::clone_template;

/// The records of `T` as the caller of a [`Ctx`] may see and change them.
/// Made by [`Ctx::records`].
///
/// ```no_run
/// # use fastsaas_core::ApiResult;
/// # use fastsaas_runtime::{Ctx, Record, Resource};
/// // In a custom endpoint or a task: as the caller, with its permissions.
/// async fn touch<T: Resource>(ctx: &Ctx, id: uuid::Uuid) -> ApiResult<Record<T>> {
///     ctx.records::<T>().update(id, |_record| {}).await
/// }
/// ```
///
/// The guide's chapter on custom endpoints (docs/guide/05-custom-endpoints.md)
/// has a whole example.
pub struct Records<'a, T> {
    ctx: &'a Ctx,
    resource: PhantomData<fn() -> T>,
}

impl Ctx {
    /// The records of `T`, read and written as this context's caller.
    pub fn records<T: Resource>(&self) -> Records<'_, T> {
        Records { ctx: self, resource: PhantomData }
    }
}

impl<T: Resource> Records<'_, T> {
    /// Creates a record of `data`, owned by whom the caller acts for (as
    /// `POST` without `owner_id`): the fields' rules are checked (400),
    /// then the `create` permission (403).
    pub async fn create(&self, data: T) -> ApiResult<Record<T>> {
        self.insert(None, data).await
    }

    /// Creates a record of `data` owned by `owner` (as `POST` with
    /// `owner_id`): the caller itself, or an organization it administers,
    /// unless it holds a role in `acl_allow_always` (403 otherwise).
    pub async fn create_owned_by(&self, owner: Uuid, data: T) -> ApiResult<Record<T>> {
        self.insert(Some(owner), data).await
    }

    async fn insert(&self, owner: Option<Uuid>, data: T) -> ApiResult<Record<T>> {
        validated(&data, T::validate_fields)?;
        let model = insert_authorized::<T>(self.ctx.app().store(), self.ctx.principal(), owner, |row| {
            let record = Record {
                id: row.id,
                owner_id: row.owner_id,
                template_id: None,
                created_at: row.now,
                updated_at: row.now,
                data,
            };
            T::into_model(record).into_active_model().reset_all()
        })
        .await?;
        record_of::<T>(self.ctx.app().field_keys(), model)
    }

    /// The record `id`, as `GET {scope}/{id}`: 404 when it does not exist
    /// or the caller may not read it.
    pub async fn get(&self, id: Uuid) -> ApiResult<Record<T>> {
        let model = load_authorized::<T>(self.ctx.app().db(), &self.ctx.principal().subject(), "read", id).await?;
        record_of::<T>(self.ctx.app().field_keys(), model)
    }

    /// Changes record `id` with `change` and saves it, as a `PATCH` would:
    /// 404 / 403 unless the caller may `update` it, then the rules of
    /// every field (400), then the write with a new `updated_at`. The row
    /// stays locked from the read to the write, so a concurrent change of
    /// the record (through this API or the routes) is never lost.
    pub async fn update(&self, id: Uuid, change: impl FnOnce(&mut T) + Send) -> ApiResult<Record<T>> {
        let db = self.ctx.app().db();
        let failed = |err| db_error(T::SPEC, err);
        let transaction = crate::db::begin_write(db).await.map_err(failed)?;
        let mut select = T::Entity::find().filter(T::ID.eq(id));
        // SQLite's one writer holds the whole database from `BEGIN`
        // (`begin_write`); PostgreSQL locks the row from the read on.
        if db.get_database_backend() == DbBackend::Postgres {
            QueryTrait::query(&mut select).lock_with_tables(LockType::Update, [T::Entity::default()]);
        }
        let subject = self.ctx.principal().subject();
        let (model, entries) = load_with_entries(&transaction, T::SPEC, &subject, select).await?;
        access::authorize_joined(T::SPEC, &subject, "update", (id, T::owner_of(&model)), entries)?;
        let before = model.clone();
        let mut record = record_of::<T>(self.ctx.app().field_keys(), model)?;
        change(&mut record.data);
        validated(&record.data, T::validate_fields)?;
        record.updated_at = chrono::Utc::now();
        let mut row = T::into_model(record).into_active_model().reset_all();
        references::check_changed::<T>(&transaction, &subject, &row, Some(&before)).await?;
        seal::seal_row::<T>(self.ctx.app().field_keys(), id, &mut row)?;
        let saved = row.update(&transaction).await.map_err(write_error::<T>)?;
        let notifier = self.ctx.app().notifier();
        let told = tell::<T>(notifier, &transaction, (Change::Updated, &saved), None, subject.caller.id).await?;
        transaction.commit().await.map_err(failed)?;
        told.committed(notifier);
        forget_object::<T>(self.ctx.app().store(), id).await;
        record_of::<T>(self.ctx.app().field_keys(), saved)
    }

    /// Tells the caches of every replica that record `id` was changed
    /// behind the framework's back (by SQL of your own on `ctx.app().db()`),
    /// once that change has committed: the next `GET {scope}/{id}` reads it
    /// again. Changes made through this API or the routes need no call.
    pub async fn forget(&self, id: Uuid) {
        forget_object::<T>(self.ctx.app().store(), id).await;
    }

    /// Deletes record `id`, as `DELETE {scope}/{id}`, with its ACL entries
    /// and API keys: 404 / 403 unless the caller may `delete` it.
    pub async fn delete(&self, id: Uuid) -> ApiResult<()> {
        delete_row::<T>(self.ctx.app().store(), &self.ctx.principal().subject(), id).await
    }

    /// A page of the records the caller may read, as `GET {scope}?query`:
    /// `query` is that query string (`"status=idle&sort=-created_at"`, or
    /// `""`), with the same paging, filters, sorting and 400s.
    pub async fn list(&self, query: &str) -> ApiResult<Page<Record<T>>> {
        let page = list_rows::<T>(self.ctx.app().store(), &self.ctx.principal().subject(), Some(query)).await?;
        let items = page
            .items
            .into_iter()
            .map(|model| record_of::<T>(self.ctx.app().field_keys(), model))
            .collect::<ApiResult<_>>()?;
        Ok(Page::new(items, page.page, page.page_size, page.total).with_next(page.next))
    }
}

impl<T: Templated> Records<'_, T> {
    /// Clones template `template_id`, exactly as `POST
    /// {scope}/templates/{id}/clone` does: the resolved params deep-merged
    /// with `overrides` (an object of field values, and optionally
    /// `owner_id`), then the create path. Needs `read` on every template
    /// of the chain and `create` on the type.
    pub async fn clone_from_template(&self, template_id: Uuid, overrides: Value) -> ApiResult<Record<T>> {
        let store = self.ctx.app().store();
        let model = clone_template::<T>(store, self.ctx.principal(), template_id, overrides).await?;
        record_of::<T>(store.keys, model)
    }
}
