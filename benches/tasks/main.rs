//! Background tasks and notifications on PostgreSQL, each app a process of
//! its own on loopback (this binary started again):
//!
//! - throughput: `FASTSAAS_BENCH_TASKS` (default 20,000) no-op tasks,
//!   inserted in one statement while the workers wait, completed by one
//!   worker process, then by three sharing the same database and cores;
//!   tasks per second from the insert to the last completion;
//! - enqueue-to-start latency: 1,000 tasks enqueued one at a time through
//!   `ctx.tasks().enqueue` (200 a second) while one worker process waits:
//!   the time from the enqueue to the start of the handler, p50 and p99;
//! - WebSocket fan-out: `FASTSAAS_BENCH_SOCKETS` (default `1000,10000`)
//!   sockets on `/ws` of a serving process, spread over 20 users; one
//!   notification to each user, so that every socket gets one frame: the
//!   time from the `POST /notify` to the frame, p50 and p99, and frames per
//!   second.
//!
//! Run: `cargo bench --bench tasks`. `FASTSAAS_BENCH_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432`) is the server; each part gets a
//! database of its own, dropped at the end.
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastsaas::axum::body::Body;
use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database};
use fastsaas::serde_json::{Value, json};
use fastsaas::{Secret, Settings};
use futures_util::StreamExt;
use http::{Request, header};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

const SECRET: &str = "the task benchmark's own secret, 32+ bytes";
/// Attempts one worker process runs at once, and its pool.
const WORKERS: usize = 32;
const POOL: u32 = 10;
const USERS: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--worker") {
        return serve_child(Role::Worker, &args[at + 1], None);
    }
    if let Some(at) = args.iter().position(|arg| arg == "--serve") {
        return serve_child(Role::Server, &args[at + 1], Some(&args[at + 2]));
    }
    let server = std::env::var("FASTSAAS_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let tasks = number("FASTSAAS_BENCH_TASKS", 20_000);
    let sockets = std::env::var("FASTSAAS_BENCH_SOCKETS").unwrap_or_else(|_| "1000,10000".into());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        println!("PostgreSQL, {WORKERS} workers and {POOL} connections per worker process; {} cores\n", cores());
        let one = throughput(&server, tasks, 1).await;
        let three = throughput(&server, tasks, 3).await;
        println!("throughput: {one:.0} tasks/s with 1 process, {three:.0} with 3 ({:.2}×)", three / one);
        latency(&server).await;
        for count in sockets.split(',').filter(|count| !count.is_empty()) {
            fan_out(&server, count.trim().parse().expect("FASTSAAS_BENCH_SOCKETS: numbers")).await;
        }
    });
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name).map(|value| value.parse().unwrap_or_else(|_| panic!("{name}: a number"))).unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Worker,
    Server,
}

fn settings(database_url: &str) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        jwt_secret: Some(Secret(SECRET.into())),
        db_max_connections: POOL,
        access_token_ttl_secs: 24 * 60 * 60,
        task_workers: WORKERS,
        ws_per_principal: 100_000,
        ws_ping_secs: 3600,
        max_connections: 100_000,
        notifications_kept: 100_000,
        auth_attempts_per_minute: 100_000,
        ..Settings::default()
    }
}

/// A no-op task; with `{t}` (microseconds since the epoch at its enqueue),
/// its result is how long it waited to start.
async fn noop(task: Task<AppState>) -> TaskResult {
    match task.payload["t"].as_i64() {
        Some(enqueued) => Ok(json!({"waited_us": micros_now() - enqueued})),
        None => Ok(Value::Null),
    }
}

fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `POST /enqueue`: one no-op task, stamped with the time of its enqueue.
async fn enqueue(ctx: Ctx) -> ApiResult<Json<Value>> {
    let queued = ctx.tasks().enqueue(NewTask::new("noop", json!({"t": micros_now()}))).await?;
    Ok(Json(json!({"id": queued.id()})))
}

fn app(settings: Settings) -> App {
    App::new(settings).task("noop", noop).route(Route::post("/enqueue", enqueue))
}

/// A worker process (workers, no HTTP) or a serving one (no workers).
fn serve_child(role: Role, database_url: &str, bind: Option<&str>) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        match role {
            Role::Worker => {
                let _router = app(settings(database_url)).into_router().await.expect("worker");
                println!("ready");
                std::future::pending::<()>().await;
            }
            Role::Server => {
                let bind = bind.expect("a bind address").to_owned();
                let settings = Settings { bind, task_workers: 0, ..settings(database_url) };
                // `serve` binds before it answers; the driver waits for the port.
                println!("ready");
                app(settings).serve().await.expect("server");
            }
        }
    });
}

