//! The trait every `#[derive(Crud)]` type implements: the glue between the
//! user's struct, its SeaORM entity and the generic handlers.

use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use fastsaas_core::acl::AclEntry;
use fastsaas_core::{ApiError, ApiResult, FieldError, ResourceSpec};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IntoActiveModel,
    ModelTrait, QueryFilter, QueryResult, QueryTrait, Select, TryIntoModel,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, Serializer};
use uuid::Uuid;

use crate::access::{self, Subject};
use crate::error::db_error;
use crate::field::DecodeError;

/// The framework-owned values of a new row.
#[derive(Clone, Copy, Debug)]
pub struct NewRow {
    /// The new id.
    pub id: Uuid,
    /// The owner (a user or an organization), if any.
    pub owner_id: Option<Uuid>,
    /// The template the row was cloned from (templated resources only).
    pub template_id: Option<Uuid>,
    /// The creation time, also the first `updated_at`.
    pub now: DateTime<Utc>,
}

/// A stored resource: the framework's columns plus the user's struct.
///
/// It serializes exactly as API.md's record, like the generated routes'
/// answers: `write_only` and `hidden` fields are never written, and a
/// templated type always has `template_id` (`null` when not cloned). It
/// derefs to the user's struct, so `record.name` reads a field.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<T> {
    /// The id.
    pub id: Uuid,
    /// The owner, if any.
    pub owner_id: Option<Uuid>,
    /// The template the record was cloned from (always `None` for a type
    /// that is not templated).
    pub template_id: Option<Uuid>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
    /// The user's fields.
    pub data: T,
}

impl<T> Deref for Record<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for Record<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: Resource> Serialize for Record<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The order of the generated model's JSON: framework columns around
        // the user's fields.
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("owner_id", &self.owner_id)?;
        self.data.serialize_visible_fields(&mut map)?;
        if T::SPEC.templates.is_some() {
            map.serialize_entry("template_id", &self.template_id)?;
        }
        map.serialize_entry("created_at", &self.created_at)?;
        map.serialize_entry("updated_at", &self.updated_at)?;
        map.end()
    }
}

/// A resource type: implemented by `#[derive(Crud)]`, never by hand.
///
/// It names what a user's own code may want of the type: its description
/// ([`Resource::SPEC`]) and its SeaORM entity, to query the table directly.
/// The behaviour (routes, validation, storage) lives once in this crate's
/// generic functions, which are written against this trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a FastSaaS resource",
    label = "add `#[derive(Crud)]` and `#[scope(\"/path\")]` to this type",
    note = "only `#[derive(Crud)]` types can be registered with `App::resource`"
)]
pub trait Resource: ResourceGlue + Send + Sync + 'static {
    /// The SeaORM entity of the resource's table.
    type Entity: EntityTrait<Model = Self::Model, ActiveModel = Self::ActiveModel, Column = Self::Column>;
    /// A row: framework columns plus the stored form of every field. Its
    /// `Serialize` is the API's record JSON (write-only and hidden fields skipped).
    type Model: ModelTrait<Entity = Self::Entity>
        + FromQueryResult
        + IntoActiveModel<Self::ActiveModel>
        + Serialize
        + Clone
        + Send
        + Sync;
    /// The SeaORM active model.
    type ActiveModel: ActiveModelTrait<Entity = Self::Entity>
        + ActiveModelBehavior
        + TryIntoModel<Self::Model>
        + Send
        + Sync;
    /// The SeaORM column enum.
    type Column: sea_orm::ColumnTrait + std::str::FromStr;
    /// The body of a create and of a PUT: every writable field, and the
    /// `owner_id` a create may ask for.
    type Create: DeserializeOwned + Send + 'static;
    /// The body of a PATCH: every writable field, each optional.
    type Patch: DeserializeOwned + Send + 'static;

    /// The static description: path, table, operations, fields.
    const SPEC: &'static ResourceSpec;
    /// The `id` column.
    const ID: Self::Column;
    /// The `created_at` column (default list order).
    const CREATED_AT: Self::Column;
}

