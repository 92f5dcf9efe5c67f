//! Load driver: the generated `/items` routes against the hand-written
//! baseline (`baseline.rs`), in one process, on identical SQLite databases.
//!
//! Run: `cargo bench --bench crud` (release build). Each operation runs in
//! alternating rounds (generated, baseline, baseline, generated, …) so that
//! machine noise hits both alike; the report gives req/s, p50 and p99 per
//! implementation and the ratio generated / hand-written.
//! `FASTSAAS_BENCH_SCALE=0.2` shortens the run.
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

mod baseline;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fastsaas::Settings;
use fastsaas::prelude::*;
use fastsaas::sea_orm::ActiveValue::Set;
use fastsaas::sea_orm::{ActiveModelTrait, EntityTrait, TransactionTrait};
// Seeding goes through the derive's own row builder, not HTTP.
use fastsaas::__private::{NewRow, ResourceGlue};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The resource under test: the same shape as the baseline's table.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(validate(length(min = 1, max = 100)))]
    pub name: String,
    pub config: serde_json::Value,
    #[crud(read_only, default = "idle")]
    pub status: String,
    #[crud(write_only)]
    pub secret: Option<String>,
}

#[endpoints]
impl Item {
    /// The same work as `GET /items/{id}`, as a custom endpoint: the cost
    /// of `#[endpoints]`, its route action and `Authorized<T>`.
    #[endpoint(get, "/{id}/view")]
    async fn view(item: Authorized<Item>) -> Json<Record<Item>> {
        Json(item.into_record())
    }
}

const SEED_ROWS: usize = 10_000;
const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    GetById,
    Endpoint,
    List,
    Post,
}

impl Operation {
    fn label(self) -> &'static str {
        match self {
            Operation::GetById => "GET /items/{id}",
            Operation::Endpoint => "GET /items/{id}/view",
            Operation::List => "GET /items (page of 20)",
            Operation::Post => "POST /items",
        }
    }

    fn requests_per_round(self, scale: f64) -> u64 {
        let base = match self {
            Operation::GetById | Operation::Endpoint => 20_000.0,
            Operation::List => 2_000.0,
            Operation::Post => 4_000.0,
        };
        ((base * scale) as u64).max(100)
    }

    /// Concurrent clients. SQLite admits one writer at a time: concurrent
    /// POSTs would measure the driver's busy-retry sleeps, not the code.
    fn concurrency(self) -> u64 {
        if self == Operation::Post { 1 } else { 4 }
    }

    fn expected(self) -> StatusCode {
        if self == Operation::Post { StatusCode::CREATED } else { StatusCode::OK }
    }

    fn request(self, n: u64, ids: &[Uuid], token: &str) -> Request<Body> {
        let builder = Request::builder().header(header::AUTHORIZATION, format!("Bearer {token}"));
        let request = match self {
            Operation::GetById => {
                builder.uri(format!("/items/{}", ids[(n as usize * 7919) % ids.len()])).body(Body::empty())
            }
            Operation::Endpoint => {
                builder.uri(format!("/items/{}/view", ids[(n as usize * 7919) % ids.len()])).body(Body::empty())
            }
            Operation::List => builder.uri(format!("/items?page={}&page_size=20", n % 50 + 1)).body(Body::empty()),
            Operation::Post => {
                builder.method("POST").uri("/items").header(header::CONTENT_TYPE, "application/json").body(Body::from(
                    format!(r#"{{"name":"item {n}","config":{{"n":{n},"tags":["a","b"]}},"secret":"s"}}"#),
                ))
            }
        };
        request.expect("valid request")
    }
}