/// A scratch database, dropped with this value.
struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn new(server: &str, part: &str) -> Scratch {
        let name = format!("fastsaas_bench_{part}_{}", std::process::id());
        let admin = format!("{server}/postgres");
        execute(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        execute(&admin, &format!("CREATE DATABASE {name}")).await;
        Scratch { url: format!("{server}/{name}"), admin, name }
    }

    async fn drop_database(self) {
        execute(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

async fn execute(url: &str, sql: &str) {
    let db = Database::connect(url).await.expect("PostgreSQL");
    db.execute_unprepared(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    db.close().await.expect("close");
}

async fn count(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.expect("PostgreSQL");
    let statement = fastsaas::sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let row = db.query_one_raw(statement).await.expect(sql).expect("a row");
    let value = row.try_get_by_index::<i64>(0).expect("a number");
    db.close().await.expect("close");
    value
}

/// The processes of one part, killed when dropped.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts a process of `args` and waits for its `ready`; the rest of what
/// it prints is read and dropped, so that it never blocks on a full pipe.
fn spawn(args: &[&str]) -> std::process::Child {
    let exe = std::env::current_exe().expect("this binary");
    // Access logs off, as in the loopback benchmark.
    let mut child =
        Command::new(exe).args(args).env("RUST_LOG", "warn").stdout(Stdio::piped()).spawn().expect("a child process");
    let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("its first line");
    assert_eq!(line.trim(), "ready", "the child said {line:?}");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

async fn throughput(server: &str, tasks: usize, processes: usize) -> f64 {
    let scratch = Scratch::new(server, "throughput").await;
    // The schema, made once before the workers start.
    drop(app(Settings { task_workers: 0, ..settings(&scratch.url) }).into_router().await.expect("schema"));
    let workers = Processes((0..processes).map(|_| spawn(&["--worker", &scratch.url])).collect());
    let insert = format!(
        "INSERT INTO fastsaas_tasks (id, kind, payload, status, priority, attempt, max_attempts, run_at, \
         created_at, updated_at) SELECT gen_random_uuid(), 'noop', '{{}}'::jsonb, 'queued', 0, 0, 3, now(), now(), \
         now() FROM generate_series(1, {tasks}); SELECT pg_notify('fastsaas_tasks', '')"
    );
    let started = Instant::now();
    execute(&scratch.url, &insert).await;
    let done = "SELECT count(*) FROM fastsaas_tasks WHERE status = 'succeeded'";
    while count(&scratch.url, done).await < tasks as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let retried = count(&scratch.url, "SELECT count(*) FROM fastsaas_tasks WHERE attempt > 1").await;
    assert_eq!(retried, 0, "tasks ran more than once");
    drop(workers);
    scratch.drop_database().await;
    let rate = tasks as f64 / elapsed.as_secs_f64();
    println!("  {processes} process(es): {tasks} tasks in {:.2} s, {rate:.0} tasks/s", elapsed.as_secs_f64());
    rate
}

/// The `p`-th percentile of sorted `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    let at = ((values.len() as f64 - 1.0) * p / 100.0).round() as usize;
    values.get(at).copied().unwrap_or(f64::NAN)
}

async fn latency(server: &str) {
    const COUNT: usize = 1000;
    let scratch = Scratch::new(server, "latency").await;
    let enqueuer = app(Settings { task_workers: 0, ..settings(&scratch.url) }).into_router().await.expect("app");
    let token = sign_up(&enqueuer, "bench@example.com").await;
    let worker = Processes(vec![spawn(&["--worker", &scratch.url])]);
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..COUNT {
        ticks.tick().await;
        let request = Request::post("/enqueue")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = enqueuer.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200, "enqueue");
    }
    let done = "SELECT count(*) FROM fastsaas_tasks WHERE status = 'succeeded' AND kind = 'noop'";
    while count(&scratch.url, done).await < COUNT as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = Database::connect(scratch.url.as_str()).await.expect("PostgreSQL");
    let sql = "SELECT (result->>'waited_us')::bigint FROM fastsaas_tasks WHERE kind = 'noop'";
    let rows = db.query_all_raw(fastsaas::sea_orm::Statement::from_string(db.get_database_backend(), sql));
    let mut waited: Vec<f64> = rows
        .await
        .expect(sql)
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0).expect("waited") as f64 / 1000.0)
        .collect();
    db.close().await.expect("close");
    waited.sort_by(f64::total_cmp);
    println!(
        "enqueue-to-start: {COUNT} tasks at 200/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&waited, 50.0),
        percentile(&waited, 99.0),
        percentile(&waited, 100.0)
    );
    drop(worker);
    drop(enqueuer);
    scratch.drop_database().await;
}

/// Registers `email` and signs it in through `router`: its access token.
async fn sign_up(router: &fastsaas::axum::Router, email: &str) -> String {
    let body = json!({"email": email, "password": "bench password"}).to_string();
    let mut answers = Vec::new();
    for path in ["/users", "/login"] {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        answers.push(fastsaas::serde_json::from_slice::<Value>(&bytes).expect("json"));
    }
    answers[1]["access_token"].as_str().expect("a token").to_owned()
}

/// One HTTP/1.1 request to `address`: the JSON answer.
async fn request(address: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> Value {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let body = body.to_string();
    let auth = token.map(|token| format!("authorization: Bearer {token}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n{auth}content-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(format!("{head}{body}").as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("receive");
    let answer = String::from_utf8_lossy(&answer);
    let (_, body) = answer.split_once("\r\n\r\n").expect("a body");
    fastsaas::serde_json::from_str(body).unwrap_or(Value::Null)
}

async fn fan_out(server: &str, sockets: usize) {
    let scratch = Scratch::new(server, "fan_out").await;
    let address: SocketAddr =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port");
    let serving = Processes(vec![spawn(&["--serve", &scratch.url, &address.to_string()])]);
    let started = Instant::now();
    while TcpStream::connect(address).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut users = Vec::new();
    for n in 0..USERS {
        let credentials = json!({"email": format!("user{n}@example.com"), "password": "bench password"});
        let user = request(address, "/users", None, &credentials).await;
        let login = request(address, "/login", None, &credentials).await;
        users.push((user["id"].clone(), login["access_token"].as_str().expect("a token").to_owned()));
    }
    // Every socket waits for one frame and reports how late it came.
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel::<(f64, Instant)>();
    let opening = Arc::new(tokio::sync::Semaphore::new(64));
    let mut open = tokio::task::JoinSet::new();
    for n in 0..sockets {
        let (token, heard, opening) = (users[n % USERS].1.clone(), heard.clone(), Arc::clone(&opening));
        open.spawn(async move {
            let permit = opening.acquire_owned().await.expect("semaphore");
            let stream = TcpStream::connect(address).await.expect("connect");
            let url = format!("ws://{address}/ws?token={token}");
            let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.expect("/ws");
            drop(permit);
            tokio::spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        let frame: Value = fastsaas::serde_json::from_str(text.as_str()).expect("a frame");
                        let sent = frame["payload"]["t"].as_i64().expect("a stamp");
                        let _ = heard.send(((micros_now() - sent) as f64 / 1000.0, Instant::now()));
                        break;
                    }
                }
                // Held open until the end of the part.
                std::future::pending::<()>().await;
            });
        });
    }
    while let Some(opened) = open.join_next().await {
        opened.expect("a socket");
    }
    drop(heard);
    // Let the last sockets settle into waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first_sent = Instant::now();
    for (id, token) in &users {
        let body = json!({"user_id": id, "message": "fan-out", "payload": {"t": micros_now()}});
        request(address, "/notify", Some(token), &body).await;
    }
    let mut late = Vec::with_capacity(sockets);
    let mut last = first_sent;
    while late.len() < sockets {
        match tokio::time::timeout(Duration::from_secs(60), hearing.recv()).await {
            Ok(Some((ms, at))) => {
                late.push(ms);
                last = at;
            }
            _ => panic!("{} of {sockets} frames arrived", late.len()),
        }
    }
    late.sort_by(f64::total_cmp);
    let span = last.duration_since(first_sent).as_secs_f64();
    println!(
        "fan-out to {sockets} sockets ({USERS} users): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} frames/s",
        percentile(&late, 50.0),
        percentile(&late, 99.0),
        percentile(&late, 100.0),
        sockets as f64 / span
    );
    drop(serving);
    scratch.drop_database().await;
}
