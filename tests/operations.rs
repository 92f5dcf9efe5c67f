//! `/healthz` and `/readyz`: the process lives; the database answers.

use fastsaas::axum::extract::State;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;
use fastsaas::{AppState, Route, Settings};

/// Closes the app's connection pool, as a failing database would.
async fn close_database(State(app): State<AppState>) -> &'static str {
    let _ = app.db().close_by_ref().await;
    "closed"
}

#[tokio::test]
async fn readiness_follows_the_database_and_liveness_does_not() {
    let app = App::new(Settings::default()).route(Route::post("/test/close-database", close_database));
    let client = TestClient::start(app).await;
    let live = client.get("/healthz").send().await;
    live.assert_status(200);
    assert_eq!(live.json::<Value>(), json!({"status": "ok"}));
    let ready = client.get("/readyz").send().await;
    ready.assert_status(200);
    assert_eq!(ready.json::<Value>(), json!({"status": "ready"}));

    client.post("/test/close-database").send().await.assert_status(200);
    let unready = client.get("/readyz").send().await;
    unready.assert_status(503);
    assert_eq!(unready.header("content-type"), Some("application/problem+json"));
    assert_eq!(unready.json::<Value>()["type"], "urn:fastsaas:problem:unavailable");
    assert_eq!(unready.header("retry-after"), Some("1"));
    client.get("/healthz").send().await.assert_status(200);

    let doc: Value = client.get("/openapi.json").send().await.json();
    assert!(
        doc["paths"]["/healthz"]["get"].is_object() && doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object()
    );
}

/// Writes a row in a transaction, then takes 5 s before it commits.
async fn slow_write(State(app): State<AppState>) -> &'static str {
    use fastsaas::sea_orm::{ConnectionTrait, TransactionTrait};
    let Ok(tx) = app.db().begin().await else { return "no transaction" };
    let _ = tx.execute_unprepared("INSERT INTO deadline_probe (id) VALUES (1)").await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let _ = tx.commit().await;
    "written"
}

async fn probe_rows(State(app): State<AppState>) -> String {
    use fastsaas::sea_orm::{ConnectionTrait, Statement};
    let backend = app.db().get_database_backend();
    let statement = Statement::from_string(backend, "SELECT COUNT(*) AS n FROM deadline_probe");
    let count = app.db().query_one_raw(statement).await.ok().flatten().and_then(|row| row.try_get::<i64>("", "n").ok());
    count.map_or("unreadable".to_owned(), |count| count.to_string())
}

#[tokio::test]
async fn a_handler_past_the_request_timeout_is_answered_503_and_still_runs_to_its_end() {
    let app = App::new(Settings { request_timeout_secs: 1, ..Settings::default() })
        .route(Route::post("/test/slow-write", slow_write))
        .route(Route::get("/test/probe-rows", probe_rows));
    let client = TestClient::start(app).await;
    fastsaas::sea_orm::ConnectionTrait::execute_unprepared(
        &fastsaas::sea_orm::Database::connect(client.settings().database_url.as_str()).await.expect("a connection"),
        "CREATE TABLE deadline_probe (id integer)",
    )
    .await
    .expect("the probe table");

    let started = std::time::Instant::now();
    let cut = client.post("/test/slow-write").send().await;
    cut.assert_status(503);
    assert_eq!(cut.header("content-type"), Some("application/problem+json"));
    // Not "try again": the handler goes on, and what it asked may complete.
    assert_eq!(cut.header("retry-after"), None);
    assert!(cut.json::<Value>()["detail"].as_str().is_some_and(|detail| detail.contains("longer than 1 s")));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    // The handler went on to its commit: its change is whole, not half-done.
    let started = std::time::Instant::now();
    while client.get("/test/probe-rows").send().await.text() != "1" {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the handler did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    client.get("/healthz").send().await.assert_status(200);
}

async fn slow() -> &'static str {
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    "slow"
}

/// An outsider's burst: more slow requests at once than handlers may run
/// (twice `max_connections`) are turned away with 503 problem+json, not
/// queued without bound; once the burst ends, the app serves again.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_past_the_handler_cap_is_turned_away_and_the_app_recovers() {
    let app = App::new(Settings { max_connections: 1, ..Settings::default() }).route(Route::get("/test/slow", slow));
    let client = TestClient::start(app).await;
    let send = || client.get("/test/slow").send();
    let answers = tokio::join!(send(), send(), send(), send(), send(), send());
    let statuses =
        [answers.0, answers.1, answers.2, answers.3, answers.4, answers.5].map(|answer| answer.status().as_u16());
    assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|status| **status == 503).count(), 4, "{statuses:?}");
    client.get("/test/slow").send().await.assert_status(200);
}

/// `/docs/{file}` serves the embedded assets only: no path leads out of
/// them, however it is spelled.
#[tokio::test]
async fn docs_assets_cannot_be_walked_out_of() {
    let client = TestClient::start(App::new(Settings::default())).await;
    client.get("/docs/swagger-ui.css").send().await.assert_status(200);
    for path in [
        "/docs/../Cargo.toml",
        "/docs/%2e%2e/Cargo.toml",
        "/docs/..%2fCargo.toml",
        "/docs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/docs//etc/passwd",
        "/docs/index.html%00.css",
    ] {
        let answer = client.get(path).send().await;
        assert!(answer.status().as_u16() == 404 || answer.status().as_u16() == 400, "{path}: {}", answer.status());
        assert!(!answer.text().contains("[package]") && !answer.text().contains("root:"), "{path}");
    }
}

/// A megabyte, or bytes no token has, where the metrics token goes: 401,
/// never a crash or a slow compare.
#[tokio::test]
async fn hostile_metrics_tokens_are_refused() {
    let token = "a scraper's token of 32 bytes or more".to_owned();
    let settings = Settings { metrics_token: Some(fastsaas::Secret(token.clone())), ..Settings::default() };
    let client = TestClient::start(App::new(settings)).await;
    let huge = "x".repeat(1 << 20);
    for sent in [huge.as_str(), "", "null", &token.to_uppercase(), &format!("{token}x")] {
        client.get("/metrics").bearer(sent).send().await.assert_status(401);
    }
    client.get("/metrics").bearer(&token).send().await.assert_status(200);
}
