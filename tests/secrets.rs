//! A sweep over every route of `/openapi.json`, with and without
//! credentials and with bodies full of secrets: no answer ever carries a
//! password, a password hash, a refresh token, an API key or its hash, or a
//! write-only value.
#![allow(clippy::expect_used, reason = "a test reports failure by panicking, helpers included")]

use std::collections::BTreeMap;

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TEST_PASSWORD, TestClient};
use http::Method;

/// A worker with a secret and keys.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
#[crud(authenticated)]
struct Agent {
    name: String,
    #[crud(write_only)]
    webhook_secret: Option<String>,
}

const WEBHOOK_SECRET: &str = "whsec-7f3a9c1e5b";
const OTHER_PASSWORD: &str = "correct horse battery";

/// Every value no response may contain.
struct Secrets(Vec<String>);

impl Secrets {
    fn assert_absent_from(&self, what: &str, text: &str) {
        for secret in &self.0 {
            assert!(!text.contains(secret.as_str()), "{what} leaks `{secret}`: {text}");
        }
        assert!(!text.contains("$argon2"), "{what} leaks a password hash: {text}");
    }
}

/// The stored hashes of keys and refresh tokens, read behind the app's back.
async fn stored_hashes(client: &TestClient) -> Vec<String> {
    let db = Database::connect(client.settings().database_url.as_str()).await.expect("the test database");
    let mut hashes = Vec::new();
    for query in ["SELECT key_hash AS h FROM fastsaas_api_keys", "SELECT token_hash AS h FROM fastsaas_refresh_tokens"]
    {
        let rows =
            db.query_all_raw(Statement::from_string(db.get_database_backend(), query)).await.expect("the hashes");
        hashes.extend(rows.iter().map(|row| row.try_get::<String>("", "h").expect("a text hash")));
    }
    assert!(hashes.len() >= 3, "a key and two refresh tokens were stored: {hashes:?}");
    hashes
}

/// Bodies that try to make an answer echo a secret: wrong types, unknown
/// fields, malformed JSON and a bare string.
fn hostile_bodies(secrets: &[&str]) -> Vec<(&'static str, Vec<u8>)> {
    let [password, refresh, key, webhook] = [secrets[0], secrets[1], secrets[2], secrets[3]];
    let wrong_types = json!({
        "password": [password], "refresh_token": {"t": refresh}, "webhook_secret": 7,
        "name": [key], "email": password, "user_id": key, "principal_id": refresh, "action": webhook,
    });
    let as_fields = json!({
        "password": password, "refresh_token": refresh, "webhook_secret": webhook, "key": key,
        "email": format!("{password}@example.com"), "name": webhook, "unknown": password,
    });
    vec![
        ("wrong types", wrong_types.to_string().into_bytes()),
        ("secrets as fields", as_fields.to_string().into_bytes()),
        ("malformed", format!("{{\"password\": \"{password}\", \"webhook_secret\": \"{webhook}").into_bytes()),
        ("a string", json!(refresh).to_string().into_bytes()),
    ]
}

