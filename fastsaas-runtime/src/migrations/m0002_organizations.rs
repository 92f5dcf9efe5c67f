//! Organizations and their members.

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, reference, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_organizations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_organizations")
                    .col(id())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_memberships")
                    .col(ColumnDef::new("organization_id").uuid().not_null())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(ColumnDef::new("role").string().not_null())
                    .col(timestamp("created_at"))
                    .primary_key(Index::create().col("organization_id").col("user_id"))
                    .foreign_key(&mut reference("organization_id", "fastsaas_organizations"))
                    .foreign_key(&mut reference("user_id", "fastsaas_users"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_fastsaas_memberships_user_id", "fastsaas_memberships", &["user_id"])).await
    }
}
