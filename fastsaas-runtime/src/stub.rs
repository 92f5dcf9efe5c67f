//! Not a public API. What a failed `#[derive(Crud)]` implements beside its
//! `compile_error!`, so that the type's later uses (`App::resource::<T>()`,
//! `Authorized<T>`, an `#[endpoints]` block) add no second error: the one
//! that names the mistake is the only one the user reads. Nothing here
//! runs, since the crate does not compile.

pub use chrono::{DateTime, Utc};
pub use fastsaas_core::{FieldError, ResourceSpec};
pub use serde::ser::SerializeMap;
pub use uuid::Uuid;

/// The entity of every stub: one column, never created.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A stub row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "fastsaas_stub")]
    pub struct Model {
        /// Its id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The description of every stub.
pub static SPEC: ResourceSpec = ResourceSpec::new("Stub", "/stub", "fastsaas_stub");

/// Implements the resource traits for `$ty` with the stub entity.
#[doc(hidden)]
#[macro_export]
macro_rules! stub_resource {
    ($ty:ty) => {
        const _: () = {
            use $crate::stub::entity;
            impl $crate::Resource for $ty {
                type Entity = entity::Entity;
                type Model = entity::Model;
                type ActiveModel = entity::ActiveModel;
                type Column = entity::Column;
                type Create = ();
                type Patch = ();
                const SPEC: &'static $crate::stub::ResourceSpec = &$crate::stub::SPEC;
                const ID: entity::Column = entity::Column::Id;
                const CREATED_AT: entity::Column = entity::Column::Id;
            }
            impl $crate::ResourceGlue for $ty {
                fn new_row(_: (), _: $crate::NewRow) -> entity::ActiveModel {
                    ::core::unreachable!()
                }
                fn defaults() -> entity::ActiveModel {
                    ::core::unreachable!()
                }
                fn replace_row(
                    _: (),
                    _: $crate::stub::Uuid,
                    _: $crate::stub::DateTime<$crate::stub::Utc>,
                ) -> entity::ActiveModel {
                    ::core::unreachable!()
                }
                fn patch_row(
                    _: (),
                    _: $crate::stub::Uuid,
                    _: $crate::stub::DateTime<$crate::stub::Utc>,
                ) -> entity::ActiveModel {
                    ::core::unreachable!()
                }
                fn id_of(_: &entity::Model) -> $crate::stub::Uuid {
                    ::core::unreachable!()
                }
                fn owner_of(_: &entity::Model) -> ::core::option::Option<$crate::stub::Uuid> {
                    ::core::unreachable!()
                }
                fn requested_owner(_: &()) -> ::core::option::Option<$crate::stub::Uuid> {
                    ::core::unreachable!()
                }
                fn validate_create(_: &(), _: &mut ::std::vec::Vec<$crate::stub::FieldError>) {}
                fn validate_patch(_: &(), _: &mut ::std::vec::Vec<$crate::stub::FieldError>) {}
                fn validate_fields(&self, _: &mut ::std::vec::Vec<$crate::stub::FieldError>) {}
                fn from_model(_: entity::Model) -> ::core::result::Result<$crate::Record<Self>, $crate::DecodeError> {
                    ::core::unreachable!()
                }
                fn into_model(_: $crate::Record<Self>) -> entity::Model {
                    ::core::unreachable!()
                }
                fn serialize_visible_fields<M: $crate::stub::SerializeMap>(
                    &self,
                    _: &mut M,
                ) -> ::core::result::Result<(), M::Error> {
                    ::core::unreachable!()
                }
            }
            impl $crate::endpoints::ResourceRoutes for $ty {}
        };
    };
}
