//! Every route of a resource and every error status of API.md, through the
//! in-process test client. Runs on SQLite, or on PostgreSQL when
//! `FASTSAAS_TEST_DATABASE_URL` is set.

use std::collections::BTreeMap;

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;
use fastsaas::{DateTime, Settings, Utc, Uuid};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items", acl_admins = ["superadmin"])]
struct Item {
    #[crud(validate(length(min = 1, max = 10)), filter, sort, unique)]
    pub name: String,
    pub config: Value,
    #[crud(read_only, default = "idle")]
    pub status: String,
    #[crud(write_only)]
    pub secret: Option<String>,
    #[crud(validate(range(min = 0, max = 5)), filter, sort)]
    pub rank: Option<i32>,
    #[crud(default = 1)]
    pub weight: i64,
}

#[derive(CrudEnum, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Colour {
    Red,
    DarkBlue,
}

/// One field of every supported type.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/samples")]
struct Sample {
    pub text: String,
    pub flag: bool,
    pub small: i32,
    pub big: i64,
    pub ratio: f64,
    pub other: Uuid,
    pub when: DateTime<Utc>,
    pub tags: Vec<String>,
    pub scores: BTreeMap<String, i64>,
    #[crud(filter)]
    pub colour: Colour,
    pub maybe_colour: Option<Colour>,
    #[crud(validate(email))]
    pub email: Option<String>,
    #[crud(validate(pattern = "[a-z]+"))]
    pub code: Option<String>,
    #[crud(hidden, default = 7)]
    pub internal: i64,
}

/// Holds secrets nested deep enough that only serde can name the error.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/vaults")]
struct Vault {
    label: String,
    #[crud(write_only)]
    pins: Option<Vec<i32>>,
    codes: Vec<i32>,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
#[crud(ops(read, list))]
struct Note {
    pub body: String,
}

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(fastsaas::Secret("root password".into())),
        ..Settings::default()
    }
}

/// An app with three resources, acting as a freshly signed-up user.
async fn client() -> TestClient {
    let mut client = TestClient::start(
        App::new(settings()).resource::<Item>().resource::<Sample>().resource::<Note>().resource::<Vault>(),
    )
    .await;
    let user = client.sign_up("owner@example.com").await;
    client.act_as(&user);
    client
}

async fn create_item(client: &TestClient, name: &str) -> Value {
    let response = client.post("/items").json(&json!({"name": name, "config": {"a": 1}})).send().await;
    response.assert_status(201);
    response.json()
}

