//! The framework's own tables, created and changed by versioned migrations
//! (sea-orm-migration), recorded in `fastsaas_migrations`.
//!
//! A migration, once released, never changes: a change to a framework table
//! is a new migration appended to [`Migrator::migrations`].

use sea_orm::DatabaseConnection;
use sea_orm_migration::prelude::*;

mod m0001_identity;
mod m0002_organizations;
mod m0003_acl;
mod m0004_api_keys;
mod m0005_templates;
mod m0006_cleanup;
mod m0007_acl_lookup;
mod m0008_row_counts;
mod m0009_notifications;
mod m0010_tasks;
mod m0011_schedules;
mod m0012_claim_function;
mod m0013_failed_tasks;

/// Applies the framework's migrations that a database lacks.
pub(crate) struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_identity::Migration),
            Box::new(m0002_organizations::Migration),
            Box::new(m0003_acl::Migration),
            Box::new(m0004_api_keys::Migration),
            Box::new(m0005_templates::Migration),
            Box::new(m0006_cleanup::Migration),
            Box::new(m0007_acl_lookup::Migration),
            Box::new(m0008_row_counts::Migration),
            Box::new(m0009_notifications::Migration),
            Box::new(m0010_tasks::Migration),
            Box::new(m0011_schedules::Migration),
            Box::new(m0012_claim_function::Migration),
            Box::new(m0013_failed_tasks::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "fastsaas_migrations".into_iden()
    }
}

/// Brings the framework's tables up to date.
pub(crate) async fn run(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
