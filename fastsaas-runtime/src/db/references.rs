//! Foreign keys of reference fields (`#[crud(references = Parent)]`): the
//! database keeps a reference pointing at a row of its target's table, and
//! carries out what deleting the target does (`ON DELETE RESTRICT`,
//! `CASCADE` or `SET NULL`), so no race of two requests can leave a
//! reference to nothing. A cascade deletes through the database, and each
//! deleted child's cleanup trigger takes its ACL entries and API keys.
//!
//! A new table gets its keys as it is created. On PostgreSQL, an existing
//! table gets a missing key added (and a changed one replaced); SQLite
//! cannot add a key to an existing table, so start-up names the table and
//! the way to rebuild it.

use fastsaas_core::{FieldSpec, OnDelete, Reference, ResourceSpec};
use sea_orm::sea_query::{Alias, ForeignKey, ForeignKeyAction, ForeignKeyCreateStatement, TableCreateStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::error::{SchemaDifference, StartupError};

/// The reference fields of `spec`, with their references.
pub(crate) fn references(spec: &ResourceSpec) -> impl Iterator<Item = (&'static FieldSpec, Reference)> {
    spec.fields.iter().filter_map(|field| field.reference.map(|reference| (field, reference)))
}

/// The name of the foreign key of `field` in `table`: within PostgreSQL's
/// 63 bytes, and what [`field_of_constraint`] reads back.
pub(crate) fn constraint_name(table: &str, field: &str) -> String {
    let name = format!("fastsaas_ref_{table}_{field}");
    if name.len() <= 63 {
        return name;
    }
    // Long names keep a readable start and a digest of the whole.
    let digest = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    let start: String = name.chars().take(46).collect();
    format!("{start}_{digest:016x}")
}

// `restrict` is `NO ACTION`: checked when the statement ends, not at each
// row, so one statement that deletes a parent and its children together
// (an owner's objects, a clear, in one table) passes on SQLite as on
// PostgreSQL.
fn action(on_delete: OnDelete) -> ForeignKeyAction {
    match on_delete {
        OnDelete::Restrict => ForeignKeyAction::NoAction,
        OnDelete::Cascade => ForeignKeyAction::Cascade,
        OnDelete::SetNull => ForeignKeyAction::SetNull,
    }
}

fn foreign_key(spec: &ResourceSpec, field: &FieldSpec, reference: Reference) -> ForeignKeyCreateStatement {
    let target = (reference.target)();
    ForeignKey::create()
        .name(constraint_name(spec.table, field.name))
        .from(Alias::new(spec.table), Alias::new(field.name))
        .to(Alias::new(target.table), Alias::new("id"))
        .on_delete(action(reference.on_delete))
        .to_owned()
}

/// Adds the foreign keys of `spec`'s references to `create`, its table's
/// creation.
pub(crate) fn add_to_creation(create: &mut TableCreateStatement, spec: &ResourceSpec) {
    for (field, reference) in references(spec) {
        create.foreign_key(&mut foreign_key(spec, field, reference));
    }
}

/// A foreign key as the catalog describes it.
#[derive(Debug, PartialEq, Eq)]
struct Existing {
    column: String,
    target_table: String,
    /// `RESTRICT`, `CASCADE`, `SET NULL`, `NO ACTION`...
    on_delete: String,
    /// Its name (PostgreSQL only).
    name: Option<String>,
}

async fn existing(db: &impl ConnectionTrait, table: &str) -> Result<Vec<Existing>, DbErr> {
    let backend = db.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT a.attname::text AS column_name, t.relname::text AS target_table, \
             CASE c.confdeltype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' \
             WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END AS on_delete, c.conname::text AS name \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND c.conrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))",
            [table.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT \"from\" AS column_name, \"table\" AS target_table, on_delete, NULL AS name \
             FROM pragma_foreign_key_list($1)",
            [table.into()],
        ),
    };
    let rows = db.query_all_raw(statement).await?;
    rows.iter()
        .map(|row| {
            Ok(Existing {
                column: row.try_get("", "column_name")?,
                target_table: row.try_get("", "target_table")?,
                on_delete: row.try_get("", "on_delete")?,
                name: row.try_get("", "name")?,
            })
        })
        .collect()
}

