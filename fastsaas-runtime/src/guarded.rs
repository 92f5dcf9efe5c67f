//! What the ACL routes need of a type: its description, and one of its
//! objects' owner together with the entries that decide on it. Every
//! resource is guarded, and so are the templates of a templated one.

use std::future::Future;

use fastsaas_core::acl::AclEntry;
use fastsaas_core::{ApiResult, ResourceSpec};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access::Subject;
use crate::resource::{Resource, load_with_entries};

/// An object's owner and the ACL entries that could decide on it for one
/// subject, read in one query.
pub(crate) struct Held {
    /// The owner, if any.
    pub(crate) owner: Option<Uuid>,
    /// The entries.
    pub(crate) entries: Vec<AclEntry>,
}

/// A type whose objects have an owner and ACL entries.
pub(crate) trait Guarded: Send + Sync + 'static {
    /// The type's description (its name is the type of its ACL entries).
    fn spec() -> &'static ResourceSpec;

    /// The owner of object `id` and the entries deciding on it for
    /// `subject`, or 404 when there is no such object.
    fn held(db: &DatabaseConnection, subject: &Subject, id: Uuid) -> impl Future<Output = ApiResult<Held>> + Send;
}

impl<T: Resource> Guarded for T {
    fn spec() -> &'static ResourceSpec {
        T::SPEC
    }

    async fn held(db: &DatabaseConnection, subject: &Subject, id: Uuid) -> ApiResult<Held> {
        let select = T::Entity::find().filter(T::ID.eq(id));
        let (model, entries) = load_with_entries(db, T::SPEC, subject, select).await?;
        Ok(Held { owner: T::owner_of(&model), entries })
    }
}
