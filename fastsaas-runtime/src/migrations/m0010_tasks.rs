//! Background tasks (see `tasks::queue`).

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_tasks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_tasks")
                    .col(id())
                    .col(ColumnDef::new("kind").string().not_null())
                    .col(ColumnDef::new("payload").json_binary().not_null())
                    .col(ColumnDef::new("status").string().not_null())
                    .col(ColumnDef::new("priority").integer().not_null())
                    .col(ColumnDef::new("attempt").integer().not_null())
                    .col(ColumnDef::new("max_attempts").integer().not_null())
                    .col(timestamp("run_at"))
                    .col(ColumnDef::new("lease_until").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("unique_key").string().null())
                    .col(ColumnDef::new("subject_type").string().null())
                    .col(ColumnDef::new("subject_id").uuid().null())
                    .col(ColumnDef::new("principal_id").uuid().null())
                    .col(ColumnDef::new("result").json_binary().null())
                    .col(ColumnDef::new("error").text().null())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .col(ColumnDef::new("finished_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Partial indexes (both databases have them): a claim walks the
        // queued tasks in claim order, the rescue the running ones by lease,
        // and a unique key holds only while its task is queued or running.
        for statement in [
            "CREATE INDEX idx_fastsaas_tasks_queued ON fastsaas_tasks (priority DESC, run_at, id) \
             WHERE status = 'queued'",
            "CREATE INDEX idx_fastsaas_tasks_leased ON fastsaas_tasks (lease_until) WHERE status = 'running'",
            "CREATE UNIQUE INDEX idx_fastsaas_tasks_unique ON fastsaas_tasks (kind, unique_key) \
             WHERE unique_key IS NOT NULL AND status IN ('queued', 'running')",
        ] {
            db.execute_unprepared(statement).await?;
        }
        // The tasks of one object, as its list shows them.
        manager
            .create_index(index(
                "idx_fastsaas_tasks_subject",
                "fastsaas_tasks",
                &["subject_type", "subject_id", "created_at", "id"],
            ))
            .await
    }
}
