//! Users, roles, role memberships and refresh tokens.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_identity"
    }
}

pub(super) fn id() -> ColumnDef {
    ColumnDef::new("id").uuid().not_null().primary_key().to_owned()
}

pub(super) fn timestamp(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().to_owned()
}

/// An index named `name` on `columns` of `table`, in that order.
pub(super) fn index(name: &str, table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

pub(super) fn reference(column: &'static str, table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create().from_col(column).to(table, "id").on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_users")
                    .col(id())
                    .col(ColumnDef::new("email").string().not_null().unique_key())
                    .col(ColumnDef::new("name").string().null())
                    .col(ColumnDef::new("password_hash").string().not_null())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_roles")
                    .col(id())
                    .col(ColumnDef::new("name").string().not_null().unique_key())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_user_roles")
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(ColumnDef::new("role_id").uuid().not_null())
                    .col(timestamp("created_at"))
                    .primary_key(Index::create().col("user_id").col("role_id"))
                    .foreign_key(&mut reference("user_id", "fastsaas_users"))
                    .foreign_key(&mut reference("role_id", "fastsaas_roles"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_refresh_tokens")
                    .col(id())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(ColumnDef::new("family_id").uuid().not_null())
                    .col(ColumnDef::new("token_hash").string().not_null().unique_key())
                    .col(timestamp("created_at"))
                    .col(timestamp("expires_at"))
                    .col(ColumnDef::new("used_at").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("revoked_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut reference("user_id", "fastsaas_users"))
                    .to_owned(),
            )
            .await?;
        for (table, column) in [("fastsaas_refresh_tokens", "user_id"), ("fastsaas_refresh_tokens", "family_id")] {
            manager.create_index(index(&format!("idx_{table}_{column}"), table, &[column])).await?;
        }
        Ok(())
    }
}
