//! Load driver: the generated `/items` routes against the hand-written
//! baseline (`../support/baseline.rs`), in one process, on identical SQLite
//! databases: a profile of the code alone. The figures that count come
//! from `cargo bench --bench loopback`, over real sockets.
//!
//! Run: `cargo bench --bench crud` (release build). Each operation runs in
//! alternating rounds (generated, baseline, baseline, generated, …) so that
//! machine noise hits both alike; the report gives req/s, p50 and p99 per
//! implementation and the ratio generated / hand-written.
//! `FASTSAAS_BENCH_SCALE=0.2` shortens the run.
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fastsaas::prelude::*;
use http_body_util::BodyExt;
use support::{SEED_ROWS, Side};
use tower::ServiceExt;

const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    GetById,
    Endpoint,
    List,
    Patch,
    Post,
}

impl Operation {
    fn label(self) -> &'static str {
        match self {
            Operation::GetById => "GET /items/{id}",
            Operation::Endpoint => "GET /items/{id}/view",
            Operation::List => "GET /items (page of 20)",
            Operation::Patch => "PATCH /items/{id}",
            Operation::Post => "POST /items",
        }
    }

    fn requests_per_round(self, scale: f64) -> u64 {
        let base = match self {
            Operation::GetById | Operation::Endpoint => 20_000.0,
            Operation::List => 2_000.0,
            Operation::Patch | Operation::Post => 4_000.0,
        };
        ((base * scale) as u64).max(100)
    }

    /// Concurrent clients. SQLite admits one writer at a time: concurrent
    /// POSTs would measure the driver's busy-retry sleeps, not the code.
    fn concurrency(self) -> u64 {
        if matches!(self, Operation::Patch | Operation::Post) { 1 } else { 4 }
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
            Operation::Patch => builder
                .method("PATCH")
                .uri(format!("/items/{}", ids[(n as usize * 7919) % ids.len()]))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"name":"patched {n}"}}"#))),
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

/// One side on a fresh SQLite file: its name, router, ids and token.
async fn on_sqlite(side: Side) -> (Target, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("fastsaas-bench-{}-{}.db", side.name(), Uuid::new_v4()));
    let settings = support::settings(&format!("sqlite://{}?mode=rwc", path.display()), 4);
    let prepared = support::prepare(side, &settings).await;
    (Target { name: side.name(), router: prepared.router, ids: prepared.ids, token: prepared.token }, path)
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
        shapes.push(support::shape(&value));
    }
    assert_eq!(shapes[0], shapes[1], "{}: the generated and hand-written bodies differ in shape", operation.label());
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
        let (generated, generated_path) = on_sqlite(Side::Generated).await;
        let (baseline, baseline_path) = on_sqlite(Side::HandWritten).await;
        println!(
            "{SEED_ROWS} rows seeded per database; in-process clients: 4 for reads, 1 for writes; \
             {ROUNDS} alternating rounds\n"
        );
        println!("{:<26} {:<13} {:>10} {:>10} {:>10}", "operation", "routes", "req/s", "p50 µs", "p99 µs");
        for operation in [Operation::GetById, Operation::Endpoint, Operation::List, Operation::Patch, Operation::Post] {
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
