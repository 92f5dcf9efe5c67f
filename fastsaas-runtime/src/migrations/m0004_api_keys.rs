//! API keys of authenticated resources (`#[crud(authenticated)]`).

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_api_keys")
                    .col(id())
                    .col(ColumnDef::new("resource_type").string().not_null())
                    .col(ColumnDef::new("resource_id").uuid().not_null())
                    .col(ColumnDef::new("key_hash").string().not_null().unique_key())
                    .col(timestamp("created_at"))
                    .col(ColumnDef::new("last_used_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_fastsaas_api_keys_resource",
                "fastsaas_api_keys",
                &["resource_type", "resource_id"],
            ))
            .await
    }
}