struct Target {
    name: &'static str,
    router: Router,
    ids: Vec<Uuid>,
    token: String,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Tally {
    fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

/// Both sides sign and verify tokens with this key.
const SECRET: &str = "the benchmark's signing key, 32 bytes or more";

fn temporary_sqlite(name: &str) -> (Settings, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("fastsaas-bench-{name}-{}.db", Uuid::new_v4()));
    let settings = Settings {
        database_url: format!("sqlite://{}?mode=rwc", path.display()),
        jwt_secret: Some(fastsaas::Secret(SECRET.into())),
        ..Settings::default()
    };
    (settings, path)
}

/// Registers a user through the framework's routes of `router` and signs it
/// in: its id and access token.
async fn sign_up(router: &Router) -> (Uuid, String) {
    let body = r#"{"email":"bench@example.com","password":"bench password"}"#;
    let mut values = Vec::new();
    for path in ["/users", "/login"] {
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        values.push(fastsaas::serde_json::from_slice::<fastsaas::serde_json::Value>(&bytes).expect("json"));
    }
    let id = values[0]["id"].as_str().and_then(|id| id.parse().ok()).expect("user id");
    (id, values[1]["access_token"].as_str().expect("token").to_owned())
}

fn seed_item(n: usize) -> fastsaas::serde_json::Value {
    fastsaas::serde_json::json!({"name": format!("seed {n}"), "config": {"n": n, "tags": ["a", "b"]}, "secret": "s"})
}

/// Inserts `SEED_ROWS` rows made by `row(n, id, created_at)` through a pool
/// of its own, closed before measuring, and returns their ids.
async fn seed<A>(settings: &Settings, mut row: impl FnMut(usize, Uuid, DateTime<Utc>) -> A) -> Vec<Uuid>
where
    A: ActiveModelTrait + Send,
{
    let db = fastsaas_runtime::db::connect(settings).await.expect("database");
    let now = Utc::now();
    let mut ids = Vec::with_capacity(SEED_ROWS);
    let txn = db.begin().await.expect("transaction");
    for chunk in (0..SEED_ROWS).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<A> = chunk
            .iter()
            .map(|n| {
                let id = Uuid::new_v4();
                ids.push(id);
                row(*n, id, now + chrono::Duration::microseconds(*n as i64))
            })
            .collect();
        A::Entity::insert_many(rows).exec(&txn).await.expect("seed");
    }
    txn.commit().await.expect("commit");
    db.close().await.expect("close");
    ids
}

async fn generated() -> (Target, std::path::PathBuf) {
    let (settings, path) = temporary_sqlite("generated");
    let router = App::new(settings.clone()).resource::<Item>().into_router().await.expect("app");
    let (user, token) = sign_up(&router).await;
    let ids = seed(&settings, |n, id, now| {
        let input = fastsaas::serde_json::from_value(seed_item(n)).expect("seed body");
        <Item as ResourceGlue>::new_row(input, NewRow { id, owner_id: Some(user), template_id: None, now })
    })
    .await;
    (Target { name: "generated", router, ids, token }, path)
}

