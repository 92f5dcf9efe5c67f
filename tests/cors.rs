//! Cross-origin requests: browser front ends on the configured origins get
//! CORS answers (preflights included); any other origin gets none, so
//! browsers refuse it; a setting that names no origin stops start-up; look-alike
//! or huge origins and hostile request ids get no echo.

use fastsaas::axum::http::{HeaderName, Method};
use fastsaas::prelude::*;
use fastsaas::testing::TestClient;
use fastsaas::{Settings, StartupError};

const FRONT_END: &str = "https://app.example.com";

fn name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

async fn preflight(client: &TestClient, origin: &str) -> fastsaas::testing::TestResponse {
    client
        .request(Method::OPTIONS, "/users")
        .without_identity()
        .header(name("origin"), origin)
        .header(name("access-control-request-method"), "POST")
        .header(name("access-control-request-headers"), "content-type,authorization")
        .send()
        .await
}

#[tokio::test]
async fn only_the_configured_origins_are_answered() {
    let settings = Settings { cors_origins: format!("{FRONT_END}, http://localhost:5173"), ..Settings::default() };
    let client = TestClient::start(App::new(settings)).await;
    let allowed = preflight(&client, FRONT_END).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some(FRONT_END));
    let methods = allowed.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    assert!(methods.contains("POST") && methods.contains("PATCH"), "{methods}");
    let headers = allowed.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");

    let refused = preflight(&client, "https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    let read = client.get("/healthz").without_identity().header(name("origin"), "http://localhost:5173").send().await;
    read.assert_status(200);
    assert_eq!(read.header("access-control-allow-origin"), Some("http://localhost:5173"));
    let exposed = read.header("access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("location"), "{exposed}");
}

#[tokio::test]
async fn without_origins_no_cross_origin_call_is_allowed() {
    let client = TestClient::start(App::new(Settings::default())).await;
    assert_eq!(preflight(&client, FRONT_END).await.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_setting_that_names_no_origin_stops_start_up() {
    for bad in ["*", "https://app.example.com/path", "app.example.com"] {
        let settings = Settings { cors_origins: bad.to_owned(), ..Settings::default() };
        let error = TestClient::try_start(App::new(settings)).await.err();
        assert!(
            matches!(&error, Some(StartupError::Config(why)) if why.contains("FASTSAAS_CORS_ORIGINS") && why.contains(bad)),
            "{bad}: {error:?}"
        );
    }
}

#[tokio::test]
async fn hostile_origins_and_request_ids_get_no_echo() {
    let settings = Settings { cors_origins: FRONT_END.to_owned(), ..Settings::default() };
    let client = TestClient::start(App::new(settings)).await;
    // A look-alike origin and a long one: no CORS answer.
    for origin in ["https://app.example.com.evil.example", &format!("https://{}.example", "a".repeat(8 * 1024))] {
        assert_eq!(preflight(&client, origin).await.header("access-control-allow-origin"), None, "{origin:.40}");
    }
    // A request id that could forge a log line, or fill one, is replaced.
    for id in ["a\"}{\"forged\":1", &"x".repeat(8 * 1024), "tab\there"] {
        let answer = client.get("/healthz").without_identity().header(name("x-request-id"), id).send().await;
        answer.assert_status(200);
        let echoed = answer.header("x-request-id").unwrap_or_default();
        assert_eq!(echoed.len(), 32, "{id:.40} was echoed as {echoed:.40}");
    }
    // A burst from one front end: every answer carries CORS and its own id.
    let answers = (0..50)
        .map(|_| async { client.get("/healthz").without_identity().header(name("origin"), FRONT_END).send().await });
    let answers = futures_util::future::join_all(answers).await;
    let mut ids: Vec<&str> = answers.iter().filter_map(|answer| answer.header("x-request-id")).collect();
    assert!(answers.iter().all(|answer| answer.header("access-control-allow-origin") == Some(FRONT_END)));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "request ids repeat");
}