fn errors(response: &fastsaas::testing::TestResponse) -> Vec<(String, String)> {
    let body: Value = response.json();
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn create_answers_201_with_the_record_and_its_location() {
    let client = client().await;
    let response = client
        .post("/items")
        .json(&json!({"name": "first", "config": {"a": [1, 2]}, "secret": "hunter2", "rank": 3}))
        .send()
        .await;
    response.assert_status(201);
    let body: Value = response.json();
    let id = body["id"].as_str().unwrap_or_default();
    assert_eq!(response.header("location"), Some(format!("/items/{id}").as_str()));
    assert_eq!(body["name"], "first");
    assert_eq!(body["config"], json!({"a": [1, 2]}));
    assert_eq!(body["status"], "idle", "read_only default");
    assert_eq!(body["weight"], 1, "a writable field left out takes its default");
    let me: Value = client.get("/me").send().await.json();
    assert_eq!(body["owner_id"], me["id"], "the creator owns what it creates");
    assert_eq!(body["created_at"], body["updated_at"]);
    assert!(body.get("secret").is_none(), "write_only never returned: {body}");
    assert!(!response.text().contains("hunter2"));

    let read = client.get(&format!("/items/{id}")).send().await;
    read.assert_status(200);
    assert_eq!(read.json::<Value>(), body);
}

#[tokio::test]
async fn trailing_slashes_are_accepted() {
    let client = client().await;
    client.post("/items/").json(&json!({"name": "a", "config": null})).send().await.assert_status(201);
    client.get("/items/").send().await.assert_status(200);
    let created = create_item(&client, "b").await;
    let id = created["id"].as_str().unwrap_or_default();
    client.get(&format!("/items/{id}/")).send().await.assert_status(200);
}

#[tokio::test]
async fn read_of_a_missing_or_malformed_id() {
    let client = client().await;
    let missing = client.get("/items/6a1f1d44-5f4c-4b4e-9d59-9a2b7c9d0e11").send().await;
    missing.assert_status(404);
    assert_eq!(missing.header("content-type"), Some("application/problem+json"));
    assert_eq!(missing.json::<Value>()["type"], "urn:fastsaas:problem:not-found");
    let malformed = client.get("/items/not-a-uuid").send().await;
    malformed.assert_status(400);
    assert_eq!(malformed.json::<Value>()["type"], "urn:fastsaas:problem:invalid-id");
    let undecodable = client.delete("/items/%FF%FE").send().await;
    undecodable.assert_status(400);
    assert_eq!(undecodable.json::<Value>()["detail"], "`%FF%FE` is not a valid id; ids are UUIDs");
    let unknown_route = client.get("/nowhere").send().await;
    unknown_route.assert_status(404);
    assert_eq!(unknown_route.header("content-type"), Some("application/problem+json"));
}

/// serde reads a struct from an array by position; a body must still be
/// an object (a fuzzer's `[]` once patched a record with nothing, 200).
#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let client = client().await;
    let created = create_item(&client, "before").await;
    let path = format!("/items/{}", created["id"].as_str().unwrap_or_default());
    for body in [json!([]), json!(["renamed", 3]), json!([null, null]), json!("text"), json!(7)] {
        let refused = client.patch(&path).json(&body).send().await;
        refused.assert_status(400);
        assert_eq!(errors(&refused), [("<body>".to_owned(), "wrong_type".to_owned())], "{body}");
        client.post("/items").json(&body).send().await.assert_status(400);
    }
    let broken = client
        .patch(&path)
        .header(fastsaas::axum::http::header::CONTENT_TYPE, "application/json")
        .body("[1,")
        .send()
        .await;
    assert_eq!(broken.json::<Value>()["type"], "urn:fastsaas:problem:malformed-json");
    let unchanged: Value = client.get(&path).send().await.json();
    assert_eq!(unchanged["name"], "before");
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let client = client().await;
    let created = create_item(&client, "before").await;
    let id = created["id"].as_str().unwrap_or_default();
    let response = client.patch(&format!("/items/{id}")).json(&json!({"rank": 2})).send().await;
    response.assert_status(200);
    let patched: Value = response.json();
    assert_eq!(patched["name"], "before");
    assert_eq!(patched["rank"], 2);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);

    let cleared = client.patch(&format!("/items/{id}")).json(&json!({"rank": null})).send().await;
    cleared.assert_status(200);
    assert_eq!(cleared.json::<Value>()["rank"], Value::Null, "null clears an Option field");

    let refused =
        client.patch(&format!("/items/{id}")).json(&json!({"name": null, "status": "busy", "id": id})).send().await;
    refused.assert_status(400);
    let mut found = errors(&refused);
    found.sort();
    assert_eq!(
        found,
        [
            ("id".into(), "read_only".into()),
            ("name".into(), "not_nullable".into()),
            ("status".into(), "read_only".into())
        ]
    );

    let invalid = client.patch(&format!("/items/{id}")).json(&json!({"name": "much too long a name"})).send().await;
    invalid.assert_status(400);
    assert_eq!(errors(&invalid), [("name".into(), "invalid".into())]);

    client
        .patch("/items/6a1f1d44-5f4c-4b4e-9d59-9a2b7c9d0e11")
        .json(&json!({"rank": 1}))
        .send()
        .await
        .assert_status(404);
}

