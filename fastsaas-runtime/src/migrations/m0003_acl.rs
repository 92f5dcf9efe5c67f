//! ACL entries: allow or deny one principal one action on one object of a
//! resource type, or on the whole type.

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_acl"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_acl_entries")
                    .col(id())
                    .col(ColumnDef::new("resource_type").string().not_null())
                    .col(ColumnDef::new("object_id").uuid().null())
                    .col(ColumnDef::new("principal_id").uuid().not_null())
                    .col(ColumnDef::new("action").string().not_null())
                    .col(ColumnDef::new("effect").string().not_null())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await?;
        // Lookups go by type and principal (a caller's entries), and by
        // object (an object's entries, and the list filter).
        for (name, columns) in [
            ("idx_fastsaas_acl_type_principal", &["resource_type", "principal_id", "action"][..]),
            ("idx_fastsaas_acl_object", &["object_id"][..]),
        ] {
            manager.create_index(index(name, "fastsaas_acl_entries", columns)).await?;
        }
        Ok(())
    }
}
