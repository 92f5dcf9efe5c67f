//! Tables that follow the struct. At start-up, an existing resource table
//! is compared, column by column, with the table its struct would create:
//! a new field that is an `Option` or has a `default` becomes a new column
//! (existing rows get the default), and is logged; any other difference (a
//! changed type or nullability, a removed field, a new required field
//! without a default) stops start-up with an error that names the table,
//! the column, the difference and the SQL a migration would need, every
//! difference at once.
//!
//! The wanted columns come from the database itself: the struct's table is
//! created as a temporary table and read back from the catalog like the
//! existing one, so both sides are spelt by the same database (PostgreSQL's
//! `format_type`, SQLite's declared types), whatever the driver maps.
//! Uniqueness is compared too: a field that became `unique` gets its index
//! (unless the rows there are hold duplicates, which is reported); a column
//! that is unique for a field that no longer is, is a difference.

use sea_orm::sea_query::{Alias, ColumnDef, Table};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Iterable,
    Schema, Statement,
};

use super::begin_write;
use crate::error::{SchemaDifference, StartupError};

/// The temporary table a struct's columns are read from.
const PROBE: &str = "fastsaas_schema_probe";

/// A column as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// The type as the database spells it.
    pub(crate) sql_type: String,
    pub(crate) not_null: bool,
    /// The unique index (or constraint) on this column alone, if any; not
    /// the primary key.
    pub(crate) unique: Option<String>,
}

/// The columns of `table` (of the temporary schema if `temporary`, else of
/// the current schema alone, whatever else `search_path` names), in order;
/// empty when there is no such table.
pub(crate) async fn columns(db: &impl ConnectionTrait, table: &str, temporary: bool) -> Result<Vec<Column>, DbErr> {
    let backend = db.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => {
            let schema = if temporary { "'pg_temp'" } else { "quote_ident(current_schema())" };
            Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, \
                     a.attnotnull AS not_null, \
                     (SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                      WHERE i.indrelid = a.attrelid AND i.indisunique AND NOT i.indisprimary AND i.indnatts = 1 \
                      AND i.indkey[0] = a.attnum LIMIT 1) AS unique_index \
                     FROM pg_attribute a WHERE a.attrelid = to_regclass({schema} || '.' || quote_ident($1)) \
                     AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
                ),
                [table.into()],
            )
        }
        _ => Statement::from_sql_and_values(
            backend,
            // A primary key is never null, whether or not its declaration says so.
            "SELECT p.name, p.type AS sql_type, p.\"notnull\" <> 0 OR p.pk > 0 AS not_null, \
             (SELECT l.name FROM pragma_index_list($1, $2) l JOIN pragma_index_info(l.name, $2) c \
              WHERE l.\"unique\" = 1 AND l.origin <> 'pk' AND c.name = p.name \
              AND (SELECT COUNT(*) FROM pragma_index_info(l.name, $2)) = 1 LIMIT 1) AS unique_index \
             FROM pragma_table_info($1, $2) p ORDER BY p.cid",
            [table.into(), (if temporary { "temp" } else { "main" }).into()],
        ),
    };
    let rows = db.query_all_raw(statement).await?;
    rows.iter()
        .map(|row| {
            Ok(Column {
                name: row.try_get("", "name")?,
                sql_type: row.try_get("", "sql_type")?,
                not_null: row.try_get("", "not_null")?,
                unique: row.try_get("", "unique_index")?,
            })
        })
        .collect()
}

