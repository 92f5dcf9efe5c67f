//! Lists at scale: at 10³, 10⁴, 10⁵ and 10⁶ rows, the time of a page for
//! four callers — one who owns 96 % of the rows, one who owns 1 % and holds
//! 10 allow and 2 deny entries, a type-wide reader, and a member of three
//! organizations that own 1 % each — for page 1 with and without `total`,
//! page 50, and the page 50 pages deep by `after`. Then the query plans
//! SQLite or PostgreSQL picks for each caller's page, count and page by
//! cursor at the largest size.
//!
//! Run: `cargo bench --bench list_scale` (SQLite); with
//! `FASTSAAS_TEST_DATABASE_URL=postgres://...` it runs on PostgreSQL (a fresh
//! schema per size in that database). `FASTSAAS_BENCH_MAX_ROWS=100000` stops
//! at a smaller size.
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

use std::collections::BTreeMap;
use std::time::Instant;

use fastsaas::Settings;
// Seeding goes through the derive's own row builder, not HTTP.
use fastsaas::__private::{NewRow, ResourceGlue};
use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};

/// The resource listed.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    name: String,
}

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const RUNS: usize = 15;
const DEPTH: usize = 50;

/// The callers, and whom the rows belong to.
struct World {
    client: TestClient,
    db: DatabaseConnection,
    many: TestUser,
    few: TestUser,
    reader: TestUser,
    member: TestUser,
    organizations: Vec<Uuid>,
}

async fn world(rows: usize) -> World {
    let settings = Settings {
        jwt_secret: Some(fastsaas::Secret("a signing key of at least 32 bytes!".into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Item>()).await;
    let many = client.sign_up("many@example.com").await;
    let few = client.sign_up("few@example.com").await;
    let reader = client.sign_up("reader@example.com").await;
    let member = client.sign_up("member@example.com").await;
    let mut organizations = Vec::new();
    for name in ["one", "two", "three"] {
        let org: Value = client.post("/orgs").bearer(&many.token).json(&json!({"name": name})).send().await.json();
        let id: Uuid = org["id"].as_str().and_then(|id| id.parse().ok()).expect("organization id");
        let members = format!("/orgs/{id}/members");
        let body = json!({"user_id": member.id, "role": "member"});
        client.post(&members).bearer(&many.token).json(&body).send().await.assert_status(204);
        organizations.push(id);
    }
    // Memberships count from the next token on.
    let member = client.sign_in("member@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let db = fastsaas::sea_orm::Database::connect(client.settings().database_url.as_str()).await.expect("db");
    let world = World { client, db, many, few, reader, member, organizations };
    seed(&world, rows).await;
    world
}

/// Row `n` belongs to `few` when `n % 100 == 0`, to organization `k` when
/// `n % 100 == k` (1 to 3), else to `many`.
fn owner_of(world: &World, n: usize) -> Uuid {
    match n % 100 {
        0 => world.few.id,
        k @ 1..=3 => world.organizations[k - 1],
        _ => world.many.id,
    }
}

async fn seed(world: &World, rows: usize) {
    let db = &world.db;
    let txn = db.begin().await.expect("txn");
    let start = Utc::now();
    let mut ids = Vec::with_capacity(rows);
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|n| {
                let id = Uuid::new_v4();
                ids.push(id);
                let input = fastsaas::serde_json::from_value(json!({"name": format!("item {n}")})).expect("body");
                let now = start + chrono::Duration::microseconds(*n as i64);
                <Item as ResourceGlue>::new_row(
                    input,
                    NewRow { id, owner_id: Some(owner_of(world, *n)), template_id: None, now },
                )
            })
            .collect();
        <Item as Resource>::Entity::insert_many(batch).exec(&txn).await.expect("seed");
    }
    let name = <Item as Resource>::SPEC.name;
    let mut entries: Vec<(Option<Uuid>, Uuid, &str)> = vec![(None, world.reader.id, "allow")];
    // Ten rows of `many` shared with `few`, two of `few`'s own denied.
    entries.extend((0..10).map(|k| (Some(ids[10 + k * 7]), world.few.id, "allow")));
    entries.extend([0, 100].into_iter().filter(|n| *n < rows).map(|n| (Some(ids[n]), world.few.id, "deny")));
    for (object, principal, effect) in entries {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "INSERT INTO fastsaas_acl_entries (id, resource_type, object_id, principal_id, action, effect, created_at) \
             VALUES ($1, $2, $3, $4, 'read', $5, $6)",
            [Uuid::new_v4().into(), name.into(), object.into(), principal.into(), effect.into(), Utc::now().into()],
        ))
        .await
        .expect("entry");
    }
    txn.commit().await.expect("commit");
    db.execute_unprepared("ANALYZE").await.expect("analyze");
}

async fn get(client: &TestClient, user: &TestUser, query: &str) -> (f64, Value) {
    let started = Instant::now();
    let response = client.get(&format!("/items?{query}")).bearer(&user.token).send().await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    response.assert_status(200);
    (elapsed, response.json())
}

