//! Nothing a client sends crashes the process or gets a 5xx: random JSON and
//! random bytes as bodies, random query strings and paths.

use fastsaas::axum::http::header::CONTENT_TYPE;
use fastsaas::prelude::*;
use fastsaas::serde_json::Value;
use fastsaas::testing::{TestClient, TestResponse};
use fastsaas::{Settings, Uuid};
use proptest::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(validate(length(min = 1, max = 10)), filter, sort, unique)]
    name: String,
    config: Value,
    #[crud(validate(range(min = 0, max = 5)), filter)]
    rank: Option<i32>,
    tags: Vec<String>,
    #[crud(read_only, default = "idle")]
    status: String,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z]{0,12}".prop_map(Value::from),
        Just(Value::from("name")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("config".to_owned()),
                    Just("rank".to_owned()),
                    Just("tags".to_owned()),
                    Just("status".to_owned()),
                    Just("id".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn assert_client_error_or_success(response: &TestResponse) {
    let status = response.status().as_u16();
    assert!(status < 500, "server error {status}: {}", response.text());
    if status >= 400 {
        assert_eq!(response.header("content-type"), Some("application/problem+json"), "{}", response.text());
        let problem: Value = response.json();
        assert_eq!(problem["status"], status);
    }
}

async fn signed_in() -> TestClient {
    let mut client = TestClient::start(App::new(Settings::default()).resource::<Item>()).await;
    let user = client.sign_up("fuzz@example.com").await;
    client.act_as(&user);
    client
}

#[allow(clippy::expect_used, reason = "a test stops at its first failure")]
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_json_bodies_never_cause_a_server_error(body in json_value(), patch in json_value()) {
        runtime().block_on(async {
            let client = signed_in().await;
            let created = client.post("/items").json(&body).send().await;
            assert_client_error_or_success(&created);
            let valid = client.post("/items").json(&fastsaas::serde_json::json!({"name": "ok", "config": 1, "tags": []})).send().await;
            valid.assert_status(201);
            let id = valid.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
            assert_client_error_or_success(&client.patch(&format!("/items/{id}")).json(&patch).send().await);
            assert_client_error_or_success(&client.put(&format!("/items/{id}")).json(&patch).send().await);
        });
    }

    #[test]
    fn random_bytes_queries_and_ids_never_cause_a_server_error(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        query in "[a-z_=&%0-9-]{0,24}",
        id in "[a-zA-Z0-9%-]{1,40}",
    ) {
        runtime().block_on(async {
            let client = signed_in().await;
            let response = client
                .post("/items")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone())
                .send()
                .await;
            assert_client_error_or_success(&response);
            assert_client_error_or_success(&client.get(&format!("/items?{query}")).send().await);
            assert_client_error_or_success(&client.get(&format!("/items/{id}")).send().await);
            let missing = Uuid::new_v4();
            assert_client_error_or_success(&client.patch(&format!("/items/{missing}")).body(bytes).send().await);
        });
    }
}

/// PostgreSQL stores no NUL in `text` or `jsonb`: every place a client can
/// put one answers 400 naming the field, on both databases.
#[tokio::test]
async fn a_nul_character_is_a_400_naming_the_field_everywhere() {
    let client = signed_in().await;
    let nul_field = |response: &TestResponse, field: &str| {
        response.assert_status(400);
        let problem: Value = response.json();
        let fields: Vec<&str> =
            problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{field} is named: {problem}");
    };
    let body =
        |text: &str| format!(r#"{{"name": "{text}", "config": {{"k\u0000": 1, "v": ["a\u0000"]}}, "tags": []}}"#);
    let create = client.post("/items").header(CONTENT_TYPE, "application/json").body(body("a\\u0000")).send().await;
    nul_field(&create, "name");
    nul_field(&create, "config.v[0]");
    // `\\u0000` is a backslash and `u0000`, not a NUL.
    let escaped = r#"{"name": "a\\\\u0000", "config": {}, "tags": []}"#;
    let created = client.post("/items").header(CONTENT_TYPE, "application/json").body(escaped).send().await;
    created.assert_status(201);
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let patch = client
        .patch(&format!("/items/{id}"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"tags": ["ok", "b\u0000"]}"#)
        .send()
        .await;
    nul_field(&patch, "tags[1]");
    let login = client
        .post("/login")
        .without_identity()
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email": "a\u0000@example.com", "password": "x"}"#)
        .send()
        .await;
    nul_field(&login, "email");
    let register = client
        .post("/users")
        .without_identity()
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email": "b@example.com", "password": "long enough\u0000"}"#)
        .send()
        .await;
    nul_field(&register, "password");
    assert!(!register.text().contains("long enough"), "a password is never echoed");
    client.get("/items?name=a%00b").send().await.assert_status(400);
    client.get("/items?na%00me=a").send().await.assert_status(400);
}

/// A megabyte where a name goes: over the body limit it is a 413; under it,
/// a 400 naming the field that does not echo the megabyte back.
#[tokio::test]
async fn a_megabyte_where_a_name_goes_is_refused_without_an_echo() {
    let client = signed_in().await;
    let item = |name: String| fastsaas::serde_json::json!({"name": name, "config": {}, "tags": []});
    let over = client.post("/items").json(&item("n".repeat(2 * 1024 * 1024))).send().await;
    over.assert_status(413);
    let under = client.post("/items").json(&item("n".repeat(700 * 1024))).send().await;
    under.assert_status(400);
    let problem: Value = under.json();
    assert_eq!(problem["errors"][0]["field"], "name");
    assert!(under.bytes().len() < 4096, "the answer does not carry the value: {} bytes", under.bytes().len());
    let login =
        fastsaas::serde_json::json!({"email": format!("{}@example.com", "e".repeat(700 * 1024)), "password": "x"});
    let refused = client.post("/login").without_identity().json(&login).send().await;
    assert!(matches!(refused.status().as_u16(), 400 | 401), "{}", refused.status());
    assert!(refused.bytes().len() < 4096, "the answer does not carry the e-mail");
}