#[tokio::test]
async fn put_replaces_every_writable_field() {
    let client = client().await;
    let created = create_item(&client, "old").await;
    let id = created["id"].as_str().unwrap_or_default();
    let response =
        client.put(&format!("/items/{id}")).json(&json!({"name": "new", "config": [1], "weight": 3})).send().await;
    response.assert_status(200);
    let replaced: Value = response.json();
    assert_eq!(replaced["weight"], 3);
    assert_eq!((replaced["name"].clone(), replaced["config"].clone()), (json!("new"), json!([1])));
    assert_eq!(replaced["status"], "idle");

    let incomplete = client.put(&format!("/items/{id}")).json(&json!({"name": "x"})).send().await;
    incomplete.assert_status(400);
    assert_eq!(errors(&incomplete), [("config".into(), "missing".into())]);
    client
        .put("/items/6a1f1d44-5f4c-4b4e-9d59-9a2b7c9d0e11")
        .json(&json!({"name": "x", "config": 1}))
        .send()
        .await
        .assert_status(404);
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let client = client().await;
    let created = create_item(&client, "doomed").await;
    let path = format!("/items/{}", created["id"].as_str().unwrap_or_default());
    let deleted = client.delete(&path).send().await;
    deleted.assert_status(204);
    assert!(deleted.bytes().is_empty());
    client.get(&path).send().await.assert_status(404);
    client.delete(&path).send().await.assert_status(404);
}

#[tokio::test]
async fn list_pages_filters_and_sorts() {
    let client = client().await;
    for n in 0..25 {
        let body = json!({"name": format!("n{n:02}"), "config": {}, "rank": n % 3});
        client.post("/items").json(&body).send().await.assert_status(201);
    }
    let first: Value = client.get("/items").send().await.json();
    assert_eq!(
        (first["page"].clone(), first["page_size"].clone(), first["total"].clone()),
        (json!(1), json!(20), json!(25))
    );
    assert_eq!(first["items"].as_array().map(Vec::len), Some(20));
    assert_eq!(first["items"][0]["name"], "n00", "default order is creation order");

    let second: Value = client.get("/items?page=3&page_size=10").send().await.json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(5));
    let past_the_end: Value = client.get("/items?page=9").send().await.json();
    assert_eq!(past_the_end["items"], json!([]));
    assert_eq!(past_the_end["total"], 25);

    let sorted: Value = client.get("/items?sort=-name&page_size=2").send().await.json();
    assert_eq!(sorted["items"][0]["name"], "n24");
    let filtered: Value = client.get("/items?rank=1&sort=name").send().await.json();
    assert_eq!(filtered["total"], 8);
    assert!(filtered["items"].as_array().into_iter().flatten().all(|item| item["rank"] == 1));
    let untotalled: Value = client.get("/items?total=false").send().await.json();
    assert!(untotalled.get("total").is_none());

    for bad in [
        "page=0",
        "page=x",
        "page_size=0",
        "page_size=101",
        "total=maybe",
        "sort=config",
        "sort=-secret",
        "status=idle",
        "bogus=1",
        "rank=high",
        "page=1&page=2",
    ] {
        let response = client.get(&format!("/items?{bad}")).send().await;
        response.assert_status(400);
        assert_eq!(response.json::<Value>()["type"], "urn:fastsaas:problem:invalid-query", "{bad}");
    }
}

#[tokio::test]
async fn clear_deletes_every_row() {
    let mut client = client().await;
    for name in ["a", "b", "c"] {
        create_item(&client, name).await;
    }
    client.delete("/items").send().await.assert_status(403);
    let root = client.sign_in("root@example.com", "root password").await;
    client.act_as(&root);
    let response = client.delete("/items").send().await;
    response.assert_status(200);
    assert_eq!(response.json::<Value>(), json!({"deleted": 3}));
    assert_eq!(client.get("/items").send().await.json::<Value>()["total"], 0);
}

#[tokio::test]
async fn disabled_operations_answer_405() {
    let client = client().await;
    let response = client.post("/notes").json(&json!({"body": "x"})).send().await;
    response.assert_status(405);
    assert_eq!(response.json::<Value>()["type"], "urn:fastsaas:problem:method-not-allowed");
    assert_eq!(response.header("allow"), Some("GET"));
    client.delete("/notes").send().await.assert_status(405);
    client.patch("/notes/6a1f1d44-5f4c-4b4e-9d59-9a2b7c9d0e11").json(&json!({})).send().await.assert_status(405);
    client.get("/notes").send().await.assert_status(200);
    client.request(http::Method::OPTIONS, "/items").send().await.assert_status(405);
}

