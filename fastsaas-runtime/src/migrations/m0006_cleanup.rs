//! Deleting an object deletes its ACL entries and API keys in the same
//! transaction (see `db::cleanup`): the PostgreSQL function the triggers
//! call, the templates' trigger, and an index for entries by principal
//! (removed with a deleted user).

use sea_orm_migration::prelude::*;

use super::m0001_identity::index;
use crate::db::cleanup;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_cleanup"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            db.execute_unprepared(cleanup::POSTGRES_FUNCTION).await?;
        }
        cleanup::ensure_trigger(db, "fastsaas_templates", "").await?;
        manager.create_index(index("idx_fastsaas_acl_principal", "fastsaas_acl_entries", &["principal_id"])).await
    }
}
