//! Periodic tasks (see `tasks::schedule`): the last slot of each schedule
//! that a process enqueued.

use sea_orm_migration::prelude::*;

use super::m0001_identity::timestamp;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_schedules"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_schedules")
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    // Seconds since the epoch: compared as numbers on both
                    // databases, whatever the processes' text of a time.
                    .col(ColumnDef::new("last_slot").big_integer().not_null())
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await
    }
}