fn spelt(on_delete: OnDelete) -> &'static str {
    match on_delete {
        OnDelete::Restrict => "NO ACTION",
        OnDelete::Cascade => "CASCADE",
        OnDelete::SetNull => "SET NULL",
    }
}

/// Gives `spec`'s existing table the foreign keys its references need (see
/// the module's documentation).
pub(crate) async fn ensure(db: &impl ConnectionTrait, spec: &'static ResourceSpec) -> Result<(), StartupError> {
    let backend = db.get_database_backend();
    let have = existing(db, spec.table).await?;
    let mut differences = Vec::new();
    for (field, reference) in references(spec) {
        let target = (reference.target)();
        let wanted = spelt(reference.on_delete);
        let matching = have.iter().find(|key| key.column == field.name && key.target_table == target.table);
        if matching.is_some_and(|key| key.on_delete == wanted) {
            continue;
        }
        let name = constraint_name(spec.table, field.name);
        let add = format!(
            "ALTER TABLE \"{}\" ADD CONSTRAINT \"{name}\" FOREIGN KEY (\"{}\") REFERENCES \"{}\" (id) ON DELETE {wanted}",
            spec.table, field.name, target.table
        );
        if backend != DbBackend::Postgres {
            differences.push(SchemaDifference {
                column: field.name.to_owned(),
                difference: format!(
                    "should reference `{}` ({}.id, ON DELETE {wanted}); SQLite cannot add a foreign key to an existing table",
                    target.name, target.table
                ),
                sql: format!(
                    "rebuild the table: create it anew with the key, copy the rows, drop the old one \
                     (https://www.sqlite.org/lang_altertable.html#otheralter); the key: FOREIGN KEY (\"{}\") \
                     REFERENCES \"{}\" (id) ON DELETE {wanted}",
                    field.name, target.table
                ),
            });
            continue;
        }
        if let Some(old) = matching.and_then(|key| key.name.as_deref()) {
            db.execute_unprepared(&format!("ALTER TABLE \"{}\" DROP CONSTRAINT \"{old}\"", spec.table)).await?;
        }
        if let Err(err) = db.execute_unprepared(&add).await {
            differences.push(SchemaDifference {
                column: field.name.to_owned(),
                difference: format!(
                    "should reference `{}`, but the key cannot be added ({err}): rows name objects that do not exist",
                    target.name
                ),
                sql: add,
            });
        } else {
            tracing::info!(table = spec.table, column = field.name, "added the foreign key of a reference");
        }
    }
    differences.extend(drop_stale(db, spec, &have).await?);
    if differences.is_empty() { Ok(()) } else { Err(StartupError::SchemaDiffers { table: spec.table, differences }) }
}

/// Drops the keys of fields that no longer reference anything (PostgreSQL:
/// the framework's own keys, by name), or names them (SQLite, which cannot
/// drop one: a field of the struct that has a key and no reference).
async fn drop_stale(
    db: &impl ConnectionTrait,
    spec: &'static ResourceSpec,
    have: &[Existing],
) -> Result<Vec<SchemaDifference>, StartupError> {
    let wanted = |key: &Existing| {
        references(spec)
            .any(|(field, reference)| key.column == field.name && key.target_table == (reference.target)().table)
    };
    let mut differences = Vec::new();
    for key in have.iter().filter(|key| !wanted(key)) {
        match &key.name {
            Some(name) if name.starts_with("fastsaas_ref_") => {
                db.execute_unprepared(&format!("ALTER TABLE \"{}\" DROP CONSTRAINT \"{name}\"", spec.table)).await?;
                tracing::info!(
                    table = spec.table,
                    column = key.column,
                    "dropped the foreign key of a former reference"
                );
            }
            Some(_) => {}
            None if spec.fields.iter().any(|field| field.name == key.column) => differences.push(SchemaDifference {
                column: key.column.clone(),
                difference: format!(
                    "references `{}` in the table, no longer in the struct; SQLite cannot drop a foreign key",
                    key.target_table
                ),
                sql: "rebuild the table without the key (https://www.sqlite.org/lang_altertable.html#otheralter), \
                      or declare the reference again"
                    .to_owned(),
            }),
            None => {}
        }
    }
    Ok(differences)
}
