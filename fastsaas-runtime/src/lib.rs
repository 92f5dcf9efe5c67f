//! The machinery of FastSaaS: the [`App`] builder, the database layer,
//! identity and access control, the generic CRUD handlers every resource
//! shares, templates, custom endpoints, OpenAPI, and the test client.
//!
//! Users reach all of this through the `fastsaas` facade; the derive macros
//! generate implementations of [`Resource`] and [`Field`] that these generic
//! functions are written against.

mod access;
mod acl_routes;
mod app;
mod app_config;
mod authorized;
mod body;
mod cache;
mod cached;
mod cors;
mod crud;
mod ctx;
mod cursor;
pub mod db;
mod docs;
pub mod endpoints;
mod error;
mod expand;
pub mod field;
mod guarded;
mod health;
mod http;
pub mod identity;
mod json;
mod keys;
mod metrics_routes;
mod migrations;
mod nested;
mod notify;
mod openapi;
mod query;
mod records;
mod references;
mod registry;
pub mod resource;
mod route_table;
mod routes;
mod seal;
mod server;
mod state;
mod store;
#[doc(hidden)]
pub mod stub;
mod tasks;
mod telemetry;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validate;

pub use app::App;
pub use authorized::{Authorized, RouteAction};
pub use ctx::Ctx;
pub use endpoints::{Endpoint, Endpoints};
pub use error::{SchemaDifference, StartupError};
pub use field::{DecodeError, Field, StringEnum};
pub use identity::{Principal, PrincipalKind, SUPERADMIN};
pub use json::Json;
pub use query::{DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE};
pub use records::Records;
pub use resource::{NewRow, Record, Resource, ResourceGlue};
pub use route_table::Route;
pub use seal::Resealed;
pub use state::AppState;
pub use state::reseal;
pub use tasks::enqueue::{Enqueued, Tasks};
pub use tasks::{NewTask, Task, TaskError, TaskResult, TaskStatus, TaskView};
pub use templates::Templated;

/// Re-exported so generated code and users share the exact versions.
pub use sea_orm;

/// Re-exported for routes of your own ([`App::route`]).
pub use axum;

/// Re-exported so that endpoint bodies and responses can
/// `#[derive(utoipa::ToSchema)]` against the version the docs are built with.
pub use utoipa;

/// Re-exported for metrics of your own ([`App::metrics`]).
pub use prometheus_client;
