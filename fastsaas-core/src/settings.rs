//! The process settings: defaults < `fastsaas.toml` (its `[default]` table,
//! then the table of the environment) < environment variables.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Which environment the process runs in (`FASTSAAS_ENV`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development (the default).
    #[default]
    Development,
    /// Automated tests: new password hashes are made at a cost fit for
    /// test suites only (argon2id, 64 KiB, 1 pass), so that thousands of
    /// sign-ups take a second. `fastsaas::testing` starts apps in it.
    Test,
    /// Production: stricter start-up checks.
    Production,
}

/// When SQLite waits for a commit to reach the disk
/// (`FASTSAAS_SQLITE_SYNCHRONOUS`), in WAL mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// `NORMAL` (the default, as PocketBase and Rails ship): the log is
    /// synced at checkpoints, not at every commit. A commit survives a
    /// crash of the process; a power loss or an OS crash may lose the last
    /// commits, never the database.
    #[default]
    Normal,
    /// `FULL`: every commit is synced to disk before it is acknowledged, and
    /// holds SQLite's single write lock through that sync.
    Full,
}

/// The settings of a FastSaaS process.
///
/// Loaded by [`Settings::load`] from, in increasing priority: the defaults
/// below, a `fastsaas.toml` file in the working directory (its `[default]`
/// table, then the table named after the environment: `[development]`,
/// `[test]` or `[production]`; a file of plain keys applies to every
/// environment), then the environment (`DATABASE_URL`, `REDIS_URL`, and
/// `FASTSAAS_<FIELD>` for every other field, e.g. `FASTSAAS_BIND`,
/// `FASTSAAS_BODY_LIMIT`). docs/settings.md lists every key.
///
/// `Debug` shows no secret: the values of [`Secret`]s and the passwords in
/// `database_url` and `redis_url` print as `***`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// `FASTSAAS_DB_MIN_CONNECTIONS`: connections the pool keeps open even
    /// when idle (at most `db_max_connections`).
    pub db_min_connections: u32,
    /// `FASTSAAS_DB_CONNECT_TIMEOUT_SECS`: how long to wait for a connection.
    pub db_connect_timeout_secs: u64,
    /// `FASTSAAS_SQLITE_SYNCHRONOUS`: `normal` (the default) or `full`; see
    /// [`SqliteSynchronous`]. PostgreSQL ignores it.
    pub sqlite_synchronous: SqliteSynchronous,
    /// `FASTSAAS_JWT_SECRET`: the key that signs access tokens, at least 32
    /// bytes; required in production. Elsewhere a random key is made at
    /// start-up (tokens then end with the process).
    pub jwt_secret: Option<Secret>,
    /// `FASTSAAS_ADMIN_EMAIL`: at start-up, make sure this user exists and
    /// holds the `superadmin` role.
    pub admin_email: Option<String>,
    /// `FASTSAAS_ADMIN_PASSWORD`: the password of that user when it is created.
    pub admin_password: Option<Secret>,
    /// `FASTSAAS_ACCESS_TOKEN_TTL_SECS`: lifetime of an access token.
    pub access_token_ttl_secs: u64,
    /// `FASTSAAS_REFRESH_TOKEN_TTL_SECS`: lifetime of a refresh token.
    pub refresh_token_ttl_secs: u64,
    /// `FASTSAAS_AUTH_ATTEMPTS_PER_MINUTE`: logins and registrations allowed
    /// per minute from one client address, and separately for one e-mail.
    pub auth_attempts_per_minute: u32,
    /// `FASTSAAS_TRUSTED_PROXIES`: comma-separated addresses and networks
    /// (`10.0.0.0/8, 192.0.2.7`) of the reverse proxies in front of the app.
    /// Only a request from one of them may name its client in
    /// `X-Forwarded-For`; empty (the default) trusts no one, so the socket
    /// peer is the client.
    pub trusted_proxies: String,
    /// `FASTSAAS_CORS_ORIGINS`: comma-separated origins of the browser front
    /// ends allowed to call the API from another origin
    /// (`https://app.example.com, http://localhost:5173`); empty (the
    /// default) allows none, so browsers refuse cross-origin calls.
    pub cors_origins: String,
    /// `FASTSAAS_MAX_CONNECTIONS`: open client connections at most; further
    /// clients wait in the listen queue until one closes.
    pub max_connections: usize,
    /// `FASTSAAS_HEADER_TIMEOUT_SECS`: how long a client may take to send a
    /// request's head, counted from the connection's start or the end of
    /// the previous response (so an idle keep-alive connection is closed
    /// after it too); a slower one is disconnected. From 1 s to a day.
    pub header_timeout_secs: u64,
    /// `FASTSAAS_REQUEST_TIMEOUT_SECS`: how long a request may wait for its
    /// handler; past it the request is answered 503 (the handler still
    /// runs to its end, so that a change it makes is whole, and its answer
    /// is dropped). From 1 s to a day. A WebSocket is not bounded by it
    /// once upgraded.
    pub request_timeout_secs: u64,
    /// `FASTSAAS_IDLE_TIMEOUT_SECS`: how long a request body may stall, or a
    /// client read nothing of a response, before its connection is closed.
    /// A handler's own time is not bounded by it. From 1 s to a day.
    pub idle_timeout_secs: u64,
    /// `FASTSAAS_FIELD_KEYS`: the keys of `#[crud(encrypted)]` fields, as
    /// `id:key` pairs separated by commas (`2026b:<base64>,2026a:<base64>`),
    /// each key 32 random bytes in standard base64 (`openssl rand -base64
    /// 32`). The first encrypts; every one listed decrypts, so a new key
    /// goes first and an old one stays until no value uses it. Required
    /// when a resource has an encrypted field.
    pub field_keys: Option<Secret>,
    /// `FASTSAAS_NOTIFICATIONS_KEPT`: the newest notifications kept per
    /// recipient; each new one deletes those past this count, in its own
    /// transaction. At least 1.
    pub notifications_kept: u64,
    /// `FASTSAAS_NOTIFICATIONS_MAX_AGE_SECS`: notifications older than this
    /// are deleted by a periodic chore that runs every minute.
    pub notifications_max_age_secs: u64,
    /// `FASTSAAS_WS_PING_SECS`: how often `/ws` pings each client; one that
    /// has not answered a ping by the next is disconnected. From 1 s.
    pub ws_ping_secs: u64,
    /// `FASTSAAS_WS_PER_PRINCIPAL`: open `/ws` sockets of one principal at
    /// most, on each process; another one is answered 429.
    pub ws_per_principal: usize,
    /// `FASTSAAS_TASK_WORKERS`: background tasks this process runs at once;
    /// 0 runs none (a process that only serves requests).
    pub task_workers: usize,
    /// `FASTSAAS_TASK_LEASE_SECS`: how long a running task is its worker's
    /// before another process may take it over; the worker extends it every
    /// third of it while the task runs. From 1 s.
    pub task_lease_secs: u64,
    /// `FASTSAAS_TASK_POLL_MS`: how often idle workers look for tasks that
    /// came due (a delay ended, a retry's backoff passed, a lease expired);
    /// a task enqueued in this process wakes them at once. From 10 ms.
    pub task_poll_ms: u64,
    /// `FASTSAAS_TASK_RETRY_BASE_MS`: the backoff after a first failure;
    /// each further failure doubles it (up to an hour), with random jitter
    /// of up to half of it taken off.
    pub task_retry_base_ms: u64,
    /// `FASTSAAS_TASKS_KEPT_SECS`: tasks that succeeded or failed longer ago
    /// than this are deleted by a periodic chore that runs every hour
    /// (`GET /tasks/{id}` is 404 afterwards).
    pub tasks_kept_secs: u64,
    /// `FASTSAAS_SQLITE_IN_PRODUCTION`: lets a production process run on the
    /// default SQLite file (`fastsaas.db` in the working directory), which
    /// production refuses otherwise: a container's working directory is
    /// seldom where its data should live.
    pub sqlite_in_production: bool,
    /// `FASTSAAS_CACHE_CAPACITY`: entries each in-process cache holds at
    /// most (callers, ACL entries, rows of `#[crud(cache)]` types); 0
    /// turns the caches off.
    pub cache_capacity: u64,
    /// `FASTSAAS_CACHE_TTL_SECS`: how long a cached caller (session, roles,
    /// memberships) or set of ACL entries is kept at most. Changes made
    /// through the app invalidate them at once on every replica; this
    /// bounds how long a change made behind the app's back (SQL by hand)
    /// goes unseen. From 1 s.
    pub cache_ttl_secs: u64,
    /// `FASTSAAS_CACHE_REDIS_PREFIX`: what the keys of the shared rows
    /// cache on Redis start with (when `REDIS_URL` is set). Apps that share
    /// one Redis server need prefixes of their own (a staging copy of a
    /// production database has the same ids).
    pub cache_redis_prefix: String,
    /// `FASTSAAS_METRICS_ROLE`: the role a signed-in user needs for
    /// `GET /metrics` on the API's address (superadmins always may).
    pub metrics_role: String,
    /// `FASTSAAS_METRICS_TOKEN`: a bearer token that also opens
    /// `GET /metrics` on the API's address, for a scraper (Prometheus's
    /// `bearer_token`); at least 32 bytes. Unset (the default): none.
    pub metrics_token: Option<Secret>,
    /// `FASTSAAS_METRICS_BIND`: a second socket address that serves
    /// `GET /metrics` to anyone who reaches it (keep it off the public
    /// network: a port the load balancer does not route), also in a
    /// worker-only process. Unset (the default): no second address.
    pub metrics_bind: Option<String>,
    /// The app's own settings: the `[app]` table of `fastsaas.toml` (or
    /// `[<environment>.app]`), and variables `FASTSAAS_APP__<KEY>` (`__`
    /// between nested keys: `FASTSAAS_APP__SMTP__PORT` is `smtp.port`).
    /// `App::config::<T>()` reads them into a `T` of yours at start-up;
    /// `Debug` shows their keys only, since any may be a secret.
    #[serde(default)]
    pub app: serde_json::Map<String, serde_json::Value>,
    /// `FASTSAAS_WORKER_ONLY`: `App::serve` runs the task workers only and
    /// serves no HTTP (a worker process of the same binary), until SIGTERM
    /// or Ctrl-C. Needs `task_workers` above 0.
    pub worker_only: bool,
}

