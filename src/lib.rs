#![doc = include_str!("../README.md")]

/// Turns a plain struct into a FastSaaS resource: a table, REST routes,
/// validation and OpenAPI schemas. Every option is in the
/// [attribute reference](crate#attribute-reference).
///
/// ```
/// use fastsaas::prelude::*;
///
/// /// A thing users keep.
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/items", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
/// #[crud(ops(create, read, update, delete, list, clear), table = "items")]
/// pub struct Item {
///     #[crud(validate(length(min = 1, max = 100)), filter, sort, unique)]
///     pub name: String,
///     pub config: serde_json::Value,
///     #[crud(read_only, default = "idle")]
///     pub status: String,
///     #[crud(write_only)]
///     pub secret: Option<String>,
/// }
///
/// assert_eq!(<Item as Resource>::SPEC.table, "items");
/// ```
pub use fastsaas_macros::Crud;

/// Makes an enum of unit variants a field type, stored and sent as its
/// serialized name (`serde`'s `rename_all` and `rename` are honoured).
///
/// ```
/// use fastsaas::prelude::*;
///
/// #[derive(CrudEnum, Clone, Debug, Serialize, Deserialize)]
/// #[serde(rename_all = "snake_case")]
/// pub enum Status {
///     Idle,
///     Busy,
/// }
///
/// assert_eq!(<Status as fastsaas::StringEnum>::VARIANTS, ["idle", "busy"]);
/// ```
pub use fastsaas_macros::CrudEnum;

pub use fastsaas_core::{
    Access, ApiError, ApiResult, Environment, FieldError, FieldKind, FieldSpec, Operation, OperationSet, Page, Problem,
    ProblemKind, ResourceSpec, Rule, Secret, Settings, SettingsError, error::FieldErrorCode,
};
pub use fastsaas_runtime::{
    App, AppState, DEFAULT_PAGE_SIZE, DecodeError, Field, MAX_PAGE, MAX_PAGE_SIZE, NewRow, Principal, PrincipalKind,
    Record, Resource, RouteAction, SUPERADMIN, StartupError, StringEnum, testing,
};

/// A resource loaded by the `{id}` of the path once the caller passed the
/// access check for the route's action (404 if it may not read the object,
/// 403 if it may read but not act, 401 without credentials).
///
/// ```
/// use fastsaas::axum::routing::get;
/// use fastsaas::prelude::*;
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/items")]
/// pub struct Item {
///     pub name: String,
/// }
///
/// async fn shout(item: Authorized<Item>) -> String {
///     item.data.name.to_uppercase()
/// }
///
/// let app = App::new(Default::default()).resource::<Item>().route("/items/{id}/shout", get(shout));
/// ```
pub use fastsaas_runtime::Authorized;

/// The access rules as a pure function, for tools and tests.
pub use fastsaas_core::acl;

/// JSON values, for `serde_json::Value` fields and handlers.
pub use serde_json;

pub use chrono::{DateTime, Utc};
pub use uuid::Uuid;

/// The web layer (axum), re-exported for routes of your own.
pub use fastsaas_runtime::axum;

/// The database layer (SeaORM), re-exported so your code and FastSaaS share
/// one version: `<Item as Resource>::Entity` is a SeaORM entity.
pub use fastsaas_runtime::sea_orm;

/// What an app usually needs: `use fastsaas::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, ApiResult, App, Authorized, Crud, CrudEnum, DateTime, Page, Principal, Record, Resource,
        StartupError, Utc, Uuid, serde_json,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Items the derive macros' output names. Not a public API: it changes
/// without notice.
#[doc(hidden)]
pub mod __private {
    pub use fastsaas_core::{Access, FieldError, FieldKind, FieldSpec, Operation, OperationSet, ResourceSpec, Rule};
    pub use fastsaas_runtime::field::{enum_from_stored, enum_to_stored, present};
    pub use fastsaas_runtime::sea_orm;
    pub use fastsaas_runtime::validate::check;
    pub use fastsaas_runtime::{DecodeError, Field, NewRow, Record, Resource, StringEnum};
    pub use serde;
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use uuid::Uuid;

    /// The type of the `created_at` and `updated_at` columns.
    pub type DateTimeUtc = chrono::DateTime<chrono::Utc>;
}