/// The median time of `query`, and its last answer.
async fn median(client: &TestClient, user: &TestUser, query: &str) -> (f64, Value) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = Value::Null;
    for _ in 0..RUNS {
        let (ms, page) = get(client, user, query).await;
        times.push(ms);
        last = page;
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], last)
}

/// The cursor of page `DEPTH`'s predecessor, walked from page 1.
async fn deep_cursor(client: &TestClient, user: &TestUser) -> Option<String> {
    let mut query = "page_size=20&total=false".to_owned();
    let mut cursor = None;
    for _ in 1..DEPTH {
        let (_, page) = get(client, user, &query).await;
        cursor = page["next"].as_str().map(str::to_owned);
        let next = cursor.as_deref()?;
        query = format!("page_size=20&total=false&after={next}");
    }
    cursor
}

async fn explain(db: &DatabaseConnection, label: &str, statement: Statement) {
    let backend = db.get_database_backend();
    let prefix = if backend == DbBackend::Sqlite { "EXPLAIN QUERY PLAN " } else { "EXPLAIN " };
    let explained = Statement::from_sql_and_values(
        backend,
        format!("{prefix}{}", statement.sql),
        statement.values.map(|v| v.0).unwrap_or_default(),
    );
    println!("-- {label}\n   {}", statement.sql);
    for row in db.query_all_raw(explained).await.expect("explain") {
        let line = if backend == DbBackend::Sqlite {
            row.try_get::<String>("", "detail").unwrap_or_default()
        } else {
            row.try_get::<String>("", "QUERY PLAN").unwrap_or_default()
        };
        println!("     {line}");
    }
}

/// The plans of what the app sends for `user`'s page 1 (its count and its
/// page) and for the page 50 pages deep by cursor: the statements on the
/// resource's table, with the values they were sent with.
async fn plans(world: &World, label: &str, user: &TestUser) {
    let mut requests = vec![("page 1", "page_size=20".to_owned())];
    if let Some(cursor) = deep_cursor(&world.client, user).await {
        requests.push(("page by cursor", format!("page_size=20&total=false&after={cursor}")));
    }
    for (what, query) in requests {
        let response = world.client.get(&format!("/items?{query}")).bearer(&user.token).send().await;
        for statement in response.sent().iter().filter(|statement| statement.sql.contains("FROM \"items\"")) {
            explain(&world.db, &format!("{label}: {what}"), statement.clone()).await;
        }
    }
}

fn main() {
    let max_rows: usize =
        std::env::var("FASTSAAS_BENCH_MAX_ROWS").ok().and_then(|value| value.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut figures: BTreeMap<(&str, &str), Vec<(usize, f64)>> = BTreeMap::new();
        let mut last_world = None;
        for rows in SIZES.into_iter().filter(|rows| *rows <= max_rows) {
            let seeding = Instant::now();
            let world = world(rows).await;
            let database = if world.client.is_postgres() { "PostgreSQL" } else { "SQLite" };
            println!(
                "\n{rows} rows on {database} (seeded in {:.1} s); median of {RUNS} requests, ms",
                seeding.elapsed().as_secs_f64()
            );
            println!(
                "{:<32} {:>10} {:>10} {:>10} {:>10}   total",
                "caller", "page 1+tot", "page 1", "page 50", "after×49"
            );
            let callers = [
                ("owner of 96 %", &world.many),
                ("owner of 1 %, 10 allow, 2 deny", &world.few),
                ("type-wide reader", &world.reader),
                ("member of 3 organizations", &world.member),
            ];
            for (label, user) in callers {
                let (with_total, page) = median(&world.client, user, "page_size=20").await;
                let (first, _) = median(&world.client, user, "page_size=20&total=false").await;
                let (fiftieth, _) = median(&world.client, user, "page_size=20&total=false&page=50").await;
                let deep = match deep_cursor(&world.client, user).await {
                    Some(cursor) => {
                        median(&world.client, user, &format!("page_size=20&total=false&after={cursor}")).await.0
                    }
                    None => f64::NAN,
                };
                let total = page["total"].as_u64().unwrap_or_default();
                println!("{label:<32} {with_total:>10.2} {first:>10.2} {fiftieth:>10.2} {deep:>10.2}   {total}");
                for (operation, ms) in [("page 1 + total", with_total), ("page 1", first), ("after ×49", deep)] {
                    figures.entry((label, operation)).or_default().push((rows, ms));
                }
            }
            last_world = Some(world);
        }

        println!("\nat the largest size against the smallest with 50 pages (target: page 1 and after ×49 within 2×)");
        for ((caller, operation), series) in &figures {
            let smallest = series.iter().find(|(_, ms)| ms.is_finite());
            if let (Some((base, smallest)), Some((rows, largest))) = (smallest, series.last()) {
                println!("{caller:<32} {operation:<16} {:>6.2}× at {rows} rows against {base}", largest / smallest);
            }
        }

        if let Some(world) = last_world {
            println!("\nquery plans at the largest size");
            plans(&world, "owner of 96 %", &world.many).await;
            plans(&world, "owner of 1 %", &world.few).await;
            plans(&world, "type-wide reader", &world.reader).await;
            plans(&world, "member of 3 organizations", &world.member).await;
        }
    });
}