#[tokio::test]
async fn no_route_ever_answers_with_a_secret() {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let other = client.sign_up("other@example.com").await;
    let patched = json!({"password": OTHER_PASSWORD, "current_password": TEST_PASSWORD});
    client.patch(&format!("/users/{}", other.id)).bearer(&other.token).json(&patched).send().await.assert_status(200);
    let session: Value =
        client.post("/login").json(&json!({"email": "ann@example.com", "password": TEST_PASSWORD})).send().await.json();
    let refresh = session["refresh_token"].as_str().expect("a refresh token").to_owned();
    let agent: Value = client
        .post("/agents")
        .bearer(&ann.token)
        .json(&json!({"name": "bot", "webhook_secret": WEBHOOK_SECRET}))
        .send()
        .await
        .json();
    let agent_id = agent["id"].as_str().expect("an agent").to_owned();
    let issued: Value = client.post(&format!("/agents/{agent_id}/keys")).bearer(&ann.token).send().await.json();
    let key = issued["key"].as_str().expect("a key").to_owned();
    let entry = json!({"principal_id": other.id, "action": "read", "effect": "allow"});
    let entry: Value =
        client.post(&format!("/agents/{agent_id}/acl")).bearer(&ann.token).json(&entry).send().await.json();
    let org: Value = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "acme"})).send().await.json();

    let mut secrets = vec![TEST_PASSWORD.to_owned(), OTHER_PASSWORD.to_owned(), refresh.clone(), key.clone()];
    secrets.push(WEBHOOK_SECRET.to_owned());
    secrets.extend(stored_hashes(&client).await);
    let secrets = Secrets(secrets);

    let ids = BTreeMap::from([
        ("agents", agent_id.clone()),
        ("users", ann.id.to_string()),
        ("orgs", org["id"].as_str().unwrap_or_default().to_owned()),
        ("roles", Uuid::new_v4().to_string()),
        ("acl", Uuid::new_v4().to_string()),
        ("entry_id", entry["id"].as_str().unwrap_or_default().to_owned()),
        ("key_id", issued["id"].as_str().unwrap_or_default().to_owned()),
        ("user_id", other.id.to_string()),
    ]);
    let doc: Value = client.get("/openapi.json").send().await.json();
    secrets.assert_absent_from("/openapi.json", &doc.to_string());
    let mut operations: Vec<(Method, String)> = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let method: Method = method.to_uppercase().parse().expect("an HTTP method");
            operations.push((method, concrete(template, &ids)));
        }
    }
    // Deletions and logout last, so every other route meets live objects
    // and sessions.
    operations.sort_by_key(|(method, path)| *method == Method::DELETE || path == "/logout");
    assert!(operations.len() >= 30, "the sweep covers every documented route: {operations:?}");

    let hostile = hostile_bodies(&[TEST_PASSWORD, &refresh, &key, WEBHOOK_SECRET]);
    let mut statuses = BTreeMap::<u16, usize>::new();
    for (method, path) in &operations {
        let mut attempts = Vec::new();
        if *method != Method::DELETE {
            for (label, body) in &hostile {
                for token in [&ann.token, &other.token, &key] {
                    let request = client.request(method.clone(), path).bearer(token);
                    let request = request.header(http::header::CONTENT_TYPE, "application/json");
                    attempts.push((format!("{method} {path} ({label})"), request.body(body.clone())));
                }
            }
        }
        for token in [&other.token, &key, &ann.token] {
            attempts.push((format!("{method} {path} (no body)"), client.request(method.clone(), path).bearer(token)));
        }
        attempts.push((format!("{method} {path} (no credentials)"), client.request(method.clone(), path)));
        for (what, request) in attempts {
            let response = request.send().await;
            *statuses.entry(response.status().as_u16()).or_default() += 1;
            secrets.assert_absent_from(&what, &response.text());
            for (name, value) in response.headers() {
                secrets.assert_absent_from(&format!("{what}, header {name}"), value.to_str().unwrap_or_default());
            }
        }
    }
    for status in [200, 400, 401, 403, 404] {
        assert!(statuses.contains_key(&status), "the sweep met a {status}: {statuses:?}");
    }
}

/// The documented path with every `{parameter}` replaced by a live id.
fn concrete(template: &str, ids: &BTreeMap<&str, String>) -> String {
    let collection = template.trim_start_matches('/').split('/').next().unwrap_or_default();
    let mut path = String::new();
    for (n, piece) in template.split('{').enumerate() {
        if n == 0 {
            path.push_str(piece);
            continue;
        }
        let (name, rest) = piece.split_once('}').expect("a closed path parameter");
        let key = if name == "id" { collection } else { name };
        path.push_str(ids.get(key).map_or("00000000-0000-0000-0000-000000000001", String::as_str));
        path.push_str(rest);
    }
    path
}
