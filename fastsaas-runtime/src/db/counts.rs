//! Row counts per owner, kept by the database in the writing transaction,
//! so that a list's `total` reads a few counters instead of every readable
//! row (a count of 10⁶ rows is a scan of 10⁶ index entries).
//!
//! Triggers on each resource table add what a statement inserted, take off
//! what it deleted, and move a row whose owner changed, in the statement's
//! own transaction: every write counts, whether the framework, a cascade
//! from a deleted owner or a user's own SQL made it, and a rollback takes
//! its counts back with it. (On SQLite, a `REPLACE` that replaces a row
//! fires no delete trigger unless its connection has `recursive_triggers`
//! on, as the framework's pool does; the rebuild at start-up repairs it.) A total is then the counters of the owners the
//! caller reads through, plus the objects shared with it, minus the denied
//! objects among them: those two corrections are bounded by the caller's
//! entries, not by the table (see [`Tally`]).
//!
//! On PostgreSQL, writers of one owner would queue on its counter row until
//! they commit; each connection adds to one of [`STRIPES`] rows of the
//! owner instead (by its backend's pid), and a total sums them. SQLite has
//! one writer at a time and keeps one row per owner.
//!
//! PostgreSQL counts by statement, from the statement's transition table:
//! one counter update per owner and statement, whatever the rows. Counting
//! row by row was cheaper for the one row of a POST (it took 14 % of POST
//! throughput, against 20 %), but each update of one counter row in one
//! transaction leaves a version that the next must walk past, so a bulk
//! insert of n rows in one transaction cost O(n²): a million-row import did
//! not finish in ten minutes.
//!
//! The counters of a table are rebuilt from its rows, under the write lock,
//! when its triggers are created (a new table, one made before counting
//! existed, a type renamed on its table) or found disabled, and on SQLite
//! at every start-up. Should they still go wrong (a total below zero), a
//! list counts its rows instead and logs it.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SimpleExpr, SubQueryStatement};
use sea_orm::{Condition, ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// The counters: `(resource_type, owner_id, stripe) -> row_count`.
pub(crate) const COUNTS_TABLE: &str = "fastsaas_row_counts";

/// Counter rows per owner on PostgreSQL.
pub(crate) const STRIPES: u32 = 16;

/// The PostgreSQL function the counting triggers call (created by a
/// migration); `TG_ARGV[0]` is the resource type. Rows without an owner
/// count under the nil id.
pub(crate) fn postgres_function() -> String {
    format!(
        "CREATE OR REPLACE FUNCTION fastsaas_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    my_stripe integer := pg_backend_pid() % {STRIPES};
    no_owner uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fastsaas_row_counts AS c (resource_type, owner_id, stripe, row_count)
        SELECT TG_ARGV[0], COALESCE(owner_id, no_owner), my_stripe, COUNT(*) FROM fastsaas_added GROUP BY 2
        ON CONFLICT (resource_type, owner_id, stripe) DO UPDATE SET row_count = c.row_count + EXCLUDED.row_count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO fastsaas_row_counts AS c (resource_type, owner_id, stripe, row_count)
        SELECT TG_ARGV[0], COALESCE(owner_id, no_owner), my_stripe, -COUNT(*) FROM fastsaas_removed GROUP BY 2
        ON CONFLICT (resource_type, owner_id, stripe) DO UPDATE SET row_count = c.row_count + EXCLUDED.row_count;
    ELSIF TG_OP = 'UPDATE' THEN
        -- In the owners' order, so that two moves the other way round lock alike.
        INSERT INTO fastsaas_row_counts AS c (resource_type, owner_id, stripe, row_count)
        SELECT TG_ARGV[0], moved.owner, my_stripe, moved.delta
        FROM (VALUES (COALESCE(OLD.owner_id, no_owner), -1), (COALESCE(NEW.owner_id, no_owner), 1)) AS moved (owner, delta)
        ORDER BY moved.owner
        ON CONFLICT (resource_type, owner_id, stripe) DO UPDATE SET row_count = c.row_count + EXCLUDED.row_count;
    ELSE
        DELETE FROM fastsaas_row_counts WHERE resource_type = TG_ARGV[0];
    END IF;
    RETURN NULL;
END $$"
    )
}

/// How to count the rows a caller may read from the counters, when no
/// filter narrows the list: the rows of `owners` (every owner for `None`),
/// plus the `shared` objects of others, minus the `denied` objects among
/// them.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    pub(crate) resource_type: &'static str,
    pub(crate) owners: Option<Vec<Uuid>>,
    /// The objects shared with the caller that `owners` do not own.
    pub(crate) shared: Option<Condition>,
    /// The objects the caller is denied.
    pub(crate) denied: Option<Condition>,
}