#[tokio::test]
async fn every_resource_route_needs_credentials() {
    let client = client().await;
    let created = create_item(&client, "mine").await;
    let path = format!("/items/{}", created["id"].as_str().unwrap_or_default());
    for (method, path) in [
        (http::Method::GET, "/items"),
        (http::Method::POST, "/items"),
        (http::Method::DELETE, "/items"),
        (http::Method::GET, path.as_str()),
        (http::Method::PATCH, path.as_str()),
        (http::Method::PUT, path.as_str()),
        (http::Method::DELETE, path.as_str()),
    ] {
        let response = client.request(method.clone(), path).without_identity().json(&json!({})).send().await;
        assert_eq!(response.status().as_u16(), 401, "{method} {path}: {}", response.text());
    }
}

#[tokio::test]
async fn a_taken_unique_value_is_409() {
    let client = client().await;
    create_item(&client, "taken").await;
    let response = client.post("/items").json(&json!({"name": "taken", "config": 1})).send().await;
    response.assert_status(409);
    let body: Value = response.json();
    assert_eq!(body["type"], "urn:fastsaas:problem:conflict");
    assert!(body["detail"].as_str().unwrap_or_default().contains("`name`"), "{body}");
}

#[tokio::test]
async fn bodies_that_are_not_acceptable() {
    let client = client().await;
    let no_type = client.post("/items").body(r#"{"name":"a","config":1}"#).send().await;
    no_type.assert_status(415);
    let wrong_type = client.post("/items").header(http::header::CONTENT_TYPE, "text/plain").body("{}").send().await;
    wrong_type.assert_status(415);
    let malformed =
        client.post("/items").header(http::header::CONTENT_TYPE, "application/json").body("{\"name\":").send().await;
    malformed.assert_status(400);
    assert_eq!(malformed.json::<Value>()["type"], "urn:fastsaas:problem:malformed-json");
    let not_an_object = client.post("/items").json(&json!([1, 2])).send().await;
    not_an_object.assert_status(400);

    let mistyped = client.post("/items").json(&json!({"name": 5, "rank": "high", "extra": true})).send().await;
    mistyped.assert_status(400);
    let mut found = errors(&mistyped);
    found.sort();
    assert_eq!(
        found,
        [
            ("config".into(), "missing".into()),
            ("extra".into(), "unknown".into()),
            ("name".into(), "wrong_type".into()),
            ("rank".into(), "wrong_type".into())
        ]
    );
    let out_of_range = client.post("/items").json(&json!({"name": "", "config": 1, "rank": 9})).send().await;
    out_of_range.assert_status(400);
    let mut found = errors(&out_of_range);
    found.sort();
    assert_eq!(found, [("name".into(), "invalid".into()), ("rank".into(), "invalid".into())]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let settings = Settings { body_limit: 64, ..Settings::default() };
    let mut client = TestClient::start(App::new(settings).resource::<Item>()).await;
    let user = client.sign_up("a@b.co").await;
    client.act_as(&user);
    let big = json!({"name": "a", "config": "x".repeat(100)});
    let response = client.post("/items").json(&big).send().await;
    response.assert_status(413);
    assert_eq!(response.json::<Value>()["type"], "urn:fastsaas:problem:payload-too-large");
}

#[tokio::test]
async fn every_field_type_round_trips() {
    let client = client().await;
    let other = "0d6f2a8e-3c55-4f0b-8f6e-3b0a5a1d2c3e";
    let body = json!({
        "text": "t", "flag": true, "small": -5, "big": 9_007_199_254_740_993_i64, "ratio": 0.25,
        "other": other, "when": "2026-01-02T03:04:05Z", "tags": ["x", "y"], "scores": {"a": 1},
        "colour": "dark_blue", "maybe_colour": null, "email": "a@example.com", "code": "abc"
    });
    let response = client.post("/samples").json(&body).send().await;
    response.assert_status(201);
    let created: Value = response.json();
    for key in
        ["text", "flag", "small", "big", "ratio", "other", "tags", "scores", "colour", "maybe_colour", "email", "code"]
    {
        assert_eq!(created[key], body[key], "{key}");
    }
    assert!(created["when"].as_str().unwrap_or_default().starts_with("2026-01-02T03:04:05"));
    assert!(created.get("internal").is_none(), "hidden never returned");

    let filtered: Value = client.get("/samples?colour=dark_blue").send().await.json();
    assert_eq!(filtered["total"], 1);
    client.get("/samples?colour=green").send().await.assert_status(400);

    let bad = json!({
        "text": 1, "flag": "yes", "small": 3_000_000_000_i64, "big": 1.5, "ratio": "x", "other": "nope",
        "when": "yesterday", "tags": {}, "scores": [], "colour": "green", "email": "no", "code": "ABC",
        "internal": 1
    });
    let refused = client.post("/samples").json(&bad).send().await;
    refused.assert_status(400);
    let mut fields: Vec<String> = errors(&refused).into_iter().map(|(field, _)| field).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "big", "code", "colour", "email", "flag", "internal", "other", "ratio", "scores", "small", "tags", "text",
            "when"
        ],
        "every wrong field named at once, mistyped ones and failed rules together"
    );
    let mut rule_breaking = body.clone();
    rule_breaking["email"] = json!("not an address");
    rule_breaking["code"] = json!("ABC");
    let invalid = client.post("/samples").json(&rule_breaking).send().await;
    invalid.assert_status(400);
    let mut found = errors(&invalid);
    found.sort();
    assert_eq!(found, [("code".into(), "invalid".into()), ("email".into(), "invalid".into())]);
}

