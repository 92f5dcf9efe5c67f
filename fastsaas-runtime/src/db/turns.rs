//! Taking turns: a check that reads the database and the write it guards
//! (the last admin of an organization leaving, a template moving under
//! another) must not interleave with the same check elsewhere, or two
//! requests that are each fine alone break the invariant together.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement};

use super::begin_write;

/// Begins a write transaction that holds the turn named `key` until it
/// ends: no other transaction holding that turn runs meanwhile. On
/// PostgreSQL it is a transaction-level advisory lock on the key; SQLite has
/// one writer at a time, and [`begin_write`] takes its write lock at
/// `BEGIN`, which is the turn for every key. The checks read, and the
/// guarded write writes, through the transaction, so that a turn needs one
/// connection however many wait for it.
pub(crate) async fn begin_turn(db: &DatabaseConnection, key: &str) -> Result<DatabaseTransaction, DbErr> {
    let transaction = begin_write(db).await?;
    let backend = transaction.get_database_backend();
    if backend == DbBackend::Postgres {
        let lock = Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock(hashtext('fastsaas:' || $1))",
            [key.into()],
        );
        transaction.execute_raw(lock).await?;
    }
    Ok(transaction)
}
