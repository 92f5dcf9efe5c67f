//! An index of the failed tasks by kind, so that `/metrics` counts them
//! without reading the tasks that succeeded (see `tasks::census`).

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_failed_tasks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_fastsaas_tasks_failed ON fastsaas_tasks (kind) WHERE status = 'failed'",
            )
            .await
            .map(drop)
    }
}
