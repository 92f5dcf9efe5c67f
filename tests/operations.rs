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
    client.get("/healthz").send().await.assert_status(200);

    let doc: Value = client.get("/openapi.json").send().await.json();
    assert!(
        doc["paths"]["/healthz"]["get"].is_object() && doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object()
    );
}
