#![doc = include_str!("../README.md")]

// The guide's chapters, so that their Rust blocks are doc tests.
#[cfg(doctest)]
mod guide;

pub use fastsaas_macros::Crud;

pub use fastsaas_macros::CrudEnum;

pub use fastsaas_macros::endpoints;

pub use fastsaas_macros::endpoint;

// What an app is built from.
pub use fastsaas_core::{Environment, Secret, Settings, SqliteSynchronous};
pub use fastsaas_runtime::{App, AppState, Route, RouteAction, StartupError};

// What handlers take and give back.
pub use fastsaas_core::{ApiError, ApiResult, FieldError, Page};
pub use fastsaas_runtime::{Ctx, Principal, PrincipalKind, Record, Records};

// Background tasks: `App::task` registers a handler, `ctx.tasks()` enqueues.
pub use fastsaas_runtime::{Enqueued, NewTask, Task, TaskError, TaskResult, TaskStatus, TaskView, Tasks};

/// Every `#[derive(Crud)]` type is a `Resource`, whose SeaORM entity
/// queries its table directly:
///
/// ```
/// use fastsaas::prelude::*;
/// use fastsaas::sea_orm::{EntityTrait, QueryFilter, ColumnTrait};
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/items")]
/// pub struct Item {
///     pub name: String,
/// }
///
/// assert_eq!(<Item as Resource>::SPEC.path, "/items");
/// // Every item of one owner, straight from the table.
/// let owner = Uuid::new_v4();
/// let query = <Item as Resource>::Entity::find().filter(<Item as Resource>::Column::OwnerId.eq(owner));
/// # let _ = query;
/// ```
pub use fastsaas_runtime::Resource;

/// A JSON body read with the framework's rules (415 unless declared JSON,
/// 413 over the body limit, 400 problem+json naming every unknown, missing
/// or mistyped member), or a JSON response: the default for custom
/// endpoints' bodies.
///
/// ```
/// use fastsaas::prelude::*;
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/agents")]
/// pub struct Agent {
///     pub name: String,
/// }
///
/// #[derive(Deserialize)]
/// pub struct Rename {
///     name: String,
/// }
///
/// #[endpoints]
/// impl Agent {
///     /// Answers what the agent would be called (`{"nmae": ..}` is a 400
///     /// naming `nmae`).
///     #[endpoint(post, "/{id}/preview", action = "read")]
///     async fn preview(agent: Authorized<Agent>, Json(rename): Json<Rename>) -> Json<String> {
///         Json(format!("{} would be {}", agent.name, rename.name))
///     }
/// }
/// ```
pub use fastsaas_runtime::Json;

/// The in-process test client (the `testing` feature).
#[cfg(feature = "testing")]
pub use fastsaas_runtime::testing;

/// A resource loaded by the `{id}` of the path once the caller passed the
/// access check for the route's action (404 if it may not read the object,
/// 403 if it may read but not act, 401 without credentials).
///
/// ```
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
/// let app = App::new(Default::default()).resource::<Item>().route(Route::get("/items/{id}/shout", shout));
/// ```
pub use fastsaas_runtime::Authorized;

/// A resource marked `#[crud(templated)]`: objects can be cloned from its
/// templates, over HTTP (`POST {scope}/templates/{id}/clone`) or from Rust
/// with the caller's permissions.
///
/// ```
/// use fastsaas::axum::extract::Path;
/// use fastsaas::prelude::*;
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/agents")]
/// #[crud(templated)]
/// pub struct Agent {
///     pub name: String,
///     pub config: serde_json::Value,
/// }
///
/// /// `POST /tonight/{template_id}`: an agent for tonight, from a template.
/// async fn tonight(ctx: Ctx, Path(template_id): Path<Uuid>) -> ApiResult<Json<Record<Agent>>> {
///     let overrides = serde_json::json!({"name": "tonight"});
///     Ok(Json(ctx.records::<Agent>().clone_from_template(template_id, overrides).await?))
/// }
///
/// let app = App::new(Default::default()).resource::<Agent>().route(Route::post("/tonight/{template_id}", tonight));
/// ```
pub use fastsaas_runtime::Templated;

/// Templates of `#[crud(templated)]` resources: [`Templated`] and the
/// chain limit.
pub use fastsaas_runtime::templates;

