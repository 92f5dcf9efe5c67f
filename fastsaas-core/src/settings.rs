//! The process settings: defaults < `fastsaas.toml` < environment.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Which environment the process runs in (`FASTSAAS_ENV`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development (the default).
    #[default]
    Development,
    /// Automated tests.
    Test,
    /// Production: stricter start-up checks.
    Production,
}

/// The settings of a FastSaaS process.
///
/// Loaded by [`Settings::load`] from, in increasing priority: the defaults
/// below, a `fastsaas.toml` file in the working directory, then the
/// environment (`DATABASE_URL`, `REDIS_URL`, and `FASTSAAS_<FIELD>` for every
/// other field, e.g. `FASTSAAS_BIND`, `FASTSAAS_BODY_LIMIT`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `FASTSAAS_ENV`: development, test or production.
    pub env: Environment,
    /// `DATABASE_URL`: `sqlite://path?mode=rwc` or `postgres://...`.
    /// Default: the SQLite file `fastsaas.db` in the working directory.
    pub database_url: String,
    /// `REDIS_URL`, if any.
    pub redis_url: Option<String>,
    /// `FASTSAAS_BIND`: the socket address to listen on.
    pub bind: String,
    /// `FASTSAAS_BODY_LIMIT`: the largest request body accepted, in bytes.
    pub body_limit: usize,
    /// `FASTSAAS_DB_MAX_CONNECTIONS`: the size of the connection pool.
    pub db_max_connections: u32,
    /// `FASTSAAS_DB_CONNECT_TIMEOUT_SECS`: how long to wait for a connection.
    pub db_connect_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            database_url: "sqlite://fastsaas.db?mode=rwc".to_owned(),
            redis_url: None,
            bind: "127.0.0.1:8000".to_owned(),
            body_limit: 1024 * 1024,
            db_max_connections: 16,
            db_connect_timeout_secs: 10,
        }
    }
}

/// Settings that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] Box<figment::Error>);

/// The fields read from `FASTSAAS_<FIELD>`; other `FASTSAAS_` variables
/// belong to other parts (tests, macros) and are not settings.
const PREFIXED_KEYS: [&str; 5] = ["env", "bind", "body_limit", "db_max_connections", "db_connect_timeout_secs"];

impl Settings {
    /// Loads defaults < `fastsaas.toml` (if present) < environment.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_from(Path::new("fastsaas.toml"))
    }

    /// Like [`Settings::load`], with the TOML file at `toml_path`.
    pub fn load_from(toml_path: &Path) -> Result<Settings, SettingsError> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(toml_path))
            .merge(Env::prefixed("FASTSAAS_").only(&PREFIXED_KEYS))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .extract()
            .map_err(|err| SettingsError(Box::new(err)))
    }
}
