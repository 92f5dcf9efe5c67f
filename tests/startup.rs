//! What start-up checks: existing tables, clashing registrations, settings.

use fastsaas::axum::extract::State;
use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
use fastsaas::testing::TestClient;
use fastsaas::{AppState, Route, Secret, Settings, SqliteSynchronous, StartupError};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets")]
struct Widget {
    name: String,
    size: i64,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets")]
#[crud(table = "other_widgets")]
struct SamePath {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/gadgets")]
#[crud(table = "widgets")]
struct SameTable {
    name: String,
}

#[tokio::test]
async fn an_existing_table_without_a_required_column_stops_start_up() {
    let path = std::env::temp_dir().join(format!("fastsaas-startup-{}.db", Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Database::connect(url.as_str()).await.expect("temporary database");
    db.execute_unprepared(
        "CREATE TABLE widgets (id uuid_text PRIMARY KEY, owner_id uuid_text, name text NOT NULL, \
         created_at timestamp_with_timezone_text NOT NULL, updated_at timestamp_with_timezone_text NOT NULL)",
    )
    .await
    .expect("table");
    db.close().await.expect("close");

    let settings = Settings { database_url: url, ..Settings::default() };
    let error = App::new(settings).resource::<Widget>().into_router().await.err();
    let _ = std::fs::remove_file(&path);
    match error {
        Some(StartupError::SchemaDiffers { table, differences }) => {
            assert_eq!(table, "widgets");
            let columns: Vec<&str> = differences.iter().map(|d| d.column.as_str()).collect();
            assert_eq!(columns, ["size"], "{differences:?}");
        }
        other => panic!("expected a schema difference, got {other:?}"),
    }
}

#[tokio::test]
async fn a_table_is_created_once_and_reused() {
    let path = std::env::temp_dir().join(format!("fastsaas-reuse-{}.db", Uuid::new_v4()));
    let settings = Settings { database_url: format!("sqlite://{}?mode=rwc", path.display()), ..Settings::default() };
    let _first =
        App::new(settings.clone()).resource::<Widget>().into_router().await.expect("first start creates the table");
    let _second = App::new(settings).resource::<Widget>().into_router().await.expect("second start finds it complete");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn two_resources_on_one_path_or_table_stop_start_up() {
    let same_path =
        TestClient::try_start(App::new(Settings::default()).resource::<Widget>().resource::<SamePath>()).await;
    assert!(
        matches!(same_path, Err(StartupError::Duplicate { what: "scope path", value: "/widgets", .. })),
        "{same_path:?}"
    );
    let same_table =
        TestClient::try_start(App::new(Settings::default()).resource::<Widget>().resource::<SameTable>()).await;
    assert!(
        matches!(same_table, Err(StartupError::Duplicate { what: "table", value: "widgets", .. })),
        "{same_table:?}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_start_up_error() {
    let settings = Settings {
        database_url: "postgres://nobody@127.0.0.1:1/none".into(),
        db_connect_timeout_secs: 1,
        ..Settings::default()
    };
    let error = App::new(settings).resource::<Widget>().into_router().await.err();
    assert!(matches!(error, Some(StartupError::Database(_))), "{error:?}");
}

#[test]
fn settings_come_from_defaults_then_file_then_environment() {
    let dir = std::env::temp_dir().join(format!("fastsaas-settings-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("fastsaas.toml");
    std::fs::write(&file, "bind = \"0.0.0.0:9000\"\nbody_limit = 2048\n").expect("file");
    let loaded = Settings::load_from(&file).expect("valid settings");
    assert_eq!(loaded.bind, "0.0.0.0:9000");
    assert_eq!(loaded.body_limit, 2048);
    assert_eq!(loaded.database_url, Settings::default().database_url);

    std::fs::write(&file, "bnd = \"typo\"\n").expect("file");
    let error = Settings::load_from(&file).expect_err("unknown keys are refused");
    assert!(error.to_string().contains("bnd"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn nothing() -> &'static str {
    "nothing"
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets/templates")]
#[crud(table = "nested")]
struct Nested {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets")]
#[crud(table = "templated_widgets", templated)]
struct TemplatedWidget {
    name: String,
}

#[tokio::test]
async fn clashing_routes_and_templates_paths_stop_start_up() {
    let app = App::new(Settings::default()).resource::<Widget>().route(Route::get("/widgets/{id}", nothing));
    let clash = TestClient::try_start(app).await;
    assert!(
        matches!(&clash, Err(StartupError::Routes(reason))
            if reason == "`GET /widgets/{id}` is served twice: by `Widget` and by the app (`App::route`)"),
        "{clash:?}"
    );
    let renamed = App::new(Settings::default()).resource::<Widget>().route(Route::post("/widgets/{widget}", nothing));
    let clash = TestClient::try_start(renamed).await;
    assert!(
        matches!(&clash, Err(StartupError::Routes(reason)) if reason.contains("name the same path parameter differently")),
        "{clash:?}"
    );
    let nested = App::new(Settings::default()).resource::<TemplatedWidget>().resource::<Nested>();
    let clash = TestClient::try_start(nested).await;
    assert!(
        matches!(&clash, Err(StartupError::Duplicate { what: "scope path", value: "/widgets/templates", .. })),
        "{clash:?}"
    );
}

#[tokio::test]
async fn a_route_on_a_framework_path_is_a_start_up_error_not_a_panic() {
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/metrics",
        "/ws",
        "/tasks/{id}",
        "/notify",
        "/notifications",
        "/login",
    ] {
        let app = App::new(Settings::default()).route(Route::get(path, nothing));
        let refused = TestClient::try_start(app).await;
        assert!(matches!(&refused, Err(StartupError::Routes(reason)) if reason.contains(path)), "{path}: {refused:?}");
    }
    // A path that merely starts with the same letters is the app's own.
    let app = App::new(Settings::default()).route(Route::get("/healthzone", nothing));
    assert!(TestClient::try_start(app).await.is_ok());
}

/// SQLite syncs its log at checkpoints (`synchronous = NORMAL`, 1) unless
/// the settings ask for a sync at every commit (`FULL`, 2), on every pooled
/// connection.
#[tokio::test]
async fn sqlite_syncs_at_checkpoints_unless_told_to_sync_every_commit() {
    let dir = std::env::temp_dir().join(format!("fastsaas-sync-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (mode, expected) in [(None, 1), (Some(SqliteSynchronous::Full), 2), (Some(SqliteSynchronous::Normal), 1)] {
        let mut settings =
            Settings { database_url: format!("sqlite://{}/sync.db?mode=rwc", dir.display()), ..Settings::default() };
        if let Some(mode) = mode {
            settings.sqlite_synchronous = mode;
        }
        let db = fastsaas_runtime::db::connect(&settings).await.expect("connects");
        let backend = db.get_database_backend();
        let reads = (0..settings.db_max_connections)
            .map(|_| db.query_one_raw(Statement::from_string(backend, "PRAGMA synchronous")));
        for row in futures_util::future::join_all(reads).await {
            let row = row.expect("pragma").expect("a row");
            let value: i32 = row.try_get_by_index(0).expect("a number");
            assert_eq!(value, expected, "{mode:?}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `Widget` at a later version: `name` became sortable and filterable.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets")]
#[crud(table = "widgets")]
struct WidgetSorted {
    #[crud(sort, filter)]
    name: String,
    size: i64,
}

/// The names of the indexes on `widgets` whose names start with `ix_`.
#[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
async fn list_indexes(client: &TestClient) -> Vec<String> {
    let db = Database::connect(client.settings().database_url.as_str()).await.expect("database");
    let backend = db.get_database_backend();
    let sql = if client.is_postgres() {
        "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'widgets'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'widgets'"
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.expect("indexes");
    let mut names: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "name").ok())
        .filter(|name| name.starts_with("ix_"))
        .collect();
    names.sort();
    db.close().await.expect("close");
    names
}

/// A table made before the list indexes existed, or before a field became
/// sortable, gets the indexes its lists walk at the next start; the rows
/// stay, and nothing is created twice.
#[tokio::test]
async fn an_existing_table_gets_the_list_indexes_it_lacks() {
    let client = TestClient::start(App::new(Settings::default()).resource::<Widget>()).await;
    let ann = client.sign_up("ann@example.com").await;
    client
        .post("/widgets")
        .bearer(&ann.token)
        .json(&fastsaas::serde_json::json!({"name": "a", "size": 1}))
        .send()
        .await
        .assert_status(201);
    assert_eq!(list_indexes(&client).await, ["ix_widgets_created_at_id", "ix_widgets_owner_id_created_at_id"]);

    let db = Database::connect(client.settings().database_url.as_str()).await.expect("database");
    for index in list_indexes(&client).await {
        db.execute_unprepared(&format!("DROP INDEX \"{index}\"")).await.expect("drop");
    }
    db.close().await.expect("close");
    assert!(list_indexes(&client).await.is_empty(), "as an older version left it");

    let client = client.restart(App::new(Settings::default()).resource::<WidgetSorted>()).await;
    assert_eq!(
        list_indexes(&client).await,
        [
            "ix_widgets_created_at_id",
            "ix_widgets_name_id",
            "ix_widgets_owner_id_created_at_id",
            "ix_widgets_owner_id_name_created_at_id",
            "ix_widgets_owner_id_name_id",
        ]
    );
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let page: fastsaas::serde_json::Value =
        client.get("/widgets?sort=-name&name=a").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 1, "{page}");
    let client = client.restart(App::new(Settings::default()).resource::<WidgetSorted>()).await;
    assert_eq!(list_indexes(&client).await.len(), 5);
}

/// A scratch `fastsaas.toml` holding `text`, removed when dropped.
struct TomlFile(std::path::PathBuf);

impl TomlFile {
    fn new(text: &str) -> TomlFile {
        let dir = std::env::temp_dir().join(format!("fastsaas-settings-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{err}"));
        let file = dir.join("fastsaas.toml");
        std::fs::write(&file, text).unwrap_or_else(|err| panic!("{err}"));
        TomlFile(file)
    }
}

impl Drop for TomlFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn each_environment_takes_the_default_table_then_its_own() {
    use fastsaas::Environment;
    let file = TomlFile::new(
        "[default]\nbind = \"0.0.0.0:9000\"\nbody_limit = 100\n\n\
         [production]\nbody_limit = 300\ntask_workers = 16\n\n[test]\nbody_limit = 200\n",
    );
    let production = Settings::load_file(&file.0, Environment::Production).expect("production");
    assert_eq!((production.env, production.bind.as_str()), (Environment::Production, "0.0.0.0:9000"));
    assert_eq!((production.body_limit, production.task_workers), (300, 16));
    let test = Settings::load_file(&file.0, Environment::Test).expect("test");
    assert_eq!((test.body_limit, test.task_workers), (200, Settings::default().task_workers));
    let development = Settings::load_file(&file.0, Environment::Development).expect("development");
    assert_eq!((development.body_limit, development.bind.as_str()), (100, "0.0.0.0:9000"));

    let typo = TomlFile::new("[production]\nbnd = \"typo\"\n");
    let error = Settings::load_file(&typo.0, Environment::Production).expect_err("an unknown key").to_string();
    assert!(error.contains("bnd") && error.contains("fastsaas.toml"), "{error}");
    let wrong = TomlFile::new("[default]\nbody_limit = \"big\"\n");
    let error = Settings::load_file(&wrong.0, Environment::Development).expect_err("a string").to_string();
    assert!(error.contains("body_limit") && error.contains("fastsaas.toml"), "{error}");
}

#[test]
fn debug_shows_no_secret_and_no_password_of_a_url() {
    let settings = Settings {
        database_url: "postgres://app:db-pass-1@db.internal:5432/app?sslmode=require".into(),
        redis_url: Some("redis://:redis-pass-2@cache:6379/0".into()),
        jwt_secret: Some(Secret("jwt secret 3, at least thirty-two bytes".into())),
        admin_password: Some(Secret("admin pass 4".into())),
        field_keys: Some(Secret("1:field-key-5".into())),
        ..Settings::default()
    };
    let shown = format!("{settings:?}");
    for secret in ["db-pass-1", "redis-pass-2", "jwt secret 3", "admin pass 4", "field-key-5"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("postgres://app:***@db.internal:5432/app?sslmode=require"), "{shown}");
    assert!(shown.contains("task_workers"), "{shown}");
}

#[tokio::test]
async fn production_refuses_the_default_sqlite_file_unless_told() {
    let production = Settings {
        env: fastsaas::Environment::Production,
        jwt_secret: Some(Secret("a production secret of thirty-two bytes".into())),
        ..Settings::default()
    };
    let refused = App::new(production.clone()).into_router().await.err().map(|err| err.to_string());
    assert!(refused.as_deref().is_some_and(|why| why.contains("FASTSAAS_SQLITE_IN_PRODUCTION")), "{refused:?}");
    let dir = std::env::temp_dir().join(format!("fastsaas-prod-{}", Uuid::new_v4()));
    let elsewhere = format!("sqlite://{}?mode=rwc", dir.with_extension("db").display());
    let chosen = Settings { database_url: elsewhere, ..production };
    assert!(App::new(chosen.clone()).into_router().await.is_ok());
    let _ = std::fs::remove_file(dir.with_extension("db"));
    assert!(chosen.unsafe_for_production().is_none());
    let allowed = Settings { sqlite_in_production: true, ..Settings::default() };
    assert!(Settings { env: fastsaas::Environment::Production, ..allowed }.unsafe_for_production().is_none());
}

#[test]
fn docs_settings_md_lists_every_key_with_its_variable() {
    let table = include_str!("../docs/settings.md");
    let documented: Vec<(String, String)> = table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let variable = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_owned(), variable.to_owned()))
        })
        .collect();
    let fields = fastsaas::serde_json::to_value(Settings::default()).expect("settings serialize");
    let mut keys: Vec<String> = fields.as_object().map(|fields| fields.keys().cloned().collect()).unwrap_or_default();
    let mut listed: Vec<String> = documented.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    listed.sort();
    assert_eq!(listed, keys, "docs/settings.md and Settings list different keys");
    for (key, variable) in &documented {
        let expected = match key.as_str() {
            "database_url" | "redis_url" => key.to_uppercase(),
            "app" => "FASTSAAS_APP__<KEY>".to_owned(),
            _ => format!("FASTSAAS_{}", key.to_uppercase()),
        };
        assert_eq!(variable, &expected, "the variable of `{key}`");
    }
}

/// The app's own settings in the tests below.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Billing {
    currency: String,
    limit: u32,
    #[serde(default)]
    mail: Mail,
}

#[derive(Debug, Default, Deserialize)]
struct Mail {
    host: Option<String>,
}

async fn billing(State(app): State<AppState>) -> String {
    match app.config::<Billing>() {
        Some(billing) => {
            format!("{} {} {}", billing.currency, billing.limit, billing.mail.host.as_deref().unwrap_or("-"))
        }
        None => "unread".to_owned(),
    }
}

fn billing_app(settings: Settings) -> App {
    App::new(settings).config::<Billing>().route(Route::get("/billing", billing))
}

#[tokio::test]
async fn the_app_reads_its_own_section_of_each_environment() {
    use fastsaas::Environment;
    let file = TomlFile::new(
        "[default.app]\ncurrency = \"EUR\"\nlimit = 3\n\n[production.app]\nlimit = 300\n\n[test]\nbody_limit = 200\n",
    );
    let development = Settings::load_file(&file.0, Environment::Development).expect("development");
    let client = TestClient::start(billing_app(development)).await;
    assert_eq!(client.get("/billing").send().await.text(), "EUR 3 -");
    let production = Settings::load_file(&file.0, Environment::Production).expect("production");
    let client = TestClient::start(billing_app(Settings { env: Environment::Test, ..production })).await;
    assert_eq!(client.get("/billing").send().await.text(), "EUR 300 -");
    // The app's state answers for the type it was read as, and no other.
    let client = TestClient::start(App::new(Settings::default()).route(Route::get("/billing", billing))).await;
    assert_eq!(client.get("/billing").send().await.text(), "unread");

    let wrong = TomlFile::new("[app]\ncurrency = \"EUR\"\nlimit = \"many\"\n");
    let settings = Settings::load_file(&wrong.0, Environment::Development).expect("any value is a setting");
    let error = billing_app(settings).into_router().await.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(error.contains("`app.limit`: invalid type, expected u32"), "{error}");
    assert!(!error.contains("many"), "a value may be a secret, and is not shown: {error}");
    assert!(error.contains("fastsaas.toml"), "{error}");
    let typo = TomlFile::new("[app]\ncurrency = \"EUR\"\nlimit = 1\nlimt = 2\n");
    let settings = Settings::load_file(&typo.0, Environment::Development).expect("any key is a setting");
    let error = billing_app(settings).into_router().await.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(error.contains("unknown field `limt`"), "{error}");
    let missing = billing_app(Settings::default()).into_router().await.err().map(|err| err.to_string());
    assert!(missing.unwrap_or_default().contains("missing field `currency`"));
}

/// Variable for [`app_settings_in_a_process_with_variables`]: what it expects.
const EXPECT: &str = "FASTSAAS_TEST_APP_SETTINGS";

/// Run by `variables_set_the_app_settings_over_the_file` with variables
/// set (tests may not set variables in their own process).
#[tokio::test]
#[ignore = "run by variables_set_the_app_settings_over_the_file with its variables"]
async fn app_settings_in_a_process_with_variables() {
    let Ok(expected) = std::env::var(EXPECT) else { return };
    let file = TomlFile::new("[app]\ncurrency = \"EUR\"\nlimit = 3\n");
    let settings = Settings::load_file(&file.0, fastsaas::Environment::Development).expect("settings");
    assert!(!format!("{settings:?}").contains("smtp.example.com"), "app values are redacted");
    if expected == "error" {
        let error = billing_app(settings).into_router().await.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(error.contains("`app.limit`") && error.contains("FASTSAAS_APP__LIMIT"), "{error}");
    } else {
        let client = TestClient::start(billing_app(settings)).await;
        assert_eq!(client.get("/billing").send().await.text(), expected);
    }
}

#[test]
fn variables_set_the_app_settings_over_the_file() {
    let exe = std::env::current_exe().expect("the test binary");
    let run = |limit: &str, expected: &str| {
        std::process::Command::new(&exe)
            .args(["--exact", "app_settings_in_a_process_with_variables", "--ignored", "--quiet"])
            .env("FASTSAAS_APP__LIMIT", limit)
            .env("FASTSAAS_APP__MAIL__HOST", "smtp.example.com")
            .env(EXPECT, expected)
            .output()
            .expect("the test process")
    };
    let read = run("7", "EUR 7 smtp.example.com");
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stdout));
    let refused = run("many", "error");
    assert!(refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
}
