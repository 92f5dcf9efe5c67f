//! A caller's entries for a type and action are read before every list and
//! type-wide check: an index that holds the columns that query returns
//! answers it without reading the table. It replaces the index on type,
//! principal and action, a prefix of it.

use sea_orm_migration::prelude::*;

use super::m0001_identity::index;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_acl_lookup"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = ["resource_type", "principal_id", "action", "effect", "object_id"];
        manager.create_index(index("idx_fastsaas_acl_lookup", "fastsaas_acl_entries", &columns)).await?;
        manager
            .drop_index(Index::drop().name("idx_fastsaas_acl_type_principal").table("fastsaas_acl_entries").to_owned())
            .await
    }
}