impl Tally {
    /// One statement whose `total` column is the count, on `table`.
    pub(crate) fn statement(&self, table: &str) -> SelectStatement {
        let owner_id = || Expr::col((Alias::new(table), "owner_id"));
        let mut counters = Query::select();
        counters
            .expr(Expr::cust("COALESCE(SUM(row_count), 0)"))
            .from(COUNTS_TABLE)
            .and_where(Expr::col("resource_type").eq(self.resource_type));
        if let Some(owners) = &self.owners {
            counters.and_where(Expr::col("owner_id").is_in(owners.clone()));
        }
        let mut total = subquery(counters);
        if let Some(shared) = &self.shared {
            let mut rows = Query::select();
            rows.expr(Expr::cust("COUNT(*)")).from(Alias::new(table)).cond_where(shared.clone());
            if let Some(denied) = &self.denied {
                rows.cond_where(denied.clone().not());
            }
            total = total.add(subquery(rows));
        }
        if let Some(denied) = &self.denied {
            let mut rows = Query::select();
            rows.expr(Expr::cust("COUNT(*)")).from(Alias::new(table)).cond_where(denied.clone());
            if let Some(owners) = &self.owners {
                rows.and_where(owner_id().is_in(owners.clone()));
            }
            total = total.sub(subquery(rows));
        }
        Query::select().expr_as(total.cast_as("BIGINT"), "total").to_owned()
    }
}

fn subquery(select: SelectStatement) -> SimpleExpr {
    SimpleExpr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(select)))
}

/// Makes sure `table` has its counting triggers, counting under
/// `resource_type`; when it lacks any (or they count under another name,
/// after a rename), creates them and rebuilds its counters from its rows.
/// `db` must be a write transaction (`db::begin_write`), so that no write
/// falls between the two.
pub(crate) async fn ensure_counting(db: &impl ConnectionTrait, table: &str, resource_type: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let literal = resource_type.replace('\'', "''");
    let wanted = create_triggers(backend, table, &literal);
    if backend == DbBackend::Postgres {
        // A changed function reaches databases made before the change.
        db.execute_unprepared(&postgres_function()).await?;
    }
    // A disabled trigger (a bulk load, a restore without triggers) counted
    // nothing while it was off: it is not as wanted, and the counters are
    // rebuilt.
    let present = match backend {
        DbBackend::Postgres => {
            "SELECT tgname::text AS name, \
             CASE WHEN tgenabled = 'D' THEN '' ELSE pg_get_triggerdef(oid) END AS definition FROM pg_trigger \
             WHERE tgrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) \
             AND tgname::text LIKE 'fastsaas\\_count\\_%'"
        }
        _ => {
            "SELECT name, sql AS definition FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1 \
             AND name LIKE 'fastsaas\\_count\\_%' ESCAPE '\\'"
        }
    };
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, present, [table.into()])).await?;
    let present: Vec<(String, String)> = rows
        .iter()
        .map(|row| Ok((row.try_get::<String>("", "name")?, row.try_get::<String>("", "definition")?)))
        .collect::<Result<_, DbErr>>()?;
    // PostgreSQL prints a definition its own way: what can differ is the
    // type's name in the function's argument, the event, and the level.
    let argument = format!("fastsaas_count_rows('{literal}')");
    let as_wanted = |(name, sql): &(String, String)| {
        present.iter().any(|(have, definition)| {
            have == name
                && match backend {
                    DbBackend::Postgres => {
                        let level = if sql.contains("FOR EACH ROW") { "FOR EACH ROW" } else { "FOR EACH STATEMENT" };
                        let event = ["INSERT", "DELETE", "UPDATE OF owner_id", "TRUNCATE"]
                            .into_iter()
                            .find(|event| sql.contains(&format!("AFTER {event} ")))
                            .unwrap_or_default();
                        definition.contains(&argument)
                            && definition.contains(level)
                            && definition.contains(&format!("AFTER {event} "))
                    }
                    _ => definition == sql,
                }
        })
    };
    let triggers_as_wanted = present.len() == wanted.len() && wanted.iter().all(as_wanted);
    // SQLite is one process's file, so a rebuild at start-up costs a scan
    // and no one waits for it: it repairs what another connection's
    // `REPLACE` (whose deletes fire no trigger there) left.
    if triggers_as_wanted && backend == DbBackend::Postgres {
        return Ok(());
    }
    if !triggers_as_wanted {
        replace_triggers(db, table, &present, &wanted).await?;
    }
    recount(db, table, resource_type).await
}