/// The functions `#[derive(Crud)]` generates for a resource type: how its
/// bodies become rows and its rows records. The generic handlers call them;
/// a user never does, so they stay out of the user's documentation.
#[doc(hidden)]
pub trait ResourceGlue: Sized {
    /// A new row from a create body.
    fn new_row(input: <Self as Resource>::Create, row: NewRow) -> <Self as Resource>::ActiveModel
    where
        Self: Resource;
    /// The stored `default` of every field that has one (and is not
    /// encrypted), the other columns not set: what a new column gets in
    /// the rows a table already has.
    fn defaults() -> <Self as Resource>::ActiveModel
    where
        Self: Resource;
    /// The changes of a PUT: every writable field replaced.
    fn replace_row(input: <Self as Resource>::Create, id: Uuid, now: DateTime<Utc>) -> <Self as Resource>::ActiveModel
    where
        Self: Resource;
    /// The changes of a PATCH: the fields present replaced.
    fn patch_row(input: <Self as Resource>::Patch, id: Uuid, now: DateTime<Utc>) -> <Self as Resource>::ActiveModel
    where
        Self: Resource;
    /// The id of a row.
    fn id_of(model: &<Self as Resource>::Model) -> Uuid
    where
        Self: Resource;
    /// The owner of a row.
    fn owner_of(model: &<Self as Resource>::Model) -> Option<Uuid>
    where
        Self: Resource;
    /// The `owner_id` a create body asks for (refused in a PUT body).
    fn requested_owner(input: &<Self as Resource>::Create) -> Option<Uuid>
    where
        Self: Resource;
    /// Runs the validation rules on a create or PUT body.
    fn validate_create(input: &<Self as Resource>::Create, errors: &mut Vec<FieldError>)
    where
        Self: Resource;
    /// Runs the validation rules on the fields a PATCH body carries.
    fn validate_patch(input: &<Self as Resource>::Patch, errors: &mut Vec<FieldError>)
    where
        Self: Resource;
    /// Runs the validation rules on every field of the user's struct.
    fn validate_fields(&self, errors: &mut Vec<FieldError>)
    where
        Self: Resource;
    /// The user's struct from a row.
    fn from_model(model: <Self as Resource>::Model) -> Result<Record<Self>, DecodeError>
    where
        Self: Resource;
    /// The row of a record: every column, the inverse of `from_model`.
    fn into_model(record: Record<Self>) -> <Self as Resource>::Model
    where
        Self: Resource;
    /// Writes the fields a client may see (neither `write_only` nor
    /// `hidden`) into the map of a record's JSON.
    fn serialize_visible_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>
    where
        Self: Resource;
}

/// The row `id` of `T` once `subject` may do `action` on it: 404 if missing
/// or not readable by the caller, 403 if readable but not allowed. The one
/// load-and-authorize of every route that acts on an object.
pub(crate) async fn load_authorized<T: Resource>(
    db: &impl ConnectionTrait,
    subject: &Subject,
    action: &str,
    id: Uuid,
) -> ApiResult<T::Model> {
    let select = T::Entity::find().filter(T::ID.eq(id));
    load_authorized_in(db, T::SPEC, subject, action, (id, select), T::owner_of).await
}

/// The object `id` of `spec`'s type that `select` picks, once `subject` may
/// do `action` on it (404 / 403 as [`load_authorized`]): for any table
/// whose rows carry ACL entries, resources and templates alike.
pub(crate) async fn load_authorized_in<E: EntityTrait>(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    subject: &Subject,
    action: &str,
    (id, select): (Uuid, Select<E>),
    owner_of: fn(&E::Model) -> Option<Uuid>,
) -> ApiResult<E::Model> {
    let (model, entries) = load_with_entries(db, spec, subject, select).await?;
    access::authorize_joined(spec, subject, action, (id, owner_of(&model)), entries)?;
    Ok(model)
}

/// The one row `select` picks (an object of `spec`'s type, by id) and the
/// ACL entries that could decide on it for `subject`, in one query; 404
/// when there is no such row.
pub(crate) async fn load_with_entries<E: EntityTrait>(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    subject: &Subject,
    select: Select<E>,
) -> ApiResult<(E::Model, Vec<AclEntry>)> {
    let (row, entries) = joined_rows(db, spec, subject, select.into_query()).await?;
    let model = E::Model::from_query_result(&row, "").map_err(|err| db_error(spec, err))?;
    Ok((model, entries))
}

/// The row `select` picks from `spec`'s table (by id) and the ACL entries
/// that could decide on it for `subject`, in one query; 404 when there is
/// no such row.
pub(crate) async fn joined_rows(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    subject: &Subject,
    mut select: SelectStatement,
) -> ApiResult<(QueryResult, Vec<AclEntry>)> {
    // A role in `acl_allow_always` decides before any entry.
    let needs_entries = !subject.caller.holds_any(spec.acl_allow_always);
    if needs_entries {
        access::join_entries(&mut select, spec, subject);
    }
    let rows = db.query_all_raw(db.get_database_backend().build(&select)).await.map_err(|err| db_error(spec, err))?;
    let entries = if needs_entries {
        rows.iter().map(access::joined_entry).filter_map(Result::transpose).collect::<ApiResult<_>>()?
    } else {
        Vec::new()
    };
    let first = rows.into_iter().next().ok_or_else(|| ApiError::not_found(spec.name))?;
    Ok((first, entries))
}
