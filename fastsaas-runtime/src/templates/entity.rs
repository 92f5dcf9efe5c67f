//! `fastsaas_templates`: the templates of every templated resource type.

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A template. Its JSON is the API's template record.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "fastsaas_templates")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: Uuid,
    /// The templates' type name (`AgentTemplate`), as in ACL entries.
    #[serde(skip)]
    pub(crate) resource_type: String,
    pub(crate) name: String,
    pub(crate) parent_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub(crate) params: Json,
    pub(crate) owner_id: Option<Uuid>,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
