//! What the app logs: one span per request with its id (echoed in
//! `x-request-id` on every answer, errors included), method, route template,
//! principal, status and latency; and never a password, a token, an API key
//! or a `?token=` query, whatever the request did. A scripted run (sign-up,
//! logins good and bad, a refresh, an API key, a WebSocket opened with
//! `?token=`, errors) is logged as JSON lines into a buffer, which is then
//! searched for every secret it used.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;
use fastsaas::{Secret, Settings};

/// A device: it acts with API keys.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/devices")]
#[crud(authenticated)]
struct Device {
    name: String,
}

/// Where the subscriber writes: one buffer for the whole test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

fn capture() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let filter = tracing_subscriber::EnvFilter::new("debug");
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .try_init();
    assert!(installed.is_ok(), "a subscriber was already installed");
    captured
}

const JWT_SECRET: &str = "the log test's own secret, 32 bytes or more";

#[tokio::test]
async fn a_scripted_run_logs_requests_by_route_and_never_a_secret() {
    let logs = capture();
    let settings = Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root's password, logged nowhere".into())),
        jwt_secret: Some(Secret(JWT_SECRET.into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Device>()).await;
    let password = "ann's password 7f3a, logged nowhere";
    let wrong = "a wrong password c91e, logged nowhere";
    let credentials = json!({"email": "ann@example.com", "password": password});
    client.post("/users").json(&credentials).send().await.assert_status(201);
    let failed = client.post("/login").json(&json!({"email": "ann@example.com", "password": wrong})).send().await;
    failed.assert_status(401);
    let login: Value = client.post("/login").json(&credentials).send().await.json();
    let access = login["access_token"].as_str().unwrap_or_default().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap_or_default().to_owned();
    let renewed: Value = client.post("/refresh").json(&json!({"refresh_token": refresh})).send().await.json();
    let access2 = renewed["access_token"].as_str().unwrap_or_default().to_owned();
    let refresh2 = renewed["refresh_token"].as_str().unwrap_or_default().to_owned();
    // A used refresh token again: refused, and the session ends.
    client.post("/refresh").json(&json!({"refresh_token": refresh})).send().await.assert_status(401);
    let login: Value = client.post("/login").json(&credentials).send().await.json();
    let token = login["access_token"].as_str().unwrap_or_default().to_owned();

    let device: Value = client.post("/devices").bearer(&token).json(&json!({"name": "probe"})).send().await.json();
    let device_id = device["id"].as_str().unwrap_or_default().to_owned();
    let key: Value = client.post(&format!("/devices/{device_id}/keys")).bearer(&token).send().await.json();
    let api_key = key["key"].as_str().unwrap_or_default().to_owned();
    client.get("/devices").bearer(&api_key).send().await.assert_status(200);
    // Errors: a bad body, an unknown route, a bad token.
    let bad = client.patch(&format!("/devices/{device_id}")).bearer(&token).json(&json!({"name": 7})).send().await;
    bad.assert_status(400);
    let missing = client.get("/nowhere").bearer(&token).send().await;
    missing.assert_status(404);
    client.get("/me").bearer("not-a-token-3b8d").send().await.assert_status(401);

    // The socket takes its token in the query.
    let address = client.listen().await;
    let stream = tokio::net::TcpStream::connect(address).await.unwrap_or_else(|err| panic!("{err}"));
    let url = format!("ws://{address}/ws?token={token}");
    let (socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap_or_else(|err| panic!("/ws: {err}"));
    drop(socket);

    // Every answer carries its request id; a fit one sent is kept.
    assert_eq!(missing.header("x-request-id").map(str::len), Some(32), "a new id on an error");
    assert!(bad.header("x-request-id").is_some());
    let traced = client.get("/me").bearer(&token).header(http_name(), "client-id-42").send().await;
    assert_eq!(traced.header("x-request-id"), Some("client-id-42"));
    let forged = client.get("/me").bearer(&token).header(http_name(), "two words\tand a tab").send().await;
    assert_ne!(forged.header("x-request-id"), Some("two words\tand a tab"));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = logs.text();
    for secret in
        [password, wrong, &access, &access2, &refresh, &refresh2, &token, &api_key, JWT_SECRET, "root's password"]
    {
        assert!(!text.contains(secret), "a secret was logged: {secret}");
    }
    assert!(!text.contains("?token="), "a query string was logged");
    let requests: Vec<Value> = text
        .lines()
        .filter_map(|line| fastsaas::serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "request finished")
        .collect();
    let span = |event: &Value| event["span"].clone();
    let routes: Vec<String> =
        requests.iter().map(|event| span(event)["route"].as_str().unwrap_or_default().to_owned()).collect();
    for route in ["/users", "/login", "/refresh", "/devices", "/devices/{id}/keys", "/devices/{id}", "/me", "/ws"] {
        assert!(routes.iter().any(|logged| logged == route), "{route} not logged: {routes:?}");
    }
    assert!(routes.iter().all(|route| !route.contains(&device_id)), "a raw path was logged: {routes:?}");
    let kept = requests.iter().find(|event| span(event)["id"] == "client-id-42");
    let kept = kept.unwrap_or_else(|| panic!("the client's id is not in the logs"));
    assert_eq!(span(kept)["status"], 200);
    assert_eq!(span(kept)["method"], "GET");
    assert!(span(kept)["principal"].as_str().is_some_and(|principal| principal.len() == 36), "{kept}");
    assert!(span(kept)["latency_ms"].as_f64().is_some(), "{kept}");
    let unknown = requests.iter().find(|event| span(event)["status"] == 404);
    assert!(unknown.is_some_and(|event| span(event)["route"] == "(no route)"), "{requests:?}");
}

fn http_name() -> fastsaas::axum::http::HeaderName {
    fastsaas::axum::http::HeaderName::from_static("x-request-id")
}