/// Brings the existing `table` of entity `E` to what `E` needs, or says
/// why it cannot: see the module's documentation. `defaults` holds the
/// stored `default` of each field that has one.
pub(crate) async fn follow_struct<E: EntityTrait, A: ActiveModelTrait<Entity = E>>(
    db: &DatabaseConnection,
    table: &'static str,
    defaults: &A,
) -> Result<(), StartupError> {
    let backend = db.get_database_backend();
    let schema = Schema::new(backend);
    let mut create = schema.create_table_from_entity(E::default());
    create.table(Alias::new(PROBE)).temporary();
    let transaction = begin_write(db).await?;
    transaction.execute(&create).await?;
    let wanted = columns(&transaction, PROBE, true).await?;
    transaction.execute_unprepared(&format!("DROP TABLE {}\"{PROBE}\"", temporary_prefix(backend))).await?;
    let existing = columns(&transaction, table, false).await?;

    let mut differences = Vec::new();
    let mut additions = Vec::new();
    for column in &wanted {
        let Some(definition) = create.get_columns().iter().find(|def| def.get_column_name() == column.name) else {
            continue;
        };
        match existing.iter().find(|have| have.name == column.name) {
            None => match addition(backend, table, column, definition, default_of::<E, A>(defaults, &column.name)) {
                Ok(sql) => additions.push((column.name.clone(), sql)),
                Err(difference) => differences.push(difference),
            },
            Some(have) => {
                differences.extend(changed(backend, table, have, column));
                match (&have.unique, &column.unique) {
                    (None, Some(_)) => additions.push((column.name.clone(), vec![unique_index(table, &column.name)])),
                    (Some(index), None) => differences.push(no_longer_unique(backend, table, &column.name, index)),
                    _ => {}
                }
            }
        }
    }
    for have in existing.iter().filter(|have| !wanted.iter().any(|column| column.name == have.name)) {
        differences.push(SchemaDifference {
            column: have.name.clone(),
            difference: "the struct has no field for this column (a field was removed or renamed)".into(),
            sql: format!("ALTER TABLE \"{table}\" DROP COLUMN \"{}\"", have.name),
        });
    }
    if !differences.is_empty() {
        transaction.rollback().await?;
        return Err(StartupError::SchemaDiffers { table, differences });
    }
    for (column, statements) in &additions {
        for sql in statements {
            // Duplicate values under a new unique index, say: the table
            // stays as it was, and the error says what a migration must do.
            if let Err(err) = transaction.execute_unprepared(sql).await {
                transaction.rollback().await?;
                let difference = SchemaDifference {
                    column: column.clone(),
                    difference: format!("the change the struct needs failed on the rows there are: {err}"),
                    sql: sql.clone(),
                };
                return Err(StartupError::SchemaDiffers { table, differences: vec![difference] });
            }
        }
        tracing::info!(table, column = %column, sql = %statements.join("; "), "brought a column in line with its field");
    }
    transaction.commit().await?;
    Ok(())
}

fn temporary_prefix(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "pg_temp.",
        _ => "temp.",
    }
}

/// The stored `default` of `column`, if its field has one.
fn default_of<E: EntityTrait, A: ActiveModelTrait<Entity = E>>(defaults: &A, column: &str) -> Option<sea_orm::Value> {
    let column = E::Column::iter().find(|candidate| sea_orm::IdenStatic::as_str(candidate) == column)?;
    match defaults.get(column) {
        ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Some(value),
        ActiveValue::NotSet => None,
    }
}

/// The statements that add `column` to `table`, or why they cannot: a
/// column that may be null, or that the field's default fills, can be added
/// to the rows there are.
fn addition(
    backend: DbBackend,
    table: &str,
    column: &Column,
    definition: &ColumnDef,
    default: Option<sea_orm::Value>,
) -> Result<Vec<String>, SchemaDifference> {
    let Some(column_type) = definition.get_column_type() else {
        return Err(SchemaDifference {
            column: column.name.clone(),
            difference: "a new column of a type the framework cannot spell".into(),
            sql: format!("ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {}", column.name, column.sql_type),
        });
    };
    let mut added = ColumnDef::new_with_type(Alias::new(&column.name), column_type.clone());
    // The default fills the rows there are; the framework's own writes set
    // every column, so it decides nothing after.
    match (column.not_null, default) {
        (false, None) => {
            added.null();
        }
        (false, Some(value)) => {
            added.null().default(value);
        }
        (true, Some(value)) => {
            added.not_null().default(value);
        }
        (true, None) => {
            return Err(SchemaDifference {
                column: column.name.clone(),
                difference: "a new required field without a default, and the rows there are have no value for \
                             it: give the field a `default` or make it an `Option`, or fill it in a migration"
                    .into(),
                sql: format!(
                    "ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {} NOT NULL DEFAULT <a value for the rows there are>",
                    column.name, column.sql_type
                ),
            });
        }
    }
    let alter = Table::alter().table(Alias::new(table)).add_column(&mut added).to_owned();
    let mut statements = vec![backend.build(&alter).to_string()];
    if definition.get_column_spec().unique {
        // SQLite cannot add a UNIQUE column; an index holds the same rule.
        statements.push(unique_index(table, &column.name));
    }
    Ok(statements)
}