/// Drops the counting triggers `present` on `table` and creates `wanted`.
async fn replace_triggers(
    db: &impl ConnectionTrait,
    table: &str,
    present: &[(String, String)],
    wanted: &[(String, String)],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for (name, _) in present {
        let drop = match backend {
            DbBackend::Postgres => format!("DROP TRIGGER IF EXISTS \"{name}\" ON \"{table}\""),
            _ => format!("DROP TRIGGER IF EXISTS \"{name}\""),
        };
        db.execute_unprepared(&drop).await?;
    }
    for (_, sql) in wanted {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Rebuilds the counters of `resource_type` from the rows of `table`.
async fn recount(db: &impl ConnectionTrait, table: &str, resource_type: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let nobody = nobody(backend);
    let values = || [resource_type.into()];
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM {COUNTS_TABLE} WHERE resource_type = $1"),
        values(),
    ))
    .await?;
    let counted = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO {COUNTS_TABLE} (resource_type, owner_id, stripe, row_count) \
                 SELECT $1, COALESCE(owner_id, {nobody}), 0, COUNT(*) FROM \"{table}\" GROUP BY COALESCE(owner_id, {nobody})"
            ),
            values(),
        ))
        .await?;
    tracing::info!(table, owners = counted.rows_affected(), "counted the rows by owner");
    Ok(())
}

/// The nil id as a PostgreSQL literal.
const NO_OWNER_POSTGRES: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// The nil id, which counts the rows without an owner, as an SQL literal.
fn nobody(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => NO_OWNER_POSTGRES,
        // SQLite stores ids as 16-byte blobs.
        _ => "X'00000000000000000000000000000000'",
    }
}

/// The counting triggers of `table`, by name: on PostgreSQL a trigger's
/// name is the table's own, on SQLite the schema's.
fn create_triggers(backend: DbBackend, table: &str, resource_type: &str) -> Vec<(String, String)> {
    let name = |event: &str| match backend {
        DbBackend::Postgres => format!("fastsaas_count_{event}"),
        _ => format!("fastsaas_count_{event}_{table}"),
    };
    let (added, removed, owner) = (name("added"), name("removed"), name("owner"));
    match backend {
        DbBackend::Postgres => {
            let truncated = name("truncated");
            vec![
                (
                    added.clone(),
                    format!(
                        "CREATE TRIGGER \"{added}\" AFTER INSERT ON \"{table}\" REFERENCING NEW TABLE AS fastsaas_added \
                     FOR EACH STATEMENT EXECUTE FUNCTION fastsaas_count_rows('{resource_type}')"
                    ),
                ),
                (
                    removed.clone(),
                    format!(
                        "CREATE TRIGGER \"{removed}\" AFTER DELETE ON \"{table}\" REFERENCING OLD TABLE AS fastsaas_removed \
                     FOR EACH STATEMENT EXECUTE FUNCTION fastsaas_count_rows('{resource_type}')"
                    ),
                ),
                (
                    owner.clone(),
                    format!(
                        "CREATE TRIGGER \"{owner}\" AFTER UPDATE OF owner_id ON \"{table}\" FOR EACH ROW \
                     WHEN (COALESCE(OLD.owner_id, {NO_OWNER_POSTGRES}) IS DISTINCT FROM COALESCE(NEW.owner_id, {NO_OWNER_POSTGRES})) \
                     EXECUTE FUNCTION fastsaas_count_rows('{resource_type}')"
                    ),
                ),
                (
                    truncated.clone(),
                    format!(
                        "CREATE TRIGGER \"{truncated}\" AFTER TRUNCATE ON \"{table}\" FOR EACH STATEMENT \
                     EXECUTE FUNCTION fastsaas_count_rows('{resource_type}')"
                    ),
                ),
            ]
        }
        // SQLite has no TRUNCATE.
        _ => {
            let nobody = nobody(backend);
            let add = |owner: &str, delta: i8| {
                format!(
                    "INSERT INTO {COUNTS_TABLE} (resource_type, owner_id, stripe, row_count) \
                     VALUES ('{resource_type}', COALESCE({owner}, {nobody}), 0, {delta}) \
                     ON CONFLICT (resource_type, owner_id, stripe) DO UPDATE SET row_count = row_count + {delta};"
                )
            };
            vec![
                (
                    added.clone(),
                    format!(
                        "CREATE TRIGGER \"{added}\" AFTER INSERT ON \"{table}\" FOR EACH ROW BEGIN {} END",
                        add("NEW.owner_id", 1)
                    ),
                ),
                (
                    removed.clone(),
                    format!(
                        "CREATE TRIGGER \"{removed}\" AFTER DELETE ON \"{table}\" FOR EACH ROW BEGIN {} END",
                        add("OLD.owner_id", -1)
                    ),
                ),
                (
                    owner.clone(),
                    format!(
                        "CREATE TRIGGER \"{owner}\" AFTER UPDATE OF owner_id ON \"{table}\" FOR EACH ROW \
                     WHEN COALESCE(OLD.owner_id, {nobody}) IS NOT COALESCE(NEW.owner_id, {nobody}) BEGIN {} {} END",
                        add("OLD.owner_id", -1),
                        add("NEW.owner_id", 1)
                    ),
                ),
            ]
        }
    }
}
