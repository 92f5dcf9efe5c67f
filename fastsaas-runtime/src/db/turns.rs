//! Taking turns: a check that reads the database and the write it guards
//! (the last admin of an organization leaving, a template moving under
//! another) must not interleave with the same check elsewhere, or two
//! requests that are each fine alone break the invariant together.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};

/// Waits until no other transaction holds the turn named `key`, then holds
/// it until `transaction` ends. On PostgreSQL it is a transaction-level
/// advisory lock on the key; SQLite has one writer at a time, so taking
/// its write lock (a write that changes nothing) is the turn for every key.
/// The checks read, and the guarded write writes, through `transaction`,
/// so that a turn needs one connection however many wait for it.
pub(crate) async fn take_turn(transaction: &DatabaseTransaction, key: &str) -> Result<(), DbErr> {
    let backend = transaction.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock(hashtext('fastsaas:' || $1))",
            [key.into()],
        ),
        _ => Statement::from_string(backend, "UPDATE fastsaas_migrations SET version = version WHERE 1 = 0"),
    };
    transaction.execute_raw(statement).await.map(drop)
}
