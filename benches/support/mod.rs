//! What the CRUD benchmarks share: the resource under test, the two sides
//! (the generated routes and the hand-written baseline) set up alike on one
//! database each, seeded with the same rows owned by one signed-in user.

pub(crate) mod baseline;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
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
pub(crate) struct Item {
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

/// [`Item`] with its rows read by id through the cache: the same table and
/// stable name, so that it serves what the seeding wrote.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
#[crud(name = "Item", table = "items", cache(ttl_secs = 300))]
pub(crate) struct CachedItem {
    #[crud(validate(length(min = 1, max = 100)))]
    pub name: String,
    pub config: serde_json::Value,
    #[crud(read_only, default = "idle")]
    pub status: String,
    #[crud(write_only)]
    pub secret: Option<String>,
}

/// Rows owned by the caller in each side's table.
pub(crate) const SEED_ROWS: usize = 10_000;

/// Both sides sign and verify tokens with this key.
pub(crate) const SECRET: &str = "the benchmark's signing key, 32 bytes or more";

/// Which implementation of `/items` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// `#[derive(Crud)]` and `App`, with the default settings (callers and
    /// ACL entries cached, rows not).
    Generated,
    /// The same with `#[crud(cache)]`: rows read by id are cached too.
    #[allow(dead_code, reason = "a side of the loopback bench; the crud bench compares the first two")]
    Cached,
    /// The same with every cache off (`FASTSAAS_CACHE_CAPACITY=0`).
    #[allow(dead_code, reason = "a side of the loopback bench; the crud bench compares the first two")]
    CachesOff,
    /// `baseline.rs`.
    HandWritten,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Generated => "generated",
            Side::Cached => "cached",
            Side::CachesOff => "caches-off",
            Side::HandWritten => "hand-written",
        }
    }

    /// The side named `name`.
    #[allow(dead_code, reason = "the loopback bench reads its sides by name; the crud bench does not")]
    pub(crate) fn named(name: &str) -> Option<Side> {
        [Side::Generated, Side::Cached, Side::CachesOff, Side::HandWritten].into_iter().find(|side| side.name() == name)
    }

    /// The app of a generated side, on `settings`.
    pub(crate) fn app(self, settings: Settings) -> App {
        match self {
            Side::Cached => App::new(settings).resource::<CachedItem>(),
            Side::CachesOff => App::new(Settings { cache_capacity: 0, ..settings }).resource::<Item>(),
            Side::Generated | Side::HandWritten => App::new(settings).resource::<Item>(),
        }
    }
}

/// The settings of one side: its database, a pool of `pool` connections,
/// tokens that outlive the run, and SQLite's `synchronous` mode from
/// `FASTSAAS_BENCH_SQLITE_SYNCHRONOUS` (`normal`, the default, or `full`),
/// which the hand-written side follows too.
pub(crate) fn settings(database_url: &str, pool: u32) -> Settings {
    let sqlite_synchronous = match std::env::var("FASTSAAS_BENCH_SQLITE_SYNCHRONOUS").as_deref() {
        Ok("full") => fastsaas::SqliteSynchronous::Full,
        Ok("normal") | Err(_) => fastsaas::SqliteSynchronous::Normal,
        Ok(other) => panic!("FASTSAAS_BENCH_SQLITE_SYNCHRONOUS: `{other}` is neither normal nor full"),
    };
    Settings {
        database_url: database_url.to_owned(),
        jwt_secret: Some(fastsaas::Secret(SECRET.into())),
        db_max_connections: pool,
        access_token_ttl_secs: 24 * 60 * 60,
        sqlite_synchronous,
        ..Settings::default()
    }
}

/// A side, set up and seeded: its router, the seeded ids, the caller's token.
pub(crate) struct Prepared {
    pub(crate) router: Router,
    pub(crate) ids: Vec<Uuid>,
    pub(crate) token: String,
}

/// Sets `side` up on the database of `settings` and seeds it.
pub(crate) async fn prepare(side: Side, settings: &Settings) -> Prepared {
    match side {
        Side::Generated | Side::Cached | Side::CachesOff => {
            let router = side.app(settings.clone()).into_router().await.expect("app");
            let (user, token) = sign_up(&router).await;
            let ids = seed(settings, |n, id, now| {
                let input = fastsaas::serde_json::from_value(seed_item(n)).expect("seed body");
                <Item as ResourceGlue>::new_row(input, NewRow { id, owner_id: Some(user), template_id: None, now })
            })
            .await;
            Prepared { router, ids, token }
        }
        Side::HandWritten => {
            // The framework makes the identity tables and the user; from
            // then on only hand-written code serves `/items`.
            let identity = App::new(settings.clone()).into_router().await.expect("identity tables");
            let (user, token) = sign_up(&identity).await;
            let db = baseline::connect(settings, settings.db_max_connections).await;
            baseline::create_table(&db).await;
            let ids = seed(settings, |n, id, now| {
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
            Prepared { router: baseline::router(db, SECRET), ids, token }
        }
    }
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
    let db = baseline::connect(settings, 1).await;
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

/// A JSON value with every leaf replaced by its type's name and arrays by
/// their first item: two bodies of one shape have the same members at every
/// depth, with values of the same JSON types.
pub(crate) fn shape(value: &serde_json::Value) -> serde_json::Value {
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