#[tokio::test]
async fn errors_never_echo_a_write_only_value() {
    let client = client().await;
    let leaky = json!({"label": "v", "pins": [1, "hunter2-secret"], "codes": []});
    let response = client.post("/vaults").json(&leaky).send().await;
    response.assert_status(400);
    assert!(!response.text().contains("hunter2-secret"), "{}", response.text());
    assert_eq!(errors(&response), [("pins[1]".into(), "wrong_type".into())]);
    // An ordinary field keeps serde's precise message.
    let plain = client.post("/vaults").json(&json!({"label": "v", "codes": [1, "x"]})).send().await;
    plain.assert_status(400);
    assert!(plain.text().contains("invalid type"), "{}", plain.text());
    let created = client.post("/vaults").json(&json!({"label": "v", "pins": [918_273_645], "codes": [1]})).send().await;
    created.assert_status(201);
    assert!(!created.text().contains("918273645"), "{}", created.text());
}

/// A hook with secrets: one required, one optional.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/hooks")]
struct Hook {
    pub url: String,
    #[crud(write_only, validate(length(min = 4)))]
    pub token: String,
    #[crud(write_only)]
    pub signing_key: Option<String>,
}

/// The stored `(token, signing_key)` of hook `id`, read from the database.
async fn stored_secrets(client: &TestClient, id: &str) -> (String, Option<String>) {
    use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
    let Ok(db) = Database::connect(client.settings().database_url.as_str()).await else {
        panic!("the test database");
    };
    let sql = "SELECT token, signing_key FROM hooks WHERE id = $1";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [id.parse::<Uuid>().unwrap_or_default().into()]);
    let row = db.query_one_raw(statement).await.ok().flatten().unwrap_or_else(|| panic!("hook {id} is stored"));
    let secrets = (row.try_get("", "token").unwrap_or_default(), row.try_get("", "signing_key").unwrap_or_default());
    let _ = db.close().await;
    secrets
}

