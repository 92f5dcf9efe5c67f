//! The caches: a repeated read by id of a `#[crud(cache)]` type costs no
//! round trip (caller, ACL entries and row all cached), authorization is
//! still decided on every hit, and every change made through the app is
//! seen by the very next request: an update, a deletion, a revoked ACL
//! entry, a removed role, a logout. On PostgreSQL (and with Redis), three
//! replicas see each change within a bounded time, measured here.

use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/gadgets", acl_admins = ["superadmin"])]
#[crud(cache(ttl_secs = 300))]
struct Gadget {
    name: String,
}

/// The same, uncached.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/widgets")]
struct Widget {
    name: String,
}

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("the root password".into())),
        jwt_secret: Some(Secret("the cache tests' secret, 32 bytes or more".into())),
        ..Settings::default()
    }
}

fn app(settings: Settings) -> App {
    App::new(settings).resource::<Gadget>().resource::<Widget>()
}

async fn create(client: &TestClient, user: &TestUser, path: &str, name: &str) -> String {
    let created = client.post(path).bearer(&user.token).json(&json!({"name": name})).send().await;
    created.assert_status(201);
    created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_repeated_read_costs_no_round_trip_and_authorization_still_runs() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let id = create(&client, &ann, "/gadgets", "one").await;
    let path = format!("/gadgets/{id}");

    let first = client.get(&path).bearer(&ann.token).send().await;
    first.assert_status(200);
    assert!(!first.statements().is_empty(), "the first read reads the database");
    let again = client.get(&path).bearer(&ann.token).send().await;
    again.assert_status(200);
    assert_eq!(again.json::<Value>(), first.json::<Value>());
    assert_eq!(again.statements(), &[] as &[String], "a hit reads nothing");

    // Bob's caller and entries are his own; the row is shared, the verdict is not.
    client.get(&path).bearer(&bob.token).send().await.assert_status(404);
    let refused = client.get(&path).bearer(&bob.token).send().await;
    refused.assert_status(404);
    assert_eq!(refused.statements(), &[] as &[String], "a cached refusal reads nothing either");

    // An uncached type reads the row every time, with the caller cached.
    let widget = create(&client, &ann, "/widgets", "w").await;
    client.get(&format!("/widgets/{widget}")).bearer(&ann.token).send().await.assert_status(200);
    let uncached = client.get(&format!("/widgets/{widget}")).bearer(&ann.token).send().await;
    assert_eq!(uncached.statements().len(), 1, "{:?}", uncached.statements());
}

