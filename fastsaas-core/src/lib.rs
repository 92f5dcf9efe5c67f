//! The vocabulary of FastSaaS: the types every layer shares.
//!
//! Nothing here talks to a database or runs a server. The runtime
//! (`fastsaas-runtime`) holds the machinery; the macros (`fastsaas-macros`)
//! emit data in these types. Users normally reach them through the `fastsaas`
//! facade.

pub mod acl;
pub mod endpoint;
pub mod error;
pub mod field;
pub mod ops;
pub mod page;
pub mod resource;
pub mod settings;

pub use endpoint::{EndpointAccess, EndpointMethod, EndpointSpec, PathParam};
pub use error::{ApiError, ApiResult, FieldError, Problem, ProblemKind};
pub use field::{Access, FieldKind, FieldSpec, OnDelete, Reference, Rule};
pub use ops::{Operation, OperationSet};
pub use page::Page;
pub use resource::ResourceSpec;
pub use settings::{Environment, Secret, Settings, SettingsError, SqliteSynchronous};