#[tokio::test]
async fn a_put_that_leaves_out_a_write_only_value_keeps_it() {
    let mut client = TestClient::start(App::new(settings()).resource::<Hook>()).await;
    let user = client.sign_up("hooks@example.com").await;
    client.act_as(&user);
    // A create still needs every required secret, and checks it.
    let missing = client.post("/hooks").json(&json!({"url": "https://a"})).send().await;
    missing.assert_status(400);
    assert_eq!(errors(&missing), [("token".to_owned(), "missing".to_owned())]);
    client.post("/hooks").json(&json!({"url": "https://a", "token": "abc"})).send().await.assert_status(400);
    let created =
        client.post("/hooks").json(&json!({"url": "https://a", "token": "t-one", "signing_key": "k-one"})).send().await;
    created.assert_status(201);
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/hooks/{id}");

    // The client can never read the secrets back, so a PUT without them keeps them.
    client.put(&path).json(&json!({"url": "https://b"})).send().await.assert_status(200);
    assert_eq!(stored_secrets(&client, &id).await, ("t-one".to_owned(), Some("k-one".to_owned())));
    // `null` clears an optional one; a value replaces.
    client.put(&path).json(&json!({"url": "https://b", "signing_key": null})).send().await.assert_status(200);
    assert_eq!(stored_secrets(&client, &id).await, ("t-one".to_owned(), None));
    client.put(&path).json(&json!({"url": "https://c", "token": "t-two"})).send().await.assert_status(200);
    assert_eq!(stored_secrets(&client, &id).await, ("t-two".to_owned(), None));
    client.put(&path).json(&json!({"url": "https://c", "token": "no"})).send().await.assert_status(400);
    let record: Value = client.get(&path).send().await.json();
    assert_eq!(record["url"], "https://c");
    assert!(record.get("token").is_none() && record.get("signing_key").is_none());

    // The document says so: a PUT's body does not require the secret.
    let doc: Value = client.get("/openapi.json").send().await.json();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["HookCreate"]["required"], json!(["url", "token"]));
    assert_eq!(schemas["HookReplace"]["required"], json!(["url"]));
    let put = &doc["paths"]["/hooks/{id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(put, "#/components/schemas/HookReplace");
}

/// Labels: a name unique per owner, codes unique everywhere.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/labels")]
struct Label {
    #[crud(unique(per_owner))]
    pub name: String,
    #[crud(unique)]
    pub code: String,
    #[crud(unique)]
    pub nickname: Option<String>,
}

#[tokio::test]
async fn uniqueness_per_owner_tells_a_tenant_nothing_about_another() {
    let client = TestClient::start(App::new(settings()).resource::<Label>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let create =
        |user: &fastsaas::testing::TestUser, body: Value| client.post("/labels").bearer(&user.token).json(&body).send();
    create(&ann, json!({"name": "urgent", "code": "a1"})).await.assert_status(201);
    // Another tenant may use the same name: no 409 tells Ben that Ann has one.
    create(&ben, json!({"name": "urgent", "code": "b1"})).await.assert_status(201);
    let again = create(&ann, json!({"name": "urgent", "code": "a2"})).await;
    again.assert_status(409);
    assert!(again.text().contains("`name`") && again.text().contains("owner"), "{}", again.text());
    // A global unique field is taken for everyone (and says so: see the docs).
    let taken = create(&ben, json!({"name": "other", "code": "a1"})).await;
    taken.assert_status(409);
    assert!(taken.text().contains("`code`"), "{}", taken.text());
    // The violated constraint is matched exactly: `nickname` is not `name`.
    create(&ann, json!({"name": "n1", "code": "n1", "nickname": "nick"})).await.assert_status(201);
    let nick = create(&ben, json!({"name": "n2", "code": "n2", "nickname": "nick"})).await;
    nick.assert_status(409);
    assert!(nick.text().contains("`nickname`"), "{}", nick.text());
}

/// One answer names every problem of a body: shape errors (unknown,
/// read-only, mistyped, missing) and failed rules together.
#[tokio::test]
async fn a_body_with_several_problems_reports_all_at_once() {
    let client = client().await;
    let body = json!({"name": "far too long a name", "rank": 9, "config": {}, "status": "busy", "weight": "heavy"});
    let refused = client.post("/items").json(&body).send().await;
    refused.assert_status(400);
    let mut found = errors(&refused);
    found.sort();
    assert_eq!(
        found,
        [
            ("name".into(), "invalid".into()),
            ("rank".into(), "invalid".into()),
            ("status".into(), "read_only".into()),
            ("weight".into(), "wrong_type".into())
        ]
    );
    // A PUT that leaves out only write-only values is not missing anything.
    let created = create_item(&client, "ok").await;
    let path = format!("/items/{}", created["id"].as_str().unwrap_or_default());
    let put = client.put(&path).json(&json!({"name": "way too long!", "config": {}, "weight": "x"})).send().await;
    put.assert_status(400);
    let mut found = errors(&put);
    found.sort();
    assert_eq!(found, [("name".into(), "invalid".into()), ("weight".into(), "wrong_type".into())]);
}