#[tokio::test]
async fn every_change_through_the_app_is_seen_by_the_next_read() {
    let client = TestClient::start(app(settings())).await;
    let root = client.sign_in("root@example.com", "the root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let id = create(&client, &ann, "/gadgets", "one").await;
    let path = format!("/gadgets/{id}");
    let read = |user: &TestUser| client.get(&path).bearer(&user.token).send();

    // An update.
    read(&ann).await.assert_status(200);
    let renamed = json!({"name": "two"});
    client.patch(&path).bearer(&ann.token).json(&renamed).send().await.assert_status(200);
    assert_eq!(read(&ann).await.json::<Value>()["name"], "two");
    let replaced = json!({"name": "three"});
    client.put(&path).bearer(&ann.token).json(&replaced).send().await.assert_status(200);
    assert_eq!(read(&ann).await.json::<Value>()["name"], "three");

    // An ACL entry given, then revoked.
    read(&bob).await.assert_status(404);
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    let entry = client.post(&format!("{path}/acl")).bearer(&ann.token).json(&grant).send().await;
    entry.assert_status(201);
    read(&bob).await.assert_status(200);
    let entry_id = entry.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    client.delete(&format!("{path}/acl/{entry_id}")).bearer(&ann.token).send().await.assert_status(204);
    read(&bob).await.assert_status(404);

    // A role that reads every gadget (a type-wide entry), given then taken.
    let role = client.post("/roles").bearer(&root.token).json(&json!({"name": "auditor"})).send().await;
    let role_id = role.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let type_wide = json!({"resource": "Gadget.read", "principal_id": role_id, "effect": "allow"});
    client.post("/acl").bearer(&root.token).json(&type_wide).send().await.assert_status(201);
    read(&bob).await.assert_status(404);
    let member = json!({"user_id": bob.id});
    let members = format!("/roles/{role_id}/members");
    client.post(&members).bearer(&root.token).json(&member).send().await.assert_status(204);
    read(&bob).await.assert_status(200);
    client.delete(&format!("{members}/{}", bob.id)).bearer(&root.token).send().await.assert_status(204);
    read(&bob).await.assert_status(404);

    // A logout ends the cached session too.
    client.post("/logout").bearer(&bob.token).send().await.assert_status(204);
    client.get("/me").bearer(&bob.token).send().await.assert_status(401);

    // A deletion, and a clear.
    client.delete(&path).bearer(&ann.token).send().await.assert_status(204);
    read(&ann).await.assert_status(404);
    let other = create(&client, &ann, "/gadgets", "other").await;
    client.get(&format!("/gadgets/{other}")).bearer(&ann.token).send().await.assert_status(200);
    client.delete("/gadgets").bearer(&root.token).send().await.assert_status(200);
    client.get(&format!("/gadgets/{other}")).bearer(&ann.token).send().await.assert_status(404);
}

#[tokio::test]
async fn caches_are_off_at_capacity_zero() {
    let client = TestClient::start(app(Settings { cache_capacity: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let id = create(&client, &ann, "/gadgets", "one").await;
    client.get(&format!("/gadgets/{id}")).bearer(&ann.token).send().await.assert_status(200);
    let again = client.get(&format!("/gadgets/{id}")).bearer(&ann.token).send().await;
    assert_eq!(again.statements().len(), 2, "the caller and the row: {:?}", again.statements());
}

/// Polls `check` on each replica until it holds; the longest wait.
async fn seen_everywhere<'a, F, Fut>(replicas: &'a [TestClient], check: F) -> Duration
where
    F: Fn(&'a TestClient) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    for replica in replicas {
        while !check(replica).await {
            assert!(started.elapsed() < Duration::from_secs(5), "a replica did not see the change within 5 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        longest = longest.max(started.elapsed());
    }
    longest
}

async fn status(client: &TestClient, path: &str, token: &str) -> u16 {
    client.get(path).bearer(token).send().await.status().as_u16()
}

/// Three replicas on one PostgreSQL database (with `redis`, over Redis):
/// each change made through the first is seen by all three, and how long
/// that took is printed.
async fn three_replicas_see_every_change(redis: Option<String>) {
    let bus = if redis.is_some() { "Redis" } else { "LISTEN/NOTIFY" };
    let first = TestClient::start(app(Settings { redis_url: redis.clone(), ..settings() })).await;
    if !first.is_postgres() && redis.is_none() {
        eprintln!("SKIPPED: replicas on SQLite share no bus; set FASTSAAS_TEST_DATABASE_URL to a PostgreSQL database");
        return;
    }
    let second = first.replica(app(Settings { redis_url: redis.clone(), ..settings() })).await;
    let third = first.replica(app(Settings { redis_url: redis, ..settings() })).await;
    let replicas = [first, second, third];
    let [a, ..] = &replicas;
    // The replicas' caches open once their bus listens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let root = a.sign_in("root@example.com", "the root password").await;
    let ann = a.sign_up("ann@example.com").await;
    let bob = a.sign_up("bob@example.com").await;
    let id = create(a, &ann, "/gadgets", "one").await;
    let path = format!("/gadgets/{id}");
    let mut waits = Vec::new();

    // Every replica caches the row for Ann, and refuses Bob.
    for replica in &replicas {
        assert_eq!(status(replica, &path, &ann.token).await, 200);
        assert_eq!(status(replica, &path, &bob.token).await, 404);
        let hit = replica.get(&path).bearer(&ann.token).send().await;
        assert_eq!(hit.statements(), &[] as &[String], "cached on every replica");
    }

    a.patch(&path).bearer(&ann.token).json(&json!({"name": "two"})).send().await.assert_status(200);
    waits.push((
        "an updated record",
        seen_everywhere(&replicas, |replica| async {
            replica.get(&path).bearer(&ann.token).send().await.json::<Value>()["name"] == "two"
        })
        .await,
    ));

    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    let entry = a.post(&format!("{path}/acl")).bearer(&ann.token).json(&grant).send().await;
    let entry_id = entry.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    seen_everywhere(&replicas, |replica| async { status(replica, &path, &bob.token).await == 200 }).await;
    a.delete(&format!("{path}/acl/{entry_id}")).bearer(&ann.token).send().await.assert_status(204);
    waits.push((
        "a revoked ACL entry",
        seen_everywhere(&replicas, |replica| async { status(replica, &path, &bob.token).await == 404 }).await,
    ));

    let role = a.post("/roles").bearer(&root.token).json(&json!({"name": "auditor"})).send().await;
    let role_id = role.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let type_wide = json!({"resource": "Gadget.read", "principal_id": role_id, "effect": "allow"});
    a.post("/acl").bearer(&root.token).json(&type_wide).send().await.assert_status(201);
    let members = format!("/roles/{role_id}/members");
    a.post(&members).bearer(&root.token).json(&json!({"user_id": bob.id})).send().await.assert_status(204);
    seen_everywhere(&replicas, |replica| async { status(replica, &path, &bob.token).await == 200 }).await;
    a.delete(&format!("{members}/{}", bob.id)).bearer(&root.token).send().await.assert_status(204);
    waits.push((
        "a removed role",
        seen_everywhere(&replicas, |replica| async { status(replica, &path, &bob.token).await == 404 }).await,
    ));

    for replica in &replicas {
        assert_eq!(status(replica, "/me", &ann.token).await, 200);
    }
    a.post("/logout").bearer(&ann.token).send().await.assert_status(204);
    waits.push((
        "a logout",
        seen_everywhere(&replicas, |replica| async { status(replica, "/me", &ann.token).await == 401 }).await,
    ));

    for (change, wait) in waits {
        eprintln!("three replicas ({bus}): {change} seen everywhere after {:.1} ms", wait.as_secs_f64() * 1000.0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_see_every_change_through_postgres() {
    three_replicas_see_every_change(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_see_every_change_through_redis() {
    let Some(redis) = fastsaas::testing::test_redis_url() else { return };
    three_replicas_see_every_change(Some(redis)).await;
}
