//! Connecting to the database and making sure each resource's table exists.

use std::time::Duration;

use fastsaas_core::{ResourceSpec, Settings, SqliteSynchronous};
use sea_orm::sqlx::sqlite::{self, SqliteJournalMode};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, Schema, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::error::StartupError;

pub(crate) mod cleanup;
pub(crate) mod counts;
pub(crate) mod indexes;
pub(crate) mod references;
pub(crate) mod schema;
pub(crate) mod statement;
pub(crate) mod turns;

/// Opens the pool for `settings.database_url`.
///
/// SQLite is opened in WAL mode with a busy timeout and foreign keys on, so
/// readers do not block the writer and concurrent writers wait, not fail,
/// and with the `synchronous` mode of the settings: `NORMAL` unless `FULL`
/// is asked for, so a commit does not hold the write lock through a sync.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    let synchronous = match settings.sqlite_synchronous {
        SqliteSynchronous::Normal => sqlite::SqliteSynchronous::Normal,
        SqliteSynchronous::Full => sqlite::SqliteSynchronous::Full,
    };
    let mut options = ConnectOptions::new(settings.database_url.clone());
    options
        .max_connections(settings.db_max_connections)
        .min_connections(settings.db_min_connections.min(settings.db_max_connections))
        .connect_timeout(Duration::from_secs(settings.db_connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.db_connect_timeout_secs))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // `INSERT OR REPLACE` then fires the delete triggers of the
                // rows it replaces, so that row counts stay exact.
                .pragma("recursive_triggers", "ON")
        });
    Ok(Database::connect(options).await?)
}

/// Begins a transaction that writes. On SQLite it takes the write lock at
/// `BEGIN` (`BEGIN IMMEDIATE`), waiting in the busy handler for another
/// writer to finish: a deferred transaction that read first would have to
/// upgrade its lock later, and fails at once when another commit came
/// in between. PostgreSQL begins as usual.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    db.begin_with_options(options).await
}

/// The database's clock: every process's chores measure ages by it, not by
/// their own clocks, which may disagree.
pub(crate) async fn clock(db: &impl ConnectionTrait) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        }
        _ => "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    };
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await?;
    let text: String = row.ok_or_else(|| DbErr::Custom("the database told no time".into()))?.try_get_by_index(0)?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|time| time.to_utc())
        .map_err(|err| DbErr::Custom(format!("the database's time `{text}`: {err}")))
}

/// Held while one process brings the schema up to date, so that replicas
/// started at the same moment on one PostgreSQL database take turns: the
/// first migrates, the others find the work done. It is a session-level
/// advisory lock, keyed by the schema, on a connection of its own: the
/// database releases it if the process dies. SQLite is a file of one
/// process's own and needs none.
pub(crate) struct SchemaLock(Option<DatabaseConnection>);

/// Takes the lock of the current schema; `hashtext` folds its name into
/// the lock's key, so apps in other schemas of one database do not wait.
const TAKE_SCHEMA_LOCK: &str = "SELECT pg_advisory_lock(hashtext('fastsaas:' || current_schema()))";
const RELEASE_SCHEMA_LOCK: &str = "SELECT pg_advisory_unlock(hashtext('fastsaas:' || current_schema()))";

impl SchemaLock {
    /// Waits for the lock (PostgreSQL only).
    pub(crate) async fn acquire(db: &DatabaseConnection, settings: &Settings) -> Result<SchemaLock, StartupError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(SchemaLock(None));
        }
        let mut options = ConnectOptions::new(settings.database_url.clone());
        options
            .max_connections(1)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(settings.db_connect_timeout_secs))
            .sqlx_logging(false);
        let holder = Database::connect(options).await?;
        holder.execute_unprepared(TAKE_SCHEMA_LOCK).await?;
        Ok(SchemaLock(Some(holder)))
    }

    /// Lets the next process in.
    pub(crate) async fn release(self) -> Result<(), StartupError> {
        if let Some(holder) = self.0 {
            holder.execute_unprepared(RELEASE_SCHEMA_LOCK).await?;
            holder.close().await?;
        }
        Ok(())
    }
}

/// Creates the table of entity `E` (the resource `spec` describes) and its
/// indexes if the table is missing, otherwise brings it to what `E` needs
/// or says why it cannot (`schema`; `defaults` holds the stored `default`
/// of each field that has one); then (re)creates the trigger that deletes
/// a deleted object's entries and keys, makes sure its rows are counted by
/// owner (`counts`), and creates the list indexes it lacks.
pub(crate) async fn ensure_table<E: EntityTrait, A: ActiveModelTrait<Entity = E>>(
    db: &DatabaseConnection,
    spec: &'static ResourceSpec,
    defaults: A,
) -> Result<(), StartupError> {
    let table = spec.table;
    if schema::columns(db, table, false).await?.is_empty() {
        let schema = Schema::new(db.get_database_backend());
        let entity = E::default();
        let mut create = schema.create_table_from_entity(entity);
        references::add_to_creation(&mut create, spec);
        db.execute(create.if_not_exists()).await?;
        for mut index in schema.create_index_from_entity(entity) {
            db.execute(index.if_not_exists()).await?;
        }
    } else {
        schema::follow_struct::<E, A>(db, table, &defaults).await?;
        references::ensure(db, spec).await?;
    }
    for field in spec.fields.iter().filter(|field| field.unique_per_owner) {
        let index = crate::error::per_owner_index(table, field.name);
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"{index}\" ON \"{table}\" (owner_id, \"{}\")",
            field.name
        ))
        .await?;
    }
    // On one connection, in one transaction: a pooled SQLite connection
    // that read the schema before another dropped the old trigger would
    // still see it, and refuse to create it again.
    let transaction = begin_write(db).await?;
    cleanup::ensure_trigger(&transaction, table, spec.name).await?;
    counts::ensure_counting(&transaction, table, spec.name).await?;
    transaction.commit().await?;
    indexes::ensure_list_indexes(db, spec).await?;
    Ok(())
}