/// A setting that must not appear in logs: `Debug` prints `"***"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
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
            db_min_connections: 0,
            db_connect_timeout_secs: 10,
            sqlite_synchronous: SqliteSynchronous::Normal,
            jwt_secret: None,
            admin_email: None,
            admin_password: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            auth_attempts_per_minute: 10,
            trusted_proxies: String::new(),
            cors_origins: String::new(),
            max_connections: 1024,
            header_timeout_secs: 5,
            request_timeout_secs: 30,
            idle_timeout_secs: 60,
            field_keys: None,
            notifications_kept: 1000,
            notifications_max_age_secs: 30 * 24 * 60 * 60,
            ws_ping_secs: 20,
            ws_per_principal: 8,
            task_workers: 4,
            task_lease_secs: 30,
            task_poll_ms: 1000,
            task_retry_base_ms: 1000,
            tasks_kept_secs: 7 * 24 * 60 * 60,
            sqlite_in_production: false,
            cache_capacity: 10_000,
            cache_ttl_secs: 60,
            cache_redis_prefix: "fastsaas".to_owned(),
            metrics_role: "metrics".to_owned(),
            metrics_token: None,
            metrics_bind: None,
            worker_only: false,
            app: serde_json::Map::new(),
        }
    }
}

/// Settings that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] Box<figment::Error>);

