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
mod routes;

use std::future::Future;
use std::marker::PhantomData;

use fastsaas_core::{ApiResult, ResourceSpec};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

pub use chain::MAX_DEPTH;
pub use routes::mount;

use crate::access::Subject;
use crate::ctx::Ctx;
use crate::guarded::{Guarded, Held};
use crate::resource::{Record, Resource, load_with_entries, record_of};

/// A resource with templates: implemented by `#[derive(Crud)]` for a type
/// marked `#[crud(templated)]`, never by hand.
pub trait Templated: Resource {
    /// The description of the templates (`"<Type>Template"`, `{scope}/templates`).
    const TEMPLATES: &'static ResourceSpec;

    /// Clones template `template_id` as the caller of `ctx`, exactly as
    /// `POST {scope}/templates/{id}/clone` does: the resolved params
    /// deep-merged with `overrides` (an object of field values, and
    /// optionally `owner_id`), then the create path. Needs `read` on the
    /// template and `create` on the type.
    ///
    /// See the `fastsaas` crate for an example.
    fn clone_from_template(
        ctx: &Ctx,
        template_id: Uuid,
        overrides: Value,
    ) -> impl Future<Output = ApiResult<Record<Self>>> + Send {
        async move {
            let model = routes::clone_template::<Self>(ctx.app(), ctx.principal(), template_id, overrides).await?;
            record_of::<Self>(ctx.app(), model)
        }
    }
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
