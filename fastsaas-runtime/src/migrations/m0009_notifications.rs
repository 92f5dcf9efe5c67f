//! Notifications, each numbered per recipient (see `notify::store`).

use sea_orm_migration::prelude::*;

use super::m0001_identity::{id, index, reference, timestamp};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_notifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The last number given to each recipient: its row is locked by
        // the transaction that takes the next one, until it commits.
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_notification_seqs")
                    .col(ColumnDef::new("recipient_id").uuid().not_null().primary_key())
                    .col(ColumnDef::new("last_seq").big_integer().not_null())
                    .foreign_key(&mut reference("recipient_id", "fastsaas_users"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fastsaas_notifications")
                    .col(id())
                    .col(ColumnDef::new("recipient_id").uuid().not_null())
                    .col(ColumnDef::new("seq").big_integer().not_null())
                    .col(ColumnDef::new("kind").string().not_null())
                    .col(ColumnDef::new("message").text().not_null())
                    .col(ColumnDef::new("payload").json_binary().not_null())
                    .col(timestamp("created_at"))
                    .col(ColumnDef::new("read_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut reference("recipient_id", "fastsaas_users"))
                    .to_owned(),
            )
            .await?;
        // Replay, lists and retention walk one recipient's numbers.
        manager
            .create_index(
                Index::create()
                    .name("idx_fastsaas_notifications_seq")
                    .table("fastsaas_notifications")
                    .col("recipient_id")
                    .col("seq")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The age chore deletes by creation time.
        manager
            .create_index(index("idx_fastsaas_notifications_created", "fastsaas_notifications", &["created_at"]))
            .await
    }
}