/// The fields read from `FASTSAAS_<FIELD>`; other `FASTSAAS_` variables
/// belong to other parts (tests, macros) and are not settings.
const PREFIXED_KEYS: [&str; 30] = [
    "env",
    "bind",
    "body_limit",
    "db_max_connections",
    "db_min_connections",
    "db_connect_timeout_secs",
    "sqlite_synchronous",
    "access_token_ttl_secs",
    "refresh_token_ttl_secs",
    "auth_attempts_per_minute",
    "max_connections",
    "header_timeout_secs",
    "request_timeout_secs",
    "idle_timeout_secs",
    "notifications_kept",
    "notifications_max_age_secs",
    "ws_ping_secs",
    "ws_per_principal",
    "task_workers",
    "task_lease_secs",
    "task_poll_ms",
    "task_retry_base_ms",
    "tasks_kept_secs",
    "sqlite_in_production",
    "cache_capacity",
    "cache_ttl_secs",
    "cache_redis_prefix",
    "metrics_role",
    "metrics_bind",
    "worker_only",
];

/// The prefix of the variables of the app's own settings.
pub const APP_PREFIX: &str = "FASTSAAS_APP__";

/// The tables of `fastsaas.toml` that hold settings for environments.
const PROFILES: [&str; 4] = ["default", "development", "test", "production"];

impl Environment {
    /// Its name, as `FASTSAAS_ENV` and the tables of `fastsaas.toml` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }

    /// The environment `FASTSAAS_ENV` names (development if unset).
    pub fn from_env() -> Result<Environment, SettingsError> {
        Figment::from(Serialized::default("env", Environment::default()))
            .merge(Env::raw().only(&["FASTSAAS_ENV"]).map(|_| "env".into()))
            .extract_inner("env")
            .map_err(|err| SettingsError(Box::new(err)))
    }
}

