//! Cross-origin requests: browser front ends on the configured origins get
//! CORS answers (preflights included); any other origin gets none, so
//! browsers refuse it; a setting that names no origin stops start-up.

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
