//! Encryption at rest of `#[crud(encrypted)]` fields: the database holds
//! ciphertext bound to its row, the app's code reads plain text, a PUT
//! keeps the value it cannot see, and keys rotate without losing a value.
#![allow(clippy::expect_used, reason = "a test reports failure by panicking, helpers included")]

use fastsaas::axum::extract::{Path, State};
use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{AppState, Secret, Settings};

const OLD_KEY: &str = "old:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const NEW_KEY: &str = "new:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// A webhook whose signing secret is stored encrypted.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/hooks")]
struct Hook {
    url: String,
    #[crud(write_only, encrypted, validate(length(min = 8)))]
    secret: Option<String>,
}

#[endpoints]
impl Hook {
    /// The secret, as the app's own code reads it (to sign a delivery).
    #[endpoint(get, "/{id}/secret")]
    async fn reveal(ctx: Ctx, Path(id): Path<Uuid>) -> ApiResult<Json<Option<String>>> {
        Ok(Json(ctx.records::<Hook>().get(id).await?.data.secret))
    }

    /// Seals every secret again with the current key.
    #[endpoint(post, "/reseal", signed_in)]
    async fn reseal(State(app): State<AppState>) -> ApiResult<Json<Value>> {
        let done = fastsaas::encryption::reseal::<Hook>(&app).await?;
        Ok(Json(json!({"sealed": done.sealed, "unopened": done.unopened})))
    }
}

fn app(keys: &str) -> App {
    let settings = Settings { field_keys: Some(Secret(keys.to_owned())), ..Settings::default() };
    App::new(settings).resource::<Hook>()
}

async fn database(client: &TestClient) -> DatabaseConnection {
    Database::connect(client.settings().database_url.as_str()).await.expect("the test database")
}

/// The stored text of `id`'s secret, read behind the app's back.
async fn stored(client: &TestClient, id: &str) -> String {
    let db = database(client).await;
    let id: Uuid = id.parse().expect("an id");
    let sql = "SELECT secret FROM hooks WHERE id = $1";
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [id.into()]);
    let row = db.query_one_raw(statement).await.expect("the row");
    row.expect("a row").try_get::<String>("", "secret").expect("a text secret")
}

async fn create(client: &TestClient, user: &TestUser, secret: &str) -> String {
    let created = client
        .post("/hooks")
        .bearer(&user.token)
        .json(&json!({"url": "https://a.example", "secret": secret}))
        .send()
        .await;
    created.assert_status(201);
    assert!(created.json::<Value>().get("secret").is_none(), "never in an answer");
    created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned()
}

async fn reveal(client: &TestClient, user: &TestUser, id: &str) -> Value {
    let revealed = client.get(&format!("/hooks/{id}/secret")).bearer(&user.token).send().await;
    revealed.assert_status(200);
    revealed.json()
}

#[tokio::test]
async fn secrets_are_ciphertext_in_the_database_and_plain_text_to_the_app() {
    let client = TestClient::start(app(OLD_KEY)).await;
    let ann = client.sign_up("ann@example.com").await;
    let id = create(&client, &ann, "first secret").await;
    let sealed = stored(&client, &id).await;
    assert!(sealed.starts_with("fse1:old:") && !sealed.contains("first secret"), "{sealed}");
    assert_eq!(reveal(&client, &ann, &id).await, "first secret");

    // Two equal secrets are two different ciphertexts.
    let twin = create(&client, &ann, "first secret").await;
    assert_ne!(stored(&client, &twin).await, sealed);

    // A PUT without the secret keeps it; a PATCH replaces it, sealed anew.
    let path = format!("/hooks/{id}");
    client.put(&path).bearer(&ann.token).json(&json!({"url": "https://b.example"})).send().await.assert_status(200);
    assert_eq!(reveal(&client, &ann, &id).await, "first secret");
    client.patch(&path).bearer(&ann.token).json(&json!({"secret": "second secret"})).send().await.assert_status(200);
    assert_eq!(reveal(&client, &ann, &id).await, "second secret");
    assert!(!stored(&client, &id).await.contains("second secret"));
    // The rules check the plain text, not the ciphertext.
    let short = client.patch(&path).bearer(&ann.token).json(&json!({"secret": "short"})).send().await;
    short.assert_status(400);
    client.patch(&path).bearer(&ann.token).json(&json!({"secret": null})).send().await.assert_status(200);
    assert_eq!(reveal(&client, &ann, &id).await, Value::Null);
}

/// An attacker who can write the database copies one row's ciphertext into
/// another row: it does not open there.
#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let client = TestClient::start(app(OLD_KEY)).await;
    let ann = client.sign_up("ann@example.com").await;
    let mallory = client.sign_up("mallory@example.com").await;
    let victim = create(&client, &ann, "ann's secret").await;
    let own = create(&client, &mallory, "mallory's").await;
    let db = database(&client).await;
    let (sealed, own_id) = (stored(&client, &victim).await, own.parse::<Uuid>().expect("an id"));
    let copy = "UPDATE hooks SET secret = $1 WHERE id = $2";
    let statement = Statement::from_sql_and_values(db.get_database_backend(), copy, [sealed.into(), own_id.into()]);
    db.execute_raw(statement).await.expect("the copy");
    let revealed = client.get(&format!("/hooks/{own}/secret")).bearer(&mallory.token).send().await;
    revealed.assert_status(500);
    assert!(!revealed.text().contains("ann's secret"));
}

