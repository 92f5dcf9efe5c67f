//! Lists at scale: a caller who may read 1,000 rows among 100,000 (the
//! others belong to 99 other owners). Prints the query plans of the list's
//! page and count queries and the time of a page, against a caller who may
//! read everything through a type-wide entry (a full scan, for comparison).
//!
//! Run: `cargo bench --bench list_scale` (SQLite); with
//! `FASTSAAS_TEST_DATABASE_URL=postgres://...` it runs on PostgreSQL (a fresh
//! schema in that database).
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

use std::time::Instant;

use fastsaas::Settings;
use fastsaas::acl;
use fastsaas::prelude::*;
use fastsaas::sea_orm::sea_query::Order;
use fastsaas::sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement,
    TransactionTrait,
};
use fastsaas::testing::{TestClient, TestUser};
// Seeding goes through the derive's own row builder, not HTTP.
use fastsaas::__private::{NewRow, ResourceGlue};

/// The resource listed.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    name: String,
}

const ROWS: usize = 100_000;
const READABLE: usize = 1_000;

async fn seed(client: &TestClient, few: &TestUser) -> fastsaas::sea_orm::DatabaseConnection {
    let db = fastsaas::sea_orm::Database::connect(client.settings().database_url.as_str()).await.expect("db");
    let txn = db.begin().await.expect("txn");
    let start = Utc::now();
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(1_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|n| {
                // Row n belongs to owner n % 100; owner 0 is the caller.
                let owner = if n % (ROWS / READABLE) == 0 { few.id } else { Uuid::from_u128((n % 100) as u128) };
                let input =
                    fastsaas::serde_json::from_value(fastsaas::serde_json::json!({"name": format!("item {n}")}))
                        .expect("body");
                let now = start + chrono::Duration::microseconds(*n as i64);
                <Item as ResourceGlue>::new_row(
                    input,
                    NewRow { id: Uuid::new_v4(), owner_id: Some(owner), template_id: None, now },
                )
            })
            .collect();
        <Item as Resource>::Entity::insert_many(rows).exec(&txn).await.expect("seed");
    }
    txn.commit().await.expect("commit");
    let analyze = if db.get_database_backend() == DbBackend::Sqlite { "ANALYZE" } else { "ANALYZE items" };
    db.execute_unprepared(analyze).await.expect("analyze");
    db
}

async fn explain(db: &fastsaas::sea_orm::DatabaseConnection, label: &str, statement: Statement) {
    let backend = db.get_database_backend();
    let prefix = if backend == DbBackend::Sqlite { "EXPLAIN QUERY PLAN " } else { "EXPLAIN " };
    let explained = Statement::from_sql_and_values(
        backend,
        format!("{prefix}{}", statement.sql),
        statement.values.map(|v| v.0).unwrap_or_default(),
    );
    println!("-- {label}\n{}", statement.sql);
    for row in db.query_all_raw(explained).await.expect("explain") {
        let line = if backend == DbBackend::Sqlite {
            row.try_get::<String>("", "detail").unwrap_or_default()
        } else {
            row.try_get::<String>("", "QUERY PLAN").unwrap_or_default()
        };
        println!("   {line}");
    }
}

async fn page_time(client: &TestClient, user: &TestUser, query: &str) -> (f64, u64) {
    let mut times = Vec::new();
    let mut total = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let response = client.get(&format!("/items?{query}")).bearer(&user.token).send().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        total = response.json::<fastsaas::serde_json::Value>()["total"].as_u64().unwrap_or_default();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], total)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let settings = Settings {
            jwt_secret: Some(fastsaas::Secret("a signing key of at least 32 bytes!".into())),
            ..Settings::default()
        };
        let client = TestClient::start(App::new(settings).resource::<Item>()).await;
        let few = client.sign_up("few@example.com").await;
        let all = client.sign_up("all@example.com").await;
        let db = seed(&client, &few).await;
        // A type-wide allow: this caller may read every row.
        let root = <Item as Resource>::SPEC.name;
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO fastsaas_acl_entries (id, resource_type, object_id, principal_id, action, effect, created_at) \
             VALUES ($1, $2, NULL, $3, 'read', 'allow', $4)",
            [Uuid::new_v4().into(), root.into(), all.id.into(), Utc::now().into()],
        ))
        .await
        .expect("type-wide entry");
        println!(
            "list on {}: {ROWS} rows, {READABLE} readable by one caller\n",
            if client.is_postgres() { "PostgreSQL" } else { "SQLite" }
        );

        let caller = acl::Principal { id: few.id, ..acl::Principal::default() };
        let readable = fastsaas_runtime::access::list_condition(&db, <Item as Resource>::SPEC, caller, "read")
            .await
            .expect("condition")
            .expect("a plain user's list is filtered");
        let select = <Item as Resource>::Entity::find().filter(readable);
        let page = select
            .clone()
            .order_by(<Item as Resource>::CREATED_AT, Order::Asc)
            .order_by(<Item as Resource>::ID, Order::Asc)
            .limit(20)
            .offset(0)
            .build(db.get_database_backend());
        explain(&db, "page", page).await;
        let count = select
            .select_only()
            .column_as(fastsaas::sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
            .build(db.get_database_backend());
        explain(&db, "count", count).await;

        println!();
        for (label, user) in [("1,000 readable", &few), ("100,000 readable", &all)] {
            for query in ["page=1", "page=40", "page=1&total=false"] {
                let (ms, total) = page_time(&client, user, query).await;
                println!("{label:<16} ?{query:<20} median {ms:>8.2} ms   total {total}");
            }
        }
    });
}
