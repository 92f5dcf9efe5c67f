//! The runtime's own errors (start-up) and the mapping of database errors to
//! [`ApiError`].

use fastsaas_core::{ApiError, ResourceSpec, SettingsError};
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
    /// An existing table lacks a column the resource needs.
    #[error("table `{table}` has no column `{column}`; add it (a migration) or drop the table")]
    MissingColumn {
        /// The table.
        table: &'static str,
        /// The missing column.
        column: &'static str,
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

impl std::fmt::Debug for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Maps a database error met while serving `spec` to what the client sees:
/// a unique violation is a 409 naming the field; anything else is logged and
/// answered with a 500 that reveals nothing.
pub(crate) fn db_error(spec: &ResourceSpec, err: DbErr) -> ApiError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        let field = spec.fields.iter().filter(|field| field.unique).find(|field| message.contains(field.name));
        return ApiError::Conflict(match field {
            Some(field) => format!("another {} already has this `{}`", spec.name, field.name),
            None => format!("another {} already has these values", spec.name),
        });
    }
    tracing::error!(resource = spec.name, error = %err, "database error");
    ApiError::Internal
}
