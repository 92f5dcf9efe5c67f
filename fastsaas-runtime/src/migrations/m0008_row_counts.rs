//! Row counts per owner for lists' totals (see `db::counts`): the counters'
//! table and the PostgreSQL function the counting triggers call. Each
//! resource table gets its triggers, and its counters, at start-up.

use sea_orm_migration::prelude::*;

use crate::db::counts;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_row_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(counts::COUNTS_TABLE)
                    .col(ColumnDef::new("resource_type").string().not_null())
                    .col(ColumnDef::new("owner_id").uuid().not_null())
                    .col(ColumnDef::new("stripe").integer().not_null())
                    .col(ColumnDef::new("row_count").big_integer().not_null())
                    .primary_key(Index::create().col("resource_type").col("owner_id").col("stripe"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            manager.get_connection().execute_unprepared(&counts::postgres_function()).await?;
        }
        Ok(())
    }
}
