//! Templates of `#[crud(templated)]` resources (API.md, "Templates"):
//! named, owned, ACL-guarded sets of field values, chained to parents and
//! deep-merged, that new objects are cloned from.
//!
//! A template's `params` hold values of the resource's readable and
//! writable fields (checked like a PATCH body; `null` removes a value
//! inherited from the parent). A clone deep-merges the resolved params with
//! its overrides and then takes exactly the create path of the resource:
//! validation, defaults, ownership and the `create` check, plus `read` on
//! the template. A clone is a copy: later changes to its template do not
//! reach it.

mod chain;
mod entity;
pub(crate) mod load;
pub(crate) mod routes;

use std::marker::PhantomData;

use fastsaas_core::{ApiResult, ResourceSpec};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use chain::MAX_DEPTH;

use crate::access::Subject;
use crate::guarded::{Guarded, Held};
use crate::resource::{Resource, load_with_entries};

/// A resource with templates: implemented by `#[derive(Crud)]` for a type
/// marked `#[crud(templated)]`, never by hand.
pub trait Templated: Resource {
    /// The description of the templates (`"<Type>Template"`, `{scope}/templates`).
    const TEMPLATES: &'static ResourceSpec;
}

/// The templates of `T`, as a guarded type of their own.
pub(crate) struct Templates<T>(PhantomData<T>);

impl<T: Templated> Guarded for Templates<T> {
    fn spec() -> &'static ResourceSpec {
        T::TEMPLATES
    }

    async fn held(db: &DatabaseConnection, subject: &Subject, id: Uuid) -> ApiResult<Held> {
        let (template, entries) = load_with_entries(db, T::TEMPLATES, subject, chain::by_id(T::TEMPLATES, id)).await?;
        Ok(Held { owner: template.owner_id, entries })
    }
}