impl Settings {
    /// Loads defaults < `fastsaas.toml` (if present) < environment, for the
    /// environment `FASTSAAS_ENV` names.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_for(Environment::from_env()?)
    }

    /// Like [`Settings::load`], for the environment `env`.
    pub fn load_for(env: Environment) -> Result<Settings, SettingsError> {
        Settings::load_file(Path::new("fastsaas.toml"), env)
    }

    /// Like [`Settings::load`], with the TOML file at `toml_path`.
    pub fn load_from(toml_path: &Path) -> Result<Settings, SettingsError> {
        Settings::load_file(toml_path, Environment::from_env()?)
    }

    /// Like [`Settings::load_for`], with the TOML file at `toml_path`.
    pub fn load_file(toml_path: &Path, env: Environment) -> Result<Settings, SettingsError> {
        let file = Toml::file(toml_path);
        // A file of environment tables, or of plain keys for every one.
        let keys = Figment::from(Toml::file(toml_path)).data().map_err(|err| SettingsError(Box::new(err)))?;
        let tables = keys
            .get(&Profile::Default)
            .is_some_and(|keys| !keys.is_empty() && keys.keys().all(|key| PROFILES.contains(&key.as_str())));
        let file = if tables { file.nested() } else { file };
        let mut settings: Settings = Figment::from(Serialized::defaults(Settings { env, ..Settings::default() }))
            .merge(file)
            // Global: over the file's tables, whichever is selected.
            .merge(Env::prefixed("FASTSAAS_").only(&PREFIXED_KEYS).global())
            .merge(Env::prefixed(APP_PREFIX).split("__").map(|key| format!("app.{key}").into()).global())
            .select(env.as_str())
            .extract()
            .map_err(|err| SettingsError(Box::new(err)))?;
        settings.env = env;
        // Taken exactly as written: figment would read `12345678` as a number
        // and `"x"` without its quotes, which a secret must not suffer.
        let raw = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let Some(url) = raw("DATABASE_URL") {
            settings.database_url = url;
        }
        settings.redis_url = raw("REDIS_URL").or(settings.redis_url);
        settings.jwt_secret = raw("FASTSAAS_JWT_SECRET").map(Secret).or(settings.jwt_secret);
        settings.admin_email = raw("FASTSAAS_ADMIN_EMAIL").or(settings.admin_email);
        settings.admin_password = raw("FASTSAAS_ADMIN_PASSWORD").map(Secret).or(settings.admin_password);
        settings.trusted_proxies = raw("FASTSAAS_TRUSTED_PROXIES").unwrap_or(settings.trusted_proxies);
        settings.cors_origins = raw("FASTSAAS_CORS_ORIGINS").unwrap_or(settings.cors_origins);
        settings.field_keys = raw("FASTSAAS_FIELD_KEYS").map(Secret).or(settings.field_keys);
        settings.metrics_token = raw("FASTSAAS_METRICS_TOKEN").map(Secret).or(settings.metrics_token);
        Ok(settings)
    }

    /// What production refuses in these settings, if they are production's
    /// (the JWT secret is checked where the keys are made).
    pub fn unsafe_for_production(&self) -> Option<String> {
        if self.env != Environment::Production {
            return None;
        }
        (self.database_url == Settings::default().database_url && !self.sqlite_in_production).then(|| {
            "DATABASE_URL is the default SQLite file in the working directory: set DATABASE_URL, or \
             FASTSAAS_SQLITE_IN_PRODUCTION=true to keep it"
                .to_owned()
        })
    }
}

impl std::fmt::Debug for Settings {
    /// Every field, secrets and the passwords of URLs as `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut fields = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => return f.write_str("Settings { .. }"),
        };
        for secret in ["jwt_secret", "admin_password", "field_keys", "metrics_token"] {
            if let Some(value) = fields.get_mut(secret).filter(|value| !value.is_null()) {
                *value = "***".into();
            }
        }
        for url in ["database_url", "redis_url"] {
            if let Some(serde_json::Value::String(value)) = fields.get_mut(url) {
                *value = without_password(value);
            }
        }
        if let Some(serde_json::Value::Object(app)) = fields.get_mut("app") {
            app.values_mut().for_each(|value| *value = "***".into());
        }
        let mut shown = f.debug_struct("Settings");
        for (name, value) in &fields {
            shown.field(name, value);
        }
        shown.finish()
    }
}

/// `url` with the password of its `user:password@` part as `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}
