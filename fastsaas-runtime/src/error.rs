//! The runtime's own errors (start-up) and the mapping of database errors to
//! [`ApiError`].

use fastsaas_core::{ApiError, FieldSpec, ResourceSpec, SettingsError};
use sea_orm::{DbErr, SqlErr};

/// Why an app could not start.
///
/// `Debug` prints the message, so `fn main() -> Result<(), StartupError>`
/// reports a readable line.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The database is unreachable or refused a statement.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// An existing table differs from what its struct needs in ways that
    /// need a migration (see [`SchemaDifference`]).
    #[error("table `{table}` does not fit its struct:{}", differences.iter().map(|d| format!("\n  {d}")).collect::<String>())]
    SchemaDiffers {
        /// The table.
        table: &'static str,
        /// Every difference found, each with the SQL a migration would run.
        differences: Vec<SchemaDifference>,
    },
    /// Two resources claim the same scope path or table.
    #[error("{what} `{value}` is used by both `{first}` and `{second}`")]
    Duplicate {
        /// "scope path" or "table".
        what: &'static str,
        /// The path or table.
        value: &'static str,
        /// The first resource.
        first: &'static str,
        /// The second resource.
        second: &'static str,
    },
    /// Two routes clash: the same method and path twice, or one path
    /// position with two parameter names.
    #[error("routes clash: {0}")]
    Routes(String),
    /// A setting is missing or unacceptable (e.g. no JWT secret in production).
    #[error("configuration: {0}")]
    Config(String),
    /// The listening socket could not be opened, or serving failed.
    #[error("cannot serve on {bind}: {source}")]
    Serve {
        /// The address.
        bind: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One column of an existing table that differs from what its struct
/// needs, and cannot be brought in line without a migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDifference {
    /// The column.
    pub column: String,
    /// What differs.
    pub difference: String,
    /// The SQL a migration would run (or, on SQLite, how to do it).
    pub sql: String,
}

impl std::fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column `{}`: {}; a migration would run: {}", self.column, self.difference, self.sql)
    }
}

impl std::fmt::Debug for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Maps a database error met while serving `spec` to what the client sees:
/// a unique violation is a 409 naming the field, matched by the exact
/// constraint (never by a substring of the message); anything else is
/// logged and answered with a 500 that reveals nothing.
pub(crate) fn db_error(spec: &ResourceSpec, err: DbErr) -> ApiError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        return ApiError::Conflict(match violated(spec, &message) {
            Some((field, false)) => format!("another {} already has this `{}`", spec.name, field.name),
            Some((field, true)) => format!("this owner already has a {} with this `{}`", spec.name, field.name),
            None => format!("another {} already has these values", spec.name),
        });
    }
    tracing::error!(resource = spec.name, error = %err, "database error");
    ApiError::Internal
}

/// The name of the index that keeps `field` unique per owner.
pub(crate) fn per_owner_index(table: &str, field: &str) -> String {
    format!("uq_{table}_{field}_per_owner")
}

/// The field whose uniqueness `message` reports, and whether per owner:
/// PostgreSQL names the constraint (`items_name_key` for a unique column,
/// the per-owner index by its name), SQLite the columns
/// (`items.name`, or `items.owner_id, items.name`).
fn violated(spec: &ResourceSpec, message: &str) -> Option<(&'static FieldSpec, bool)> {
    let table = spec.table;
    if let Some(constraint) = message.split('"').nth(1) {
        return spec.fields.iter().find_map(|field| {
            if field.unique && constraint == format!("{table}_{}_key", field.name) {
                Some((field, false))
            } else if field.unique_per_owner && constraint == per_owner_index(table, field.name) {
                Some((field, true))
            } else {
                None
            }
        });
    }
    let columns: Vec<&str> = message.rsplit_once(": ")?.1.split(", ").map(str::trim).collect();
    spec.fields.iter().find_map(|field| {
        let column = format!("{table}.{}", field.name);
        if field.unique && columns == [column.as_str()] {
            Some((field, false))
        } else if field.unique_per_owner && columns == [format!("{table}.owner_id").as_str(), column.as_str()] {
            Some((field, true))
        } else {
            None
        }
    })
}

/// Logs a database error met outside a resource's own table (the
/// framework's tables) and hides it behind a 500.
pub(crate) fn internal(err: sea_orm::DbErr) -> ApiError {
    tracing::error!(error = %err, "database error in a framework table");
    ApiError::Internal
}
