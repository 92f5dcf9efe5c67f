//! Templates of `#[crud(templated)]` resources, all types in one table.

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_templates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_templates")
                    .col(id())
                    .col(ColumnDef::new("resource_type").string().not_null())
                    .col(ColumnDef::new("owner_id").uuid().null())
                    .col(ColumnDef::new("parent_id").uuid().null())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(ColumnDef::new("params").json_binary().not_null())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await?;
        // Lists filter by type and owner; a delete asks for children.
        for (name, columns) in [
            ("idx_fastsaas_templates_owner", ["resource_type", "owner_id"]),
            ("idx_fastsaas_templates_parent", ["resource_type", "parent_id"]),
        ] {
            manager.create_index(index(name, "fastsaas_templates", &columns)).await?;
        }
        Ok(())
    }
}