/// The access rules as a pure function, for tools and tests, and the
/// `superadmin` role.
pub use fastsaas_core::acl;

/// A resource as data: what `#[derive(Crud)]` and `#[endpoints]` describe,
/// read at run time through [`Resource::SPEC`] (tables, routes, OpenAPI).
pub mod spec {
    pub use fastsaas_core::{Access, FieldKind, FieldSpec, Operation, OperationSet, ResourceSpec, Rule};
    pub use fastsaas_core::{EndpointAccess, EndpointMethod, EndpointSpec, PathParam};
}

/// The errors: the one HTTP error shape (problem+json) and its parts, and
/// what start-up and settings report.
pub mod error {
    pub use fastsaas_core::error::FieldErrorCode;
    pub use fastsaas_core::{ApiError, ApiResult, FieldError, Problem, ProblemKind, SettingsError};
    pub use fastsaas_runtime::{DecodeError, SchemaDifference, StartupError};
}

/// Field types: what a struct field of a resource may be. Implement
/// [`Field`](field::Field) for a type of your own, or derive
/// [`CrudEnum`](crate::CrudEnum) for an enum.
pub mod field {
    pub use fastsaas_runtime::{DecodeError, Field, StringEnum};
}

/// The paging rules of every list (`?page=`, `?page_size=`).
pub mod paging {
    pub use fastsaas_core::Page;
    pub use fastsaas_runtime::{DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE};
}

/// `#[crud(encrypted)]` fields: re-sealing stored values under the current
/// key after a key rotation.
pub mod encryption {
    pub use fastsaas_runtime::{Resealed, reseal};
}

/// JSON values, for `serde_json::Value` fields and handlers.
pub use serde_json;

pub use chrono::{DateTime, Utc};
pub use uuid::Uuid;

/// The web layer (axum), re-exported for routes of your own.
pub use fastsaas_runtime::axum;

/// OpenAPI types (utoipa): `#[derive(utoipa::ToSchema)]` on the body and
/// response types of custom endpoints puts their schemas in
/// `/openapi.json`. With `use fastsaas::utoipa;` in scope the derive needs
/// no dependency of your own.
pub use fastsaas_runtime::utoipa;

/// Re-exported for metrics of your own ([`App::metrics`]): its counters,
/// gauges and histograms, registered on the app's registry.
pub use fastsaas_runtime::prometheus_client;

/// The database layer (SeaORM), re-exported so your code and FastSaaS share
/// one version: `<Item as Resource>::Entity` is a SeaORM entity.
pub use fastsaas_runtime::sea_orm;

/// What an app usually needs: `use fastsaas::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, ApiResult, App, AppState, Authorized, Crud, CrudEnum, Ctx, DateTime, Json, NewTask, Page, Principal,
        Record, Resource, Route, StartupError, Task, TaskError, TaskResult, Templated, Utc, Uuid, endpoint, endpoints,
        serde_json,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Items the derive macros' output names. Not a public API: it changes
/// without notice.
#[doc(hidden)]
pub mod __private {
    pub use fastsaas_core::{
        Access, FieldError, FieldKind, FieldSpec, OnDelete, Operation, OperationSet, Reference, ResourceSpec, Rule,
    };
    pub use fastsaas_core::{EndpointAccess, EndpointMethod, EndpointSpec, PathParam};
    pub use fastsaas_runtime::Route;
    pub use fastsaas_runtime::endpoints::template_routes;
    pub use fastsaas_runtime::endpoints::{
        Endpoint, Endpoints, Probe, ResourceRoutes, SchemaProbe, ViaEndpoints, ViaNoSchema, ViaNothing, ViaToSchema,
        checks,
    };
    pub use fastsaas_runtime::field::{StoredType, enum_from_stored, enum_to_stored, options, present};
    pub use fastsaas_runtime::sea_orm;
    pub use fastsaas_runtime::stub_resource;
    pub use fastsaas_runtime::validate::check;
    pub use fastsaas_runtime::{
        AppState, DecodeError, Field, NewRow, Record, Resource, ResourceGlue, StringEnum, Templated,
    };
    pub use serde;
    pub use std::string::String;
    pub use std::vec;
    pub use std::vec::Vec;
    pub use uuid::Uuid;

    /// The type of the `created_at` and `updated_at` columns.
    pub type DateTimeUtc = chrono::DateTime<chrono::Utc>;
}
