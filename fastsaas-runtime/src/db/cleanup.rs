//! What goes with a deleted object, in the deleting statement's own
//! transaction: its ACL entries and its API keys. A trigger on each
//! resource table (and on the templates' table) does it, so every delete —
//! one row, a clear, a cascade from a deleted owner, or a user's own SQL —
//! cleans up with no extra round trip and no scan of the other tables: the
//! entries go by their `object_id` index, the keys by `(resource_type,
//! resource_id)`.

use fastsaas_core::ResourceSpec;
use fastsaas_core::resource::TEMPLATES_TABLE;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// The PostgreSQL function every cleanup trigger calls (created by a
/// migration): it deletes by the statement's deleted rows at once (a
/// transition table), so a clear of many rows costs two set deletes.
pub(crate) const POSTGRES_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION fastsaas_forget_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM fastsaas_acl_entries WHERE object_id IN (SELECT id FROM fastsaas_gone);
    DELETE FROM fastsaas_api_keys WHERE resource_type = TG_ARGV[0] AND resource_id IN (SELECT id FROM fastsaas_gone);
    RETURN NULL;
END $$";

/// Creates (or replaces, after a rename) the cleanup trigger of `table`,
/// whose API keys are stored under the type name `resource_type`.
pub(crate) async fn ensure_trigger(db: &impl ConnectionTrait, table: &str, resource_type: &str) -> Result<(), DbErr> {
    let trigger = format!("fastsaas_forget_{table}");
    let type_literal = resource_type.replace('\'', "''");
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "CREATE OR REPLACE TRIGGER \"{trigger}\" AFTER DELETE ON \"{table}\" \
                 REFERENCING OLD TABLE AS fastsaas_gone FOR EACH STATEMENT \
                 EXECUTE FUNCTION fastsaas_forget_deleted('{type_literal}')"
            ))
            .await?;
        }
        _ => {
            let wanted = format!(
                "CREATE TRIGGER \"{trigger}\" AFTER DELETE ON \"{table}\" FOR EACH ROW BEGIN \
                 DELETE FROM fastsaas_acl_entries WHERE object_id = OLD.id; \
                 DELETE FROM fastsaas_api_keys WHERE resource_type = '{type_literal}' AND resource_id = OLD.id; \
                 END"
            );
            let existing = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                    [trigger.clone().into()],
                ))
                .await?
                .map(|row| row.try_get::<String>("", "sql"))
                .transpose()?;
            if existing.as_deref() == Some(wanted.as_str()) {
                return Ok(());
            }
            if existing.is_some() {
                db.execute_unprepared(&format!("DROP TRIGGER \"{trigger}\"")).await?;
            }
            db.execute_unprepared(&wanted).await?;
        }
    }
    Ok(())
}

/// Deletes what a deleted user or organization leaves behind, in the
/// caller's transaction: every object and template it owns (their entries
/// and keys go by the triggers) and every entry naming it. Templates of
/// others hung under its templates become roots with their own values.
pub(crate) async fn forget_owner(
    db: &impl ConnectionTrait,
    specs: &[&'static ResourceSpec],
    owner: Uuid,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let run = |sql: String| Statement::from_sql_and_values(backend, sql, [owner.into()]);
    // Types that refer to others come after them in `specs`: deleting in
    // the reverse order deletes the owner's children before its parents.
    let mut tables: Vec<&str> = Vec::new();
    for spec in specs.iter().rev() {
        if !tables.contains(&spec.table) {
            tables.push(spec.table);
        }
    }
    for table in tables {
        if table == TEMPLATES_TABLE {
            db.execute_raw(run(format!(
                "UPDATE {TEMPLATES_TABLE} SET parent_id = NULL WHERE parent_id IN \
                 (SELECT id FROM {TEMPLATES_TABLE} WHERE owner_id = $1) AND owner_id <> $1"
            )))
            .await?;
        }
        db.execute_raw(run(format!("DELETE FROM \"{table}\" WHERE owner_id = $1"))).await?;
    }
    db.execute_raw(run("DELETE FROM fastsaas_acl_entries WHERE principal_id = $1".to_owned())).await?;
    Ok(())
}
