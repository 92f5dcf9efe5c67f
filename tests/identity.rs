//! Users and sessions (API.md): registration, login, refresh rotation and
//! reuse detection, logout, `/me`, user records, token checks, rate limits
//! and the start-up admin. Runs on SQLite, or PostgreSQL with
//! `FASTSAAS_TEST_DATABASE_URL`.

use std::net::SocketAddr;

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestResponse};
use fastsaas::{Environment, Secret, Settings, StartupError};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &str = "a test secret that is long enough for HS256";

fn settings() -> Settings {
    Settings {
        jwt_secret: Some(Secret(SECRET.into())),
        auth_attempts_per_minute: 1000,
        admin_email: Some("Root@Example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    }
}

async fn client() -> TestClient {
    TestClient::start(App::new(settings())).await
}

async fn register(client: &TestClient, email: &str, password: &str) -> Value {
    let response = client.post("/users").json(&json!({"email": email, "password": password})).send().await;
    response.assert_status(201);
    response.json()
}

async fn login(client: &TestClient, email: &str, password: &str) -> Value {
    let response = client.post("/login").json(&json!({"email": email, "password": password})).send().await;
    response.assert_status(200);
    response.json()
}

fn token(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap_or_default()
}

fn assert_no_secrets(response: &TestResponse, password: &str) {
    let text = response.text();
    assert!(!text.contains(password) && !text.contains("$argon2") && !text.contains("password_hash"), "{text}");
}

#[tokio::test]
async fn registration_returns_the_user_without_any_password() {
    let client = client().await;
    let response = client
        .post("/users")
        .json(&json!({"email": " Ada@Example.com ", "password": "correct horse", "name": "Ada"}))
        .send()
        .await;
    response.assert_status(201);
    assert_no_secrets(&response, "correct horse");
    let user: Value = response.json();
    assert_eq!(user["email"], "ada@example.com", "e-mails are stored trimmed and lowercased");
    assert_eq!(user["name"], "Ada");
    let id = user["id"].as_str().unwrap_or_default();
    assert_eq!(response.header("location"), Some(format!("/users/{id}").as_str()));
    for key in ["created_at", "updated_at"] {
        assert!(user[key].is_string(), "{key}");
    }
}

#[tokio::test]
async fn registration_refuses_bad_input_and_taken_emails() {
    let client = client().await;
    let bad = client.post("/users").json(&json!({"email": "not-an-address", "password": "short"})).send().await;
    bad.assert_status(400);
    let fields: Vec<String> = bad.json::<Value>()["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    client
        .post("/users")
        .json(&json!({"email": "a@b.co", "password": "12345678", "admin": true}))
        .send()
        .await
        .assert_status(400);
    client.post("/users").json(&json!({"email": "a@b.co"})).send().await.assert_status(400);

    register(&client, "taken@example.com", "password one").await;
    let again =
        client.post("/users").json(&json!({"email": "TAKEN@example.com", "password": "password two"})).send().await;
    again.assert_status(409);
    assert_eq!(again.json::<Value>()["type"], "urn:fastsaas:problem:conflict");
}

#[tokio::test]
async fn login_answers_the_same_401_for_unknown_email_and_wrong_password() {
    let client = client().await;
    register(&client, "bob@example.com", "bob password").await;
    let pair = login(&client, "BOB@example.com", "bob password").await;
    assert_eq!(pair["token_type"], "bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));

    let wrong = client.post("/login").json(&json!({"email": "bob@example.com", "password": "not his"})).send().await;
    let unknown =
        client.post("/login").json(&json!({"email": "nobody@example.com", "password": "whatever1"})).send().await;
    wrong.assert_status(401);
    unknown.assert_status(401);
    assert_eq!(wrong.text(), unknown.text());
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn me_needs_a_valid_token() {
    let client = client().await;
    let user = register(&client, "carol@example.com", "carol password").await;
    let pair = login(&client, "carol@example.com", "carol password").await;
    let me = client.get("/me").bearer(token(&pair)).send().await;
    me.assert_status(200);
    assert_no_secrets(&me, "carol password");
    let me: Value = me.json();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["roles"], json!([]));

    client.get("/me").send().await.assert_status(401);
    client.get("/me").header(http::header::AUTHORIZATION, "Basic abc").send().await.assert_status(401);
    let tampered = format!("{}x", token(&pair));
    client.get("/me").bearer(&tampered).send().await.assert_status(401);
}

/// Claims for forged tokens; `sid` names an open session so only the
/// forged part can be what the server refuses.
fn claims(sub: &str, sid: &str, exp_offset: i64, iss: &str, aud: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({"sub": sub, "sid": sid, "jti": Uuid::new_v4(), "iat": now, "exp": now + exp_offset, "iss": iss, "aud": aud})
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let client = client().await;
    register(&client, "dan@example.com", "dan password").await;
    let pair = login(&client, "dan@example.com", "dan password").await;
    let me: Value = client.get("/me").bearer(token(&pair)).send().await.json();
    let sub = me["id"].as_str().unwrap_or_default().to_owned();
    // The session id of the real token, read from its payload.
    let payload = token(&pair).split('.').nth(1).unwrap_or_default().to_owned();
    let decoded: Value = fastsaas::serde_json::from_slice(&base64_url_decode(&payload)).unwrap_or_default();
    let sid = decoded["sid"].as_str().unwrap_or_default().to_owned();

    let sign = |claims: &Value, algorithm: Algorithm, secret: &str| {
        jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap_or_default()
    };
    let good = sign(&claims(&sub, &sid, 600, "fastsaas", "fastsaas-api"), Algorithm::HS256, SECRET);
    client.get("/me").bearer(&good).send().await.assert_status(200);

    let refused = [
        ("expired", sign(&claims(&sub, &sid, -60, "fastsaas", "fastsaas-api"), Algorithm::HS256, SECRET)),
        ("wrong issuer", sign(&claims(&sub, &sid, 600, "someone-else", "fastsaas-api"), Algorithm::HS256, SECRET)),
        ("wrong audience", sign(&claims(&sub, &sid, 600, "fastsaas", "another-api"), Algorithm::HS256, SECRET)),
        (
            "wrong secret",
            sign(
                &claims(&sub, &sid, 600, "fastsaas", "fastsaas-api"),
                Algorithm::HS256,
                "another secret of enough length!!",
            ),
        ),
        ("other algorithm", sign(&claims(&sub, &sid, 600, "fastsaas", "fastsaas-api"), Algorithm::HS512, SECRET)),
        ("alg none", unsigned(&claims(&sub, &sid, 600, "fastsaas", "fastsaas-api"))),
        (
            "unknown session",
            sign(&claims(&sub, &Uuid::new_v4().to_string(), 600, "fastsaas", "fastsaas-api"), Algorithm::HS256, SECRET),
        ),
    ];
    for (what, forged) in refused {
        let response = client.get("/me").bearer(&forged).send().await;
        assert_eq!(response.status().as_u16(), 401, "{what}: {}", response.text());
    }
}

fn unsigned(claims: &Value) -> String {
    let encode = |value: &Value| base64_url_encode(value.to_string().as_bytes());
    format!("{}.{}.", encode(&json!({"alg": "none", "typ": "JWT"})), encode(claims))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64_url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0_u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    let values: Vec<u32> =
        text.bytes().filter_map(|c| ALPHABET.iter().position(|a| *a == c)).map(|v| v as u32).collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk.iter().enumerate().fold(0_u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let client = client().await;
    register(&client, "erin@example.com", "erin password").await;
    let first = login(&client, "erin@example.com", "erin password").await;
    let refreshed = client.post("/refresh").json(&json!({"refresh_token": first["refresh_token"]})).send().await;
    refreshed.assert_status(200);
    let second: Value = refreshed.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    client.get("/me").bearer(token(&second)).send().await.assert_status(200);

    // The first token again: someone replayed it, so the whole session ends.
    let replay = client.post("/refresh").json(&json!({"refresh_token": first["refresh_token"]})).send().await;
    replay.assert_status(401);
    client.post("/refresh").json(&json!({"refresh_token": second["refresh_token"]})).send().await.assert_status(401);
    client.get("/me").bearer(token(&second)).send().await.assert_status(401);

    // Other sessions of the same user are untouched.
    let other = login(&client, "erin@example.com", "erin password").await;
    client.get("/me").bearer(token(&other)).send().await.assert_status(200);
    client.post("/refresh").json(&json!({"refresh_token": "made-up"})).send().await.assert_status(401);
}

#[tokio::test]
async fn logout_ends_the_sessions_on_the_next_request() {
    let client = client().await;
    register(&client, "fay@example.com", "fay password").await;
    let pair = login(&client, "fay@example.com", "fay password").await;
    client.post("/logout").send().await.assert_status(401);
    client.post("/logout").bearer(token(&pair)).send().await.assert_status(204);
    client.get("/me").bearer(token(&pair)).send().await.assert_status(401);
    client.post("/refresh").json(&json!({"refresh_token": pair["refresh_token"]})).send().await.assert_status(401);
}

#[tokio::test]
async fn users_are_visible_to_themselves_and_to_superadmins_only() {
    let client = client().await;
    let gus = register(&client, "gus@example.com", "gus password").await;
    let hal = register(&client, "hal@example.com", "hal password").await;
    let gus_token = login(&client, "gus@example.com", "gus password").await;
    let gus_token = token(&gus_token);
    let root = login(&client, "root@example.com", "root password").await;
    let root = token(&root);
    let gus_path = format!("/users/{}", gus["id"].as_str().unwrap_or_default());
    let hal_path = format!("/users/{}", hal["id"].as_str().unwrap_or_default());

    client.get(&gus_path).bearer(gus_token).send().await.assert_status(200);
    client.get(&hal_path).bearer(gus_token).send().await.assert_status(404);
    client.patch(&hal_path).bearer(gus_token).json(&json!({"name": "x"})).send().await.assert_status(404);
    client.delete(&hal_path).bearer(gus_token).send().await.assert_status(404);
    client.get(&hal_path).send().await.assert_status(401);
    client.get(&hal_path).bearer(root).send().await.assert_status(200);

    let own: Value = client.get("/users").bearer(gus_token).send().await.json();
    assert_eq!(own["total"], 1);
    assert_eq!(own["items"][0]["id"], gus["id"]);
    let all: Value = client.get("/users?sort=email").bearer(root).send().await.json();
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][0]["email"], "gus@example.com");
    let me: Value = client.get("/me").bearer(root).send().await.json();
    assert_eq!(me["roles"], json!(["superadmin"]));
    client.get("/users?bogus=1").bearer(root).send().await.assert_status(400);
}

#[tokio::test]
async fn a_user_changes_and_deletes_itself() {
    let client = client().await;
    let ivy = register(&client, "ivy@example.com", "ivy password").await;
    let path = format!("/users/{}", ivy["id"].as_str().unwrap_or_default());
    let here = login(&client, "ivy@example.com", "ivy password").await;
    let elsewhere = login(&client, "ivy@example.com", "ivy password").await;

    let renamed = client.patch(&path).bearer(token(&here)).json(&json!({"name": "Ivy"})).send().await;
    renamed.assert_status(200);
    assert_eq!(renamed.json::<Value>()["name"], "Ivy");
    client.patch(&path).bearer(token(&here)).json(&json!({"password": "short"})).send().await.assert_status(400);
    client.patch(&path).bearer(token(&here)).json(&json!({"id": "x"})).send().await.assert_status(400);

    // A stolen access token alone cannot change the password or the address.
    for body in [json!({"password": "new ivy password"}), json!({"email": "thief@example.com"})] {
        let refused = client.patch(&path).bearer(token(&here)).json(&body).send().await;
        refused.assert_status(400);
        assert_eq!(refused.json::<Value>()["errors"][0]["field"], "current_password");
    }
    let doc: Value = client.get("/openapi.json").send().await.json();
    assert_eq!(doc["components"]["schemas"]["UserPatch"]["properties"]["current_password"]["writeOnly"], true);
    let wrong = json!({"password": "new ivy password", "current_password": "not it at all"});
    client.patch(&path).bearer(token(&here)).json(&wrong).send().await.assert_status(400);
    let body = json!({"password": "new ivy password", "current_password": "ivy password"});
    let changed = client.patch(&path).bearer(token(&here)).json(&body).send().await;
    changed.assert_status(200);
    assert_no_secrets(&changed, "ivy password");
    assert_no_secrets(&changed, "new ivy password");
    client.get("/me").bearer(token(&here)).send().await.assert_status(200);
    client.get("/me").bearer(token(&elsewhere)).send().await.assert_status(401);
    client
        .post("/login")
        .json(&json!({"email": "ivy@example.com", "password": "ivy password"}))
        .send()
        .await
        .assert_status(401);
    let again = login(&client, "ivy@example.com", "new ivy password").await;
    // A new address ends the other sessions too.
    let moved = json!({"email": "ivy2@example.com", "current_password": "new ivy password"});
    client.patch(&path).bearer(token(&here)).json(&moved).send().await.assert_status(200);
    client.get("/me").bearer(token(&again)).send().await.assert_status(401);
    client.get("/me").bearer(token(&here)).send().await.assert_status(200);

    client.delete(&path).bearer(token(&here)).send().await.assert_status(204);
    client.get("/me").bearer(token(&here)).send().await.assert_status(401);
    client
        .post("/login")
        .json(&json!({"email": "ivy2@example.com", "password": "new ivy password"}))
        .send()
        .await
        .assert_status(401);
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let client = client().await;
    register(&client, "kim@example.com", "kim password").await;
    let body = json!({"email": "kim@example.com", "password": "kim password"});
    let session = client.post("/login").json(&body).send().await;
    session.assert_status(200);
    assert_eq!(session.header("cache-control"), Some("no-store"));
    let refresh = json!({"refresh_token": session.json::<Value>()["refresh_token"]});
    let rotated = client.post("/refresh").json(&refresh).send().await;
    rotated.assert_status(200);
    assert_eq!(rotated.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn attempts_are_limited_per_address_and_per_email() {
    let settings = Settings { auth_attempts_per_minute: 3, ..settings() };
    let client = TestClient::start(App::new(settings)).await;
    let here: SocketAddr = "10.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
    for n in 0..3 {
        let body = json!({"email": format!("u{n}@example.com"), "password": "whatever1"});
        client.post("/login").from_address(here).json(&body).send().await.assert_status(401);
    }
    let limited = client
        .post("/login")
        .from_address(here)
        .json(&json!({"email": "z@example.com", "password": "whatever1"}))
        .send()
        .await;
    limited.assert_status(429);
    assert!(limited.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s >= 1));
    assert_eq!(limited.json::<Value>()["type"], "urn:fastsaas:problem:rate-limited");

    // One e-mail tried from many addresses is limited too.
    for n in 1..=3 {
        let address: SocketAddr = format!("10.0.1.{n}:5000").parse().unwrap_or_else(|_| unreachable!());
        let body = json!({"email": "target@example.com", "password": "guess1234"});
        client.post("/login").from_address(address).json(&body).send().await.assert_status(401);
    }
    let address: SocketAddr = "10.0.2.1:5000".parse().unwrap_or_else(|_| unreachable!());
    let body = json!({"email": "target@example.com", "password": "guess1234"});
    client.post("/login").from_address(address).json(&body).send().await.assert_status(429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let settings = Settings { auth_attempts_per_minute: 2, trusted_proxies: "10.9.0.0/16".into(), ..settings() };
    let client = TestClient::start(App::new(settings)).await;
    let proxy: SocketAddr = "10.9.0.1:443".parse().unwrap_or_else(|_| unreachable!());
    let stranger: SocketAddr = "203.0.113.50:5000".parse().unwrap_or_else(|_| unreachable!());
    let attempt = |from: SocketAddr, forwarded_for: &str, n: u32| {
        client
            .post("/login")
            .from_address(from)
            .header(http::header::HeaderName::from_static("x-forwarded-for"), forwarded_for)
            .json(&json!({"email": format!("p{n}@example.com"), "password": "whatever1"}))
            .send()
    };
    for n in 0..2 {
        attempt(proxy, "198.51.100.1", n).await.assert_status(401);
    }
    attempt(proxy, "198.51.100.1", 2).await.assert_status(429);
    // Another client behind the same proxy is not throttled by the first.
    attempt(proxy, "198.51.100.2", 3).await.assert_status(401);
    // A client that is not a trusted proxy cannot dodge its limit by naming
    // a new address each time.
    for n in 0..2 {
        attempt(stranger, &format!("192.0.2.{n}"), 10 + n).await.assert_status(401);
    }
    attempt(stranger, "192.0.2.99", 20).await.assert_status(429);
}

#[tokio::test]
async fn the_admin_is_created_once() {
    let path = std::env::temp_dir().join(format!("fastsaas-admin-{}.db", Uuid::new_v4()));
    let settings = Settings { database_url: format!("sqlite://{}?mode=rwc", path.display()), ..settings() };
    for start in 0..3 {
        let router = App::new(settings.clone()).into_router().await;
        assert!(router.is_ok(), "start {start}: {:?}", router.err());
    }
    let db = fastsaas::sea_orm::Database::connect(settings.database_url.as_str()).await.expect("db");
    use fastsaas::sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(fastsaas::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT password_hash FROM fastsaas_users",
        ))
        .await
        .expect("users");
    assert_eq!(rows.len(), 1);
    let hash: String = rows[0].try_get("", "password_hash").expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn production_needs_a_long_jwt_secret() {
    let production = Settings { env: Environment::Production, jwt_secret: None, ..settings() };
    let missing = TestClient::try_start(App::new(production.clone())).await;
    assert!(matches!(missing, Err(StartupError::Config(ref m)) if m.contains("FASTSAAS_JWT_SECRET")), "{missing:?}");
    let short = Settings { jwt_secret: Some(Secret("short".into())), ..production };
    let short = TestClient::try_start(App::new(short)).await;
    assert!(matches!(short, Err(StartupError::Config(_))), "{short:?}");
}

/// A third party cannot keep a user out: failures from everywhere slow the
/// account down for strangers, but its owner, signing in from an address
/// it used before, still gets in.
#[tokio::test]
async fn nobody_can_lock_someone_else_out() {
    let settings = Settings { auth_attempts_per_minute: 3, ..settings() };
    let client = TestClient::start(App::new(settings)).await;
    register(&client, "admin@example.com", "the admin password").await;
    let home: SocketAddr = "198.51.100.7:5000".parse().unwrap_or_else(|_| unreachable!());
    let right = json!({"email": "admin@example.com", "password": "the admin password"});
    client.post("/login").from_address(home).json(&right).send().await.assert_status(200);

    // Guesses from many addresses, ten a minute and more.
    let wrong = json!({"email": "Admin@Example.com", "password": "a wrong guess"});
    let mut refused = 0;
    for n in 0..12 {
        let attacker: SocketAddr = format!("203.0.113.{n}:6000").parse().unwrap_or_else(|_| unreachable!());
        let status = client.post("/login").from_address(attacker).json(&wrong).send().await.status().as_u16();
        assert!(matches!(status, 401 | 429), "{status}");
        refused += usize::from(status == 429);
    }
    assert!(refused > 0, "guessing one account from many addresses is slowed down");
    let stranger: SocketAddr = "192.0.2.200:6000".parse().unwrap_or_else(|_| unreachable!());
    client.post("/login").from_address(stranger).json(&right).send().await.assert_status(429);
    // The owner, from home, is not locked out.
    client.post("/login").from_address(home).json(&right).send().await.assert_status(200);
}

#[tokio::test]
async fn an_ipv6_client_is_one_client_per_64_and_junk_e_mails_cost_nothing() {
    let settings = Settings { auth_attempts_per_minute: 2, ..settings() };
    let client = TestClient::start(App::new(settings)).await;
    let body = |n: u32| json!({"email": format!("v6-{n}@example.com"), "password": "whatever1"});
    for n in 0..2 {
        let address: SocketAddr = format!("[2001:db8:7:7::{n}]:5000").parse().unwrap_or_else(|_| unreachable!());
        client.post("/login").from_address(address).json(&body(n)).send().await.assert_status(401);
    }
    let same_64: SocketAddr = "[2001:db8:7:7:ffff::1]:5000".parse().unwrap_or_else(|_| unreachable!());
    client.post("/login").from_address(same_64).json(&body(9)).send().await.assert_status(429);
    let next_64: SocketAddr = "[2001:db8:7:8::1]:5000".parse().unwrap_or_else(|_| unreachable!());
    client.post("/login").from_address(next_64).json(&body(9)).send().await.assert_status(401);

    // An e-mail no account can have is refused before it is hashed or keyed.
    let junk = json!({"email": "x".repeat(500 * 1024), "password": "whatever1"});
    let started = std::time::Instant::now();
    let answer = client
        .post("/login")
        .from_address("192.0.2.1:1".parse().unwrap_or_else(|_| unreachable!()))
        .json(&junk)
        .send()
        .await;
    answer.assert_status(401);
    assert!(answer.bytes().len() < 1024, "the e-mail is not echoed");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A burst of logins: each one is answered (200, 401, or 429 with
/// `Retry-After` once every hashing turn is taken), none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_answered_not_piled_up() {
    let client = TestClient::start(App::new(settings())).await;
    register(&client, "burst@example.com", "burst password").await;
    let logins = (0..60u32).map(|n| {
        let address: SocketAddr =
            format!("10.20.{}.{}:7000", n / 200, n % 200 + 1).parse().unwrap_or_else(|_| unreachable!());
        let password = if n % 2 == 0 { "burst password" } else { "wrong password" };
        client
            .post("/login")
            .from_address(address)
            .json(&json!({"email": "burst@example.com", "password": password}))
            .send()
    });
    let answers = futures_util::future::join_all(logins).await;
    for answer in &answers {
        let status = answer.status().as_u16();
        assert!(matches!(status, 200 | 401 | 429), "{status}: {}", answer.text());
        if status == 429 {
            assert!(answer.header("retry-after").is_some());
        }
    }
    assert!(answers.iter().any(|answer| answer.status() == 200));
}

/// The stored password hash of `email`, read with SQL.
async fn stored_hash(client: &TestClient, email: &str) -> String {
    use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(client.settings().database_url.as_str())
        .await
        .unwrap_or_else(|err| panic!("the test database: {err}"));
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT password_hash FROM fastsaas_users WHERE email = $1",
        [email.into()],
    );
    let row = db.query_one_raw(statement).await.ok().flatten().unwrap_or_else(|| panic!("no user {email}"));
    row.try_get("", "password_hash").unwrap_or_else(|err| panic!("a hash: {err}"))
}

#[tokio::test]
async fn a_hash_made_at_the_test_environments_cost_is_upgraded_at_the_next_login() {
    let client = TestClient::start(App::new(Settings::default())).await;
    client.sign_up("ann@example.com").await;
    let cheap = stored_hash(&client, "ann@example.com").await;
    assert!(cheap.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{cheap}");

    // The same data served in production, as a real deployment would.
    let production = Settings {
        env: Environment::Production,
        jwt_secret: Some(Secret("a production secret of thirty-two bytes".into())),
        ..Settings::default()
    };
    let client = client.restart(App::new(production)).await;
    let wrong = json!({"email": "ann@example.com", "password": "not the password"});
    client.post("/login").without_identity().json(&wrong).send().await.assert_status(401);
    assert_eq!(stored_hash(&client, "ann@example.com").await, cheap, "a wrong password upgrades nothing");
    client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let upgraded = stored_hash(&client, "ann@example.com").await;
    assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{upgraded}");
    client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
}
