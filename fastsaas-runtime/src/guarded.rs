//! What the ACL routes need of a type: its description and the owner of
//! one of its objects. Every resource is guarded, and so are the templates
//! of a templated one.

use std::future::Future;

use fastsaas_core::{ApiError, ApiResult, ResourceSpec};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::db_error;
use crate::resource::Resource;

/// A type whose objects have an owner and ACL entries.
pub(crate) trait Guarded: Send + Sync + 'static {
    /// The type's description (its name is the type of its ACL entries).
    fn spec() -> &'static ResourceSpec;

    /// The owner of object `id`, or 404 when there is no such object.
    fn owner(db: &DatabaseConnection, id: Uuid) -> impl Future<Output = ApiResult<Option<Uuid>>> + Send;
}

impl<T: Resource> Guarded for T {
    fn spec() -> &'static ResourceSpec {
        T::SPEC
    }

    async fn owner(db: &DatabaseConnection, id: Uuid) -> ApiResult<Option<Uuid>> {
        let model = T::Entity::find()
            .filter(T::ID.eq(id))
            .one(db)
            .await
            .map_err(|err| db_error(T::SPEC, err))?
            .ok_or_else(|| ApiError::not_found(T::SPEC.name))?;
        Ok(T::owner_of(&model))
    }
}