/// A unique index on `column`, named as PostgreSQL names the index of a
/// `UNIQUE` constraint, so that its violations name the field (`error::violated`).
fn unique_index(table: &str, column: &str) -> String {
    format!("CREATE UNIQUE INDEX IF NOT EXISTS \"{table}_{column}_key\" ON \"{table}\" (\"{column}\")")
}

/// The difference of a column that is unique, for a field that is not.
fn no_longer_unique(backend: DbBackend, table: &str, column: &str, index: &str) -> SchemaDifference {
    let sql = match backend {
        DbBackend::Postgres => {
            format!("ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{index}\"; DROP INDEX IF EXISTS \"{index}\"")
        }
        _ if index.starts_with("sqlite_autoindex_") => format!(
            "the table's own UNIQUE constraint ({index}) goes only with a rebuild of the table \
             (https://www.sqlite.org/lang_altertable.html#otheralter)"
        ),
        _ => format!("DROP INDEX \"{index}\""),
    };
    SchemaDifference {
        column: column.to_owned(),
        difference: "unique, but the field is no longer `unique`".into(),
        sql,
    }
}

/// What differs between the column `have` and the `wanted` one, with the
/// SQL a migration would run.
fn changed(backend: DbBackend, table: &str, have: &Column, wanted: &Column) -> Option<SchemaDifference> {
    let name = &wanted.name;
    let rebuild = "SQLite cannot alter a column: create the table anew, copy the rows, drop the old one and \
                   rename the new one (https://www.sqlite.org/lang_altertable.html#otheralter)";
    let same_type = match backend {
        DbBackend::Postgres => have.sql_type == wanted.sql_type,
        _ => sqlite_type(&have.sql_type) == sqlite_type(&wanted.sql_type),
    };
    let (difference, postgres) = if !same_type {
        (
            format!("stored as `{}`, the field's type needs `{}`", have.sql_type, wanted.sql_type),
            format!("ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" TYPE {0} USING \"{name}\"::{0}", wanted.sql_type),
        )
    } else if have.not_null && !wanted.not_null {
        (
            "NOT NULL, but the field is now an `Option`".to_owned(),
            format!("ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" DROP NOT NULL"),
        )
    } else if !have.not_null && wanted.not_null {
        (
            "may be null, but the field is no longer an `Option`".to_owned(),
            format!(
                "UPDATE \"{table}\" SET \"{name}\" = <a value> WHERE \"{name}\" IS NULL; \
                 ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" SET NOT NULL"
            ),
        )
    } else {
        return None;
    };
    let sql = match backend {
        DbBackend::Postgres => postgres,
        _ => rebuild.to_owned(),
    };
    Some(SchemaDifference { column: name.clone(), difference, sql })
}

/// A declared SQLite type, with the spellings of one stored form made one.
/// Affinity alone would not do: the driver reads a `uuid_text` column as
/// 16-byte blobs and a `json_text` one as JSON, though both have the
/// affinity of `varchar`.
fn sqlite_type(declared: &str) -> String {
    let declared = declared.to_ascii_lowercase();
    let base = declared.split('(').next().unwrap_or_default().trim();
    match base {
        "text" | "varchar" | "char" | "character" | "nvarchar" | "nchar" | "clob" | "string" => "text".into(),
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "int2" | "int4" | "int8" => "integer".into(),
        "real" | "double" | "double precision" | "float" => "real".into(),
        other => other.into(),
    }
}