async fn hand_written() -> (Target, std::path::PathBuf) {
    let (settings, path) = temporary_sqlite("baseline");
    // The framework makes the identity tables and the user; from then on
    // only hand-written code serves `/items`.
    let identity = App::new(settings.clone()).into_router().await.expect("identity tables");
    let (user, token) = sign_up(&identity).await;
    let router = baseline::router(fastsaas_runtime::db::connect(&settings).await.expect("database"), SECRET).await;
    let ids = seed(&settings, |n, id, now| {
        let seed = seed_item(n);
        baseline::ActiveModel {
            id: Set(id),
            owner_id: Set(Some(user)),
            name: Set(seed["name"].as_str().unwrap_or_default().to_owned()),
            config: Set(seed["config"].clone()),
            status: Set("idle".to_owned()),
            secret: Set(Some("s".to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        }
    })
    .await;
    (Target { name: "hand-written", router, ids, token }, path)
}

/// Both sides answer `operation` with bodies of one shape (the same members
/// at every depth, values of the same JSON types), so the ratio compares
/// the same work: no secret on one side, no missing field on the other.
async fn assert_same_body_shape(generated: &Target, baseline: &Target, operation: Operation) {
    let mut shapes = Vec::new();
    for target in [generated, baseline] {
        let response = target.router.clone().oneshot(operation.request(0, &target.ids, &target.token)).await;
        let body = response.expect("infallible").into_body().collect().await.expect("body").to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
        shapes.push(shape(&value));
    }
    assert_eq!(shapes[0], shapes[1], "{}: the generated and hand-written bodies differ in shape", operation.label());
}

/// A JSON value with every leaf replaced by its type's name and arrays by
/// their first item.
fn shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(members) => Value::Object(members.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

async fn run(target: &Target, operation: Operation, count: u64) -> Tally {
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(target.ids.clone());
    let token = Arc::new(target.token.clone());
    let started = Instant::now();
    let workers: Vec<_> = (0..operation.concurrency())
        .map(|_| {
            let (router, next, ids, token) = (target.router.clone(), next.clone(), ids.clone(), token.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break latencies;
                    }
                    let request = operation.request(n, &ids, &token);
                    let sent = Instant::now();
                    let response = router.clone().oneshot(request).await.expect("infallible");
                    let status = response.status();
                    let body = response.into_body().collect().await.expect("body").to_bytes();
                    latencies.push(sent.elapsed());
                    assert_eq!(status, operation.expected(), "{}", String::from_utf8_lossy(&body));
                }
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.latencies.extend(worker.await.expect("worker"));
    }
    tally.elapsed = started.elapsed();
    tally
}

/// The in-process cost of one ACL decision (`fastsaas_core::acl::decide`)
/// for a caller with two roles and two organizations, over eight entries.
fn acl_decision_cost() {
    use fastsaas::acl::{AclEntry, Effect, Principal, Request, decide};
    let ids: Vec<Uuid> = (1..=8_u128).map(Uuid::from_u128).collect();
    let caller = Principal {
        id: ids[0],
        role_names: vec!["staff".into(), "auditor".into()],
        role_ids: vec![ids[1], ids[2]],
        admin_of: vec![ids[3]],
        member_of: vec![ids[4]],
    };
    let entries: Vec<AclEntry> = (0..8)
        .map(|n| AclEntry {
            id: Uuid::from_u128(100 + n),
            principal_id: ids[(n as usize * 3) % 8],
            object: (n % 2 == 0).then_some(ids[5]),
            action: ["read", "update", "*", "command"][n as usize % 4].into(),
            effect: if n % 3 == 0 { Effect::Deny } else { Effect::Allow },
        })
        .collect();
    let request = Request {
        action: "update",
        object: Some((ids[6], Some(ids[7]))),
        acl_admins: &["admin"],
        acl_allow_always: &["root"],
    };
    const BATCH: u32 = 1_000;
    let mut per_call: Vec<f64> = (0..2_000)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..BATCH {
                std::hint::black_box(decide(std::hint::black_box(&caller), &request, std::hint::black_box(&entries)));
            }
            started.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    let at = |p: f64| per_call[((per_call.len() - 1) as f64 * p) as usize];
    println!("one ACL decision in-process (8 entries): median {:.0} ns, p99 {:.0} ns", at(0.5), at(0.99));
}

fn main() {
    let scale = std::env::var("FASTSAAS_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (generated, generated_path) = generated().await;
        let (baseline, baseline_path) = hand_written().await;
        println!(
            "{SEED_ROWS} rows seeded per database; in-process clients: 4 for reads, 1 for writes; \
             {ROUNDS} alternating rounds\n"
        );
        println!("{:<26} {:<13} {:>10} {:>10} {:>10}", "operation", "routes", "req/s", "p50 µs", "p99 µs");
        for operation in [Operation::GetById, Operation::Endpoint, Operation::List, Operation::Post] {
            assert_same_body_shape(&generated, &baseline, operation).await;
            let count = operation.requests_per_round(scale);
            // Warm both (caches, pools, allocator) before measuring.
            run(&generated, operation, count / 10).await;
            run(&baseline, operation, count / 10).await;
            let (mut ours, mut theirs) = (Tally::default(), Tally::default());
            for round in 0..ROUNDS {
                let order = if round % 2 == 0 { [&generated, &baseline] } else { [&baseline, &generated] };
                for target in order {
                    let tally = run(target, operation, count).await;
                    let into = if std::ptr::eq(target, &generated) { &mut ours } else { &mut theirs };
                    into.latencies.extend(tally.latencies);
                    into.elapsed += tally.elapsed;
                }
            }
            let ratio = ours.requests_per_second() / theirs.requests_per_second();
            for (target, tally) in [(&generated, &mut ours), (&baseline, &mut theirs)] {
                let (p50, p99) = (tally.percentile(0.50), tally.percentile(0.99));
                println!(
                    "{:<26} {:<13} {:>10.0} {:>10} {:>10}",
                    operation.label(),
                    target.name,
                    tally.requests_per_second(),
                    p50.as_micros(),
                    p99.as_micros()
                );
            }
            println!("{:<26} {:<13} {:>10.3}\n", "", "ratio", ratio);
        }
        acl_decision_cost();
        for path in [generated_path, baseline_path] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    });
}
