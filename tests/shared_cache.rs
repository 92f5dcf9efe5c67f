//! The second level of the rows cache on Redis: a row one replica read is
//! served to the others from Redis (no read of its table), every column as
//! the table holds it (encrypted fields still sealed), authorization still
//! decided per caller; a change made on any replica is seen by every
//! replica, and by its writer at once. Needs Redis (skipped without it,
//! unless `FASTSAAS_TEST_REDIS_URL` asks for it, as CI does); runs on
//! SQLite and PostgreSQL alike, the replicas sharing the test's database.

use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{DateTime, Secret, Settings, Utc};

#[derive(CrudEnum, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Open,
    Closed,
}

/// A field of every kind a column can be.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/sprockets")]
#[crud(cache(ttl_secs = 300))]
struct Sprocket {
    name: String,
    note: Option<String>,
    done: bool,
    count: i32,
    total: Option<i64>,
    ratio: f64,
    tags: Vec<String>,
    config: serde_json::Value,
    due: DateTime<Utc>,
    part_of: Uuid,
    stage: Stage,
    #[crud(write_only, encrypted)]
    secret: String,
}

const SECRET: &str = "the sprocket's own secret, never in Redis";

fn settings(redis: &str, prefix: &str) -> Settings {
    Settings {
        redis_url: Some(redis.to_owned()),
        cache_redis_prefix: prefix.to_owned(),
        jwt_secret: Some(Secret("the shared cache tests' secret, 32 bytes or more".into())),
        field_keys: Some(Secret("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into())),
        ..Settings::default()
    }
}

fn app(redis: &str, prefix: &str) -> App {
    App::new(settings(redis, prefix)).resource::<Sprocket>()
}

/// Three replicas on one database and one Redis server, keys under a
/// prefix of this test's own; `None` without Redis.
async fn replicas() -> Option<([TestClient; 3], String, String)> {
    let redis = fastsaas::testing::test_redis_url()?;
    let prefix = format!("test-{}", Uuid::new_v4());
    let first = TestClient::start(app(&redis, &prefix)).await;
    let second = first.replica(app(&redis, &prefix)).await;
    let third = first.replica(app(&redis, &prefix)).await;
    // Caches open once each replica's subscription listens; each process
    // then makes what Redis held before it listened a miss, once, at its
    // first lookup.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replicas = [first, second, third];
    let warm = replicas[0].sign_up("warm-up@example.com").await;
    let id = sprocket(&replicas[0], &warm).await;
    for replica in &replicas {
        replica.get(&format!("/sprockets/{id}")).bearer(&warm.token).send().await.assert_status(200);
    }
    Some((replicas, redis, prefix))
}

async fn redis_get(redis: &str, key: &str) -> Option<String> {
    let client = redis::Client::open(redis).unwrap_or_else(|err| panic!("{redis}: {err}"));
    let mut connection =
        client.get_multiplexed_async_connection().await.unwrap_or_else(|err| panic!("no Redis at {redis}: {err}"));
    redis::cmd("GET").arg(key).query_async(&mut connection).await.unwrap_or_else(|err| panic!("GET {key}: {err}"))
}

/// What Redis keeps at `key`, once it is there (a read keeps what it read
/// after its answer).
async fn kept_in_redis(redis: &str, key: &str) -> String {
    let started = Instant::now();
    loop {
        if let Some(kept) = redis_get(redis, key).await {
            return kept;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{key} was not kept within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn sprocket(client: &TestClient, user: &TestUser) -> String {
    let body = json!({
        "name": "naïve \"sprocket\" 🦀",
        "note": null,
        "done": true,
        "count": -7,
        "total": i64::MAX,
        "ratio": 0.1,
        "tags": ["a", "b"],
        "config": {"nested": [1, null, {"deep": "yes"}]},
        "due": "2026-12-07T10:11:12.123456Z",
        "part_of": Uuid::new_v4(),
        "stage": "open",
        "secret": SECRET,
    });
    let created = client.post("/sprockets").bearer(&user.token).json(&body).send().await;
    created.assert_status(201);
    created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned()
}

/// Whether a response read the resource's own table.
fn read_the_table(statements: &[String]) -> bool {
    let table = <Sprocket as Resource>::SPEC.table;
    statements.iter().any(|statement| statement.contains(&format!("\"{table}\"")))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_one_replica_read_is_served_to_the_others_from_redis() {
    let Some(([a, b, c], redis, prefix)) = replicas().await else { return };
    let ann = a.sign_up("ann@example.com").await;
    let bob = a.sign_up("bob@example.com").await;
    let id = sprocket(&a, &ann).await;
    let path = format!("/sprockets/{id}");

    let from_database = a.get(&path).bearer(&ann.token).send().await;
    from_database.assert_status(200);
    assert!(read_the_table(from_database.statements()), "the first read reads the table");
    let record = from_database.json::<Value>();
    assert!(record.get("secret").is_none(), "write-only: {record}");
    let key = format!("{prefix}:row:Sprocket:{id}");
    let kept = kept_in_redis(&redis, &key).await;

    for replica in [&b, &c] {
        let shared = replica.get(&path).bearer(&ann.token).send().await;
        shared.assert_status(200);
        assert!(!read_the_table(shared.statements()), "served from Redis: {:?}", shared.statements());
        assert_eq!(shared.json::<Value>(), record, "every column as the table holds it");
    }
    // Authorization is decided on the shared row as on any other.
    let refused = c.get(&path).bearer(&bob.token).send().await;
    refused.assert_status(404);

    assert!(kept.contains("\"secret\""), "the row keeps its encrypted column: {kept}");
    assert!(!kept.contains(SECRET), "sealed, as in the table: {kept}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_replica_sees_a_change_and_its_writer_at_once() {
    let Some(([a, b, c], redis, prefix)) = replicas().await else { return };
    let ann = a.sign_up("ann@example.com").await;
    let id = sprocket(&a, &ann).await;
    let path = format!("/sprockets/{id}");
    let replicas = [&a, &b, &c];
    for replica in replicas {
        replica.get(&path).bearer(&ann.token).send().await.assert_status(200);
    }
    kept_in_redis(&redis, &format!("{prefix}:row:Sprocket:{id}")).await;

    for (round, writer) in replicas.into_iter().enumerate() {
        let name = format!("renamed {round}");
        writer.patch(&path).bearer(&ann.token).json(&json!({"name": name})).send().await.assert_status(200);
        let started = Instant::now();
        let read = writer.get(&path).bearer(&ann.token).send().await.json::<Value>();
        assert_eq!(read["name"], name.as_str(), "the writer reads its own change at once");
        let mut longest = Duration::ZERO;
        for replica in replicas {
            loop {
                let seen = replica.get(&path).bearer(&ann.token).send().await.json::<Value>();
                if seen["name"] == name.as_str() {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(5), "a replica still serves {seen} after 5 s");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            longest = longest.max(started.elapsed());
        }
        eprintln!("shared rows: an update seen on every replica after {:.1} ms", longest.as_secs_f64() * 1000.0);
    }

    c.delete(&path).bearer(&ann.token).send().await.assert_status(204);
    for replica in replicas {
        let started = Instant::now();
        while replica.get(&path).bearer(&ann.token).send().await.status() != 404 {
            assert!(started.elapsed() < Duration::from_secs(5), "a deleted row is still served after 5 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(redis_get(&redis, &format!("{prefix}:row:Sprocket:{id}")).await, None, "gone from Redis");
}

#[tokio::test]
async fn a_prefix_that_could_break_a_key_is_refused_at_start_up() {
    for prefix in ["", "two words", "new\nline", "star*"] {
        let refused = TestClient::try_start(app("redis://127.0.0.1:6379", prefix)).await;
        let error = refused.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(error.contains("FASTSAAS_CACHE_REDIS_PREFIX"), "{prefix:?}: {error}");
    }
}

/// Readers on the two other replicas race a writer as fast as they can,
/// so that reads which began before a change try to keep what they read
/// after it; once the writes stop, Redis holds nothing stale: a replica
/// started afterwards, its own cache cold, reads the last name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_racing_a_writer_leave_nothing_stale_in_redis() {
    let Some(([a, b, c], redis, prefix)) = replicas().await else { return };
    let ann = a.sign_up("ann@example.com").await;
    let id = sprocket(&a, &ann).await;
    let path = std::sync::Arc::new(format!("/sprockets/{id}"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for replica in [b, c] {
        let replica = std::sync::Arc::new(replica);
        for _ in 0..2 {
            let (replica, path, stop, token) = (
                std::sync::Arc::clone(&replica),
                std::sync::Arc::clone(&path),
                std::sync::Arc::clone(&stop),
                ann.token.clone(),
            );
            readers.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = replica.get(&path).bearer(&token).send().await;
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    let mut name = String::new();
    for round in 1..=60 {
        name = format!("round {round}");
        a.patch(&path).bearer(&ann.token).json(&json!({"name": name})).send().await.assert_status(200);
        let read = a.get(&path).bearer(&ann.token).send().await.json::<Value>();
        assert_eq!(read["name"], name.as_str(), "round {round}: the writer read a stale row");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let _ = reader.await;
    }

    let cold = a.replica(app(&redis, &prefix)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = cold.get(&path).bearer(&ann.token).send().await;
    // Its first lookup made everything kept before a miss: the row is read
    // and kept again, and Redis must hold the last name.
    assert_eq!(read.json::<Value>()["name"], name.as_str(), "Redis kept a row older than the last change");
    let kept = kept_in_redis(&redis, &format!("{prefix}:row:Sprocket:{id}")).await;
    assert!(kept.contains(&format!("\"{name}\"")), "the shared row is the last one: {kept}");
}
