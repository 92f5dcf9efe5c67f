//! The trait every `#[derive(Crud)]` type implements: the glue between the
//! user's struct, its SeaORM entity and the generic handlers.

use chrono::{DateTime, Utc};
use fastsaas_core::{FieldError, ResourceSpec};
use sea_orm::{ActiveModelBehavior, ActiveModelTrait, EntityTrait, FromQueryResult, IntoActiveModel, ModelTrait};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use fastsaas_core::ApiError;

use crate::app::AppState;
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record<T> {
    /// The id.
    pub id: Uuid,
    /// The owner, if any.
    pub owner_id: Option<Uuid>,
    /// The template the record was cloned from, for a templated resource
    /// (absent from the JSON when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
    /// The user's fields.
    #[serde(flatten)]
    pub data: T,
}

/// A resource type: implemented by `#[derive(Crud)]`, never by hand.
///
/// Everything here is glue the derive generates from the struct; the
/// behaviour (routes, validation, storage) lives once in this crate's
/// generic functions, which are written against this trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a FastSaaS resource",
    label = "add `#[derive(Crud)]` and `#[scope(\"/path\")]` to this type",
    note = "only `#[derive(Crud)]` types can be registered with `App::resource`"
)]
pub trait Resource: Sized + Send + Sync + 'static {
    /// The SeaORM entity of the resource's table.
    type Entity: EntityTrait<Model = Self::Model, ActiveModel = Self::ActiveModel, Column = Self::Column>;
    /// A row: framework columns plus the stored form of every field. Its
    /// `Serialize` is the API's record JSON (write-only and hidden fields skipped).
    type Model: ModelTrait<Entity = Self::Entity>
        + FromQueryResult
        + IntoActiveModel<Self::ActiveModel>
        + Serialize
        + Send
        + Sync;
    /// The SeaORM active model.
    type ActiveModel: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send + Sync;
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

    /// A new row from a create body.
    fn new_row(input: Self::Create, row: NewRow) -> Self::ActiveModel;
    /// The changes of a PUT: every writable field replaced.
    fn replace_row(input: Self::Create, id: Uuid, now: DateTime<Utc>) -> Self::ActiveModel;
    /// The changes of a PATCH: the fields present replaced.
    fn patch_row(input: Self::Patch, id: Uuid, now: DateTime<Utc>) -> Self::ActiveModel;
    /// The id of a row.
    fn id_of(model: &Self::Model) -> Uuid;
    /// The owner of a row.
    fn owner_of(model: &Self::Model) -> Option<Uuid>;
    /// The `owner_id` a create body asks for (refused in a PUT body).
    fn requested_owner(input: &Self::Create) -> Option<Uuid>;
    /// Runs the validation rules on a create or PUT body.
    fn validate_create(input: &Self::Create, errors: &mut Vec<FieldError>);
    /// Runs the validation rules on the fields a PATCH body carries.
    fn validate_patch(input: &Self::Patch, errors: &mut Vec<FieldError>);
    /// The user's struct from a row.
    fn from_model(model: Self::Model) -> Result<Record<Self>, DecodeError>;

    /// The templates' routes of a templated resource.
    #[doc(hidden)]
    fn mount_templates(router: axum::Router<AppState>) -> axum::Router<AppState> {
        router
    }

    /// The endpoints of the type's `#[endpoints]` block, if it has one.
    #[doc(hidden)]
    fn custom_endpoints() -> Vec<crate::endpoints::Endpoint> {
        Vec::new()
    }
}

/// The record of a row, or a logged 500 for a row that does not fit its
/// type (edited by hand, or left by an older version of the struct).
pub(crate) fn record_of<T: Resource>(model: T::Model) -> Result<Record<T>, ApiError> {
    T::from_model(model).map_err(|err| {
        tracing::error!(resource = T::SPEC.name, error = %err, "a stored row does not fit its type");
        ApiError::Internal
    })
}
