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

/// Mounts the `#[endpoint(...)]` methods of an `impl` block of a resource
/// under its scope, when the resource is registered with
/// [`App::resource`] — no second registration.
///
/// `#[endpoint(method, "/path", action = "name")]`: `method` is `get`,
/// `post`, `put`, `patch` or `delete`; the path starts with `/` and the
/// object's id in it is `{id}`. The framework checks who may call the
/// route **before the handler runs**, whatever the handler takes:
///
/// - `action = "name"` (default: `read` for `get`, `update` otherwise): on
///   a path with `{id}`, the caller needs the action on that object (404 if
///   it may not read it, 403 if it may read but not act), and the loaded
///   object reaches an [`Authorized<T>`] argument without a second query; on
///   a path without `{id}`, it needs the action type-wide (403). Custom
///   actions are granted and denied by ACL entries like the built-in ones.
/// - `signed_in`: anyone with valid credentials (401 otherwise).
/// - `public`: anyone, with or without credentials.
///
/// Handlers are `async fn`s taking axum extractors and the framework's
/// ([`Ctx`], [`Principal`], [`Authorized<T>`], [`Json<T>`] for a body with
/// the framework's error rules) and returning anything that implements
/// `IntoResponse`. Each appears in `/openapi.json` with its path
/// parameters, its JSON body if it takes one, who may call it, and its doc
/// comment.
///
/// ```
/// use fastsaas::prelude::*;
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/agents")]
/// pub struct Agent {
///     pub name: String,
///     #[crud(read_only, default = "idle")]
///     pub status: String,
/// }
///
/// #[derive(Serialize)]
/// pub struct AgentStatus {
///     status: String,
/// }
///
/// #[endpoints]
/// impl Agent {
///     /// The agent's status.
///     #[endpoint(get, "/{id}/status")]
///     async fn status(agent: Authorized<Agent>) -> Json<AgentStatus> {
///         Json(AgentStatus { status: agent.data.status.clone() })
///     }
///
///     /// Wakes the agent up (needs the `wake` permission).
///     #[endpoint(post, "/{id}/wake", action = "wake")]
///     async fn wake(agent: Authorized<Agent>) -> ApiResult<Json<AgentStatus>> {
///         Ok(Json(AgentStatus { status: format!("{} is awake", agent.name) }))
///     }
///
///     /// The service's version, for anyone.
///     #[endpoint(get, "/version", public)]
///     async fn version() -> &'static str {
///         "1"
///     }
/// }
///
/// let app = App::new(Default::default()).resource::<Agent>();
/// ```
pub use fastsaas_macros::endpoints;

/// Marks a method of an [`endpoints`] block as a route.
pub use fastsaas_macros::endpoint;

pub use fastsaas_core::{
    Access, ApiError, ApiResult, Environment, FieldError, FieldKind, FieldSpec, Operation, OperationSet, Page, Problem,
    ProblemKind, ResourceSpec, Rule, Secret, Settings, SettingsError, error::FieldErrorCode,
};
pub use fastsaas_runtime::{
    App, AppState, Ctx, DEFAULT_PAGE_SIZE, DecodeError, Field, MAX_PAGE, MAX_PAGE_SIZE, NewRow, Principal,
    PrincipalKind, Record, Records, Resealed, Resource, Route, RouteAction, SUPERADMIN, StartupError, StringEnum,
    reseal,
};

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

/// The access rules as a pure function, for tools and tests.
pub use fastsaas_core::acl;

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

/// The database layer (SeaORM), re-exported so your code and FastSaaS share
/// one version: `<Item as Resource>::Entity` is a SeaORM entity.
pub use fastsaas_runtime::sea_orm;

/// What an app usually needs: `use fastsaas::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, ApiResult, App, Authorized, Crud, CrudEnum, Ctx, DateTime, Json, Page, Principal, Record, Resource,
        Route, StartupError, Templated, Utc, Uuid, endpoint, endpoints, serde_json,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Items the derive macros' output names. Not a public API: it changes
/// without notice.
#[doc(hidden)]
pub mod __private {
    pub use fastsaas_core::{Access, FieldError, FieldKind, FieldSpec, Operation, OperationSet, ResourceSpec, Rule};
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
    pub use fastsaas_runtime::{AppState, DecodeError, Field, NewRow, Record, Resource, StringEnum, Templated};
    pub use serde;
    pub use std::string::String;
    pub use std::vec;
    pub use std::vec::Vec;
    pub use uuid::Uuid;

    /// The type of the `created_at` and `updated_at` columns.
    pub type DateTimeUtc = chrono::DateTime<chrono::Utc>;
}