#[tokio::test]
async fn keys_rotate_without_losing_a_value() {
    let client = TestClient::start(app(OLD_KEY)).await;
    let ann = client.sign_up("ann@example.com").await;
    let ids = [create(&client, &ann, "secret one").await, create(&client, &ann, "secret two").await];

    // A new key first: old values still open, new ones use the new key.
    let client = client.restart(app(&format!("{NEW_KEY},{OLD_KEY}"))).await;
    let ann = client.sign_in(&ann.email, fastsaas::testing::TEST_PASSWORD).await;
    assert_eq!(reveal(&client, &ann, &ids[0]).await, "secret one");
    let third = create(&client, &ann, "secret three").await;
    assert!(stored(&client, &third).await.starts_with("fse1:new:"));

    // Resealing moves every old value to the new key, once.
    let resealed = client.post("/hooks/reseal").bearer(&ann.token).send().await;
    assert_eq!(resealed.json::<Value>(), json!({"sealed": 2, "unopened": 0}));
    let again = client.post("/hooks/reseal").bearer(&ann.token).send().await;
    assert_eq!(again.json::<Value>(), json!({"sealed": 0, "unopened": 0}));
    for id in &ids {
        assert!(stored(&client, id).await.starts_with("fse1:new:"));
    }

    // The old key can go now.
    let client = client.restart(app(NEW_KEY)).await;
    let ann = client.sign_in(&ann.email, fastsaas::testing::TEST_PASSWORD).await;
    assert_eq!(reveal(&client, &ann, &ids[1]).await, "secret two");
    assert_eq!(reveal(&client, &ann, &third).await, "secret three");
}

#[tokio::test]
async fn an_encrypted_field_needs_valid_keys_to_start() {
    let none = TestClient::try_start(App::new(Settings::default()).resource::<Hook>()).await;
    let error = none.expect_err("no keys").to_string();
    assert!(error.contains("`Hook.secret` is encrypted") && error.contains("FASTSAAS_FIELD_KEYS"), "{error}");
    for (keys, expected) in [
        ("k1", "is not `id:base64 key`"),
        ("k1:not base64!", "is not standard base64"),
        ("k1:AwMDAwMDAwMDAwMDAwMDAw==", "has 16 bytes; it needs 32"),
        (&format!("{OLD_KEY},{OLD_KEY}") as &str, "listed twice"),
        (":AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "a key id is"),
    ] {
        let error = TestClient::try_start(app(keys)).await.expect_err(keys).to_string();
        assert!(error.contains(expected), "{keys}: {error}");
        assert!(!error.contains("AQEBAQEB") && !error.contains("AwMDAwMD"), "a key is never shown: {error}");
    }
}

/// Plain text written into the column (by an attacker with database access,
/// or before the field was encrypted) is no secret until `reseal` seals it;
/// a value that does not open is counted, not a reason to stop.
#[tokio::test]
async fn plain_text_is_refused_until_resealed_and_reseal_skips_what_does_not_open() {
    let client = TestClient::start(app(OLD_KEY)).await;
    let ann = client.sign_up("ann@example.com").await;
    let planted = create(&client, &ann, "first secret").await;
    let moved = create(&client, &ann, "other secret").await;
    let victim = create(&client, &ann, "third secret").await;
    let db = database(&client).await;
    let write = |id: &str, value: String| {
        let id: Uuid = id.parse().expect("an id");
        Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE hooks SET secret = $1 WHERE id = $2",
            [value.into(), id.into()],
        )
    };
    db.execute_raw(write(&planted, "attacker's choice".into())).await.expect("the plain text");
    db.execute_raw(write(&moved, stored(&client, &victim).await)).await.expect("the move");
    client.get(&format!("/hooks/{planted}/secret")).bearer(&ann.token).send().await.assert_status(500);

    // A rotation walks every value: the moved one is counted and skipped.
    let client = client.restart(app(&format!("{NEW_KEY},{OLD_KEY}"))).await;
    let ann = client.sign_in(&ann.email, fastsaas::testing::TEST_PASSWORD).await;
    let resealed = client.post("/hooks/reseal").bearer(&ann.token).send().await;
    assert_eq!(resealed.json::<Value>(), json!({"sealed": 2, "unopened": 1}), "the moved value is skipped");
    assert!(stored(&client, &planted).await.starts_with("fse1:new:"));
    assert_eq!(reveal(&client, &ann, &planted).await, "attacker's choice");
    assert_eq!(reveal(&client, &ann, &victim).await, "third secret");
}
