//! The indexes a resource's lists walk, in list order: a page reads about
//! as many index entries as it shows (plus its offset) instead of sorting
//! every row the caller may read.
//!
//! Lists are ordered by `created_at, id`, or by a `sort` field then `id`,
//! and most callers read through their owners (`owner_id IN (...)`), so:
//!
//! - `(owner_id, created_at, id)`: the default order for one owner;
//! - `(created_at, id)`: the default order for a caller who reads every row
//!   (a type-wide allow, `acl_admins`);
//! - for each `sort` field, `(owner_id, field, id)` and `(field, id)`;
//! - for each `filter` field, `(owner_id, field, created_at, id)`.
//!
//! They are created at start-up when missing, for new and existing tables
//! alike, and each one created is logged.

use fastsaas_core::ResourceSpec;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sha2::{Digest, Sha256};

/// PostgreSQL cuts identifiers at 63 bytes, so two long names could meet.
const MAX_NAME: usize = 63;

/// One index of a resource's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListIndex {
    /// Its name: `ix_<table>_<columns>`, or for a long one a prefix of that
    /// and a digest of the whole, so that names stay unique.
    pub(crate) name: String,
    /// Its columns, in order.
    pub(crate) columns: Vec<&'static str>,
}

impl ListIndex {
    fn new(table: &str, columns: Vec<&'static str>) -> ListIndex {
        let full = format!("ix_{table}_{}", columns.join("_"));
        let name = if full.len() <= MAX_NAME {
            full
        } else {
            let digest = Sha256::digest(full.as_bytes());
            let suffix: String = digest.iter().take(6).map(|byte| format!("{byte:02x}")).collect();
            let mut prefix = full;
            while prefix.len() > MAX_NAME - suffix.len() - 1 {
                prefix.pop();
            }
            format!("{prefix}_{suffix}")
        };
        ListIndex { name, columns }
    }
}

/// The indexes the lists of `spec`'s type walk.
pub(crate) fn list_indexes(spec: &ResourceSpec) -> Vec<ListIndex> {
    let table = spec.table;
    let mut indexes = vec![
        ListIndex::new(table, vec!["owner_id", "created_at", "id"]),
        ListIndex::new(table, vec!["created_at", "id"]),
    ];
    for field in spec.fields.iter().filter(|field| field.sort) {
        indexes.push(ListIndex::new(table, vec!["owner_id", field.name, "id"]));
        indexes.push(ListIndex::new(table, vec![field.name, "id"]));
    }
    for field in spec.fields.iter().filter(|field| field.filter) {
        indexes.push(ListIndex::new(table, vec!["owner_id", field.name, "created_at", "id"]));
    }
    indexes
}

/// Creates the list indexes of `spec`'s table that it lacks, logging each.
pub(crate) async fn ensure_list_indexes(db: &DatabaseConnection, spec: &ResourceSpec) -> Result<(), DbErr> {
    let existing = index_names(db, spec.table).await?;
    for index in list_indexes(spec) {
        if existing.contains(&index.name) {
            continue;
        }
        let columns: Vec<String> = index.columns.iter().map(|column| format!("\"{column}\"")).collect();
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS \"{}\" ON \"{}\" ({})",
            index.name,
            spec.table,
            columns.join(", ")
        ))
        .await?;
        tracing::info!(table = spec.table, index = %index.name, columns = ?index.columns, "created a list index");
    }
    Ok(())
}

/// The names of the indexes on `table`.
async fn index_names(db: &DatabaseConnection, table: &str) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
        _ => "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
    };
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [table.into()])).await?;
    rows.iter().map(|row| row.try_get::<String>("", "name")).collect()
}

#[cfg(test)]
mod tests {
    use super::ListIndex;

    #[test]
    fn long_names_stay_within_postgres_limit_and_apart() {
        let long = "a_table_whose_name_is_long_enough_to_push_index_names_past_the_limit";
        let one = ListIndex::new(long, vec!["owner_id", "created_at", "id"]);
        let other = ListIndex::new(long, vec!["owner_id", "created_id", "id"]);
        assert!(one.name.len() <= 63 && other.name.len() <= 63, "{one:?} {other:?}");
        assert_ne!(one.name, other.name);
        assert_eq!(ListIndex::new("items", vec!["created_at", "id"]).name, "ix_items_created_at_id");
    }
}
