//! Background tasks: enqueued through `ctx.tasks()`, run by the workers of
//! the app's process, read back with `GET /tasks/{id}`. Retries with
//! backoff, the last failure kept, delays, unique keys (also under
//! concurrent enqueues), a rolled-back enqueue, a panicking handler, a lease
//! taken over while its attempt still runs (the late attempt's result does
//! not count), a worker process killed mid-task, and many tasks each run
//! exactly once by several workers (two processes' worth on PostgreSQL).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Enqueued, Secret, Settings};

/// Runs of each task, by id, across the tests of this binary.
static RUNS: Mutex<Option<HashMap<Uuid, u32>>> = Mutex::new(None);

fn count_run(id: Uuid) -> u32 {
    let mut runs = RUNS.lock().unwrap_or_else(PoisonError::into_inner);
    let count = runs.get_or_insert_with(HashMap::new).entry(id).or_default();
    *count += 1;
    *count
}

fn runs_of(id: Uuid) -> u32 {
    RUNS.lock().unwrap_or_else(PoisonError::into_inner).as_ref().and_then(|runs| runs.get(&id).copied()).unwrap_or(0)
}

async fn echo(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    Ok(task.payload.clone())
}

/// Fails until its third attempt.
async fn flaky(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    if task.attempt < 3 {
        Err(TaskError::new(format!("attempt {} failed", task.attempt)))
    } else {
        Ok(json!("third time"))
    }
}

async fn fail(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    Err(TaskError::new("this task always fails"))
}

/// Returns a result no database keeps: a NUL character, or 2 MB.
async fn unstorable(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    match task.payload.as_str() {
        Some("nul") => Ok(json!({"text": "a\u{0}b"})),
        _ => Ok(json!("x".repeat(2 * 1024 * 1024))),
    }
}

async fn panics(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    panic!("a bug in a handler");
}

/// Sleeps `{ms}`, or until told to stop; the first attempt then says so.
async fn sleep(task: Task<AppState>) -> TaskResult {
    count_run(task.id);
    let ms = task.payload["ms"].as_u64().unwrap_or(0);
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(json!({"attempt": task.attempt, "slept": ms})),
        () = task.cancelled() => Ok(json!({"attempt": task.attempt, "cancelled": true})),
    }
}

/// `POST /enqueue {kind, payload, delay_ms?, unique?, max_attempts?}`.
async fn enqueue(ctx: Ctx, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    let task = new_task(&body);
    let queued = ctx.tasks().enqueue(task).await?;
    Ok(Json(json!({"id": queued.id(), "duplicate": matches!(queued, Enqueued::Duplicate(_))})))
}

/// `POST /enqueue-then-fail`: enqueues in a transaction that then rolls
/// back, as a handler whose change failed after the enqueue.
async fn enqueue_then_fail(ctx: Ctx, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    let tx = ctx.app().db().begin().await.map_err(|_| ApiError::Internal)?;
    let queued = ctx.tasks().enqueue_in(&tx, new_task(&body)).await?;
    tx.rollback().await.map_err(|_| ApiError::Internal)?;
    Ok(Json(json!({"id": queued.id()})))
}

fn new_task(body: &Value) -> NewTask {
    let mut task = NewTask::new(body["kind"].as_str().unwrap_or_default(), body["payload"].clone());
    if let Some(ms) = body["delay_ms"].as_u64() {
        task = task.delay(Duration::from_millis(ms));
    }
    if let Some(key) = body["unique"].as_str() {
        task = task.unique(key);
    }
    if let Some(attempts) = body["max_attempts"].as_u64() {
        task = task.max_attempts(u32::try_from(attempts).unwrap_or(1));
    }
    task
}

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        jwt_secret: Some(Secret("the task tests' own secret, at least 32 bytes".into())),
        task_poll_ms: 20,
        task_retry_base_ms: 10,
        task_workers: 8,
        ..Settings::default()
    }
}

fn app(settings: Settings) -> App {
    App::new(settings)
        .task("echo", echo)
        .task("flaky", flaky)
        .task("fail", fail)
        .task("panics", panics)
        .task("unstorable", unstorable)
        .task("sleep", sleep)
        .route(Route::post("/enqueue", enqueue))
        .route(Route::post("/enqueue-then-fail", enqueue_then_fail))
}

async fn enqueued(client: &TestClient, user: &TestUser, body: Value) -> (Uuid, bool) {
    let answer = client.post("/enqueue").bearer(&user.token).json(&body).send().await;
    answer.assert_status(200);
    let answer: Value = answer.json();
    let id = answer["id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("no id: {answer}"));
    (id, answer["duplicate"] == json!(true))
}

async fn task(client: &TestClient, user: &TestUser, id: Uuid) -> Value {
    let answer = client.get(&format!("/tasks/{id}")).bearer(&user.token).send().await;
    answer.assert_status(200);
    answer.json()
}

/// The task once it has `status`, within 20 s.
async fn settled(client: &TestClient, user: &TestUser, id: Uuid, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let task = task(client, user, id).await;
        if task["status"] == status {
            return task;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still not {status}: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_task_runs_once_and_its_result_is_read_by_its_caller_only() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let (id, duplicate) = enqueued(&client, &ann, json!({"kind": "echo", "payload": {"say": "hi"}})).await;
    assert!(!duplicate);
    let done = settled(&client, &ann, id, "succeeded").await;
    assert_eq!(done["result"], json!({"say": "hi"}));
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["kind"], "echo");
    assert!(done["error"].is_null() && done["created_at"].is_string() && done["updated_at"].is_string());
    assert_eq!(runs_of(id), 1);
    client.get(&format!("/tasks/{id}")).bearer(&bob.token).send().await.assert_status(404);
    client.get(&format!("/tasks/{}", Uuid::new_v4())).bearer(&ann.token).send().await.assert_status(404);
    client.get(&format!("/tasks/{id}")).without_identity().send().await.assert_status(401);
    let root = client.sign_in("root@example.com", "root password").await;
    client.get(&format!("/tasks/{id}")).bearer(&root.token).send().await.assert_status(200);
    // An unknown kind is refused at the enqueue, naming the kinds there are.
    let unknown = client.post("/enqueue").bearer(&ann.token).json(&json!({"kind": "nope", "payload": {}})).send().await;
    unknown.assert_status(400);
    assert!(unknown.text().contains("echo"), "{}", unknown.text());
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_the_last_one_is_kept() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let (flaky_id, _) = enqueued(&client, &ann, json!({"kind": "flaky", "payload": {}, "max_attempts": 5})).await;
    let (fail_id, _) = enqueued(&client, &ann, json!({"kind": "fail", "payload": {}})).await;
    let done = settled(&client, &ann, flaky_id, "succeeded").await;
    assert_eq!(done["attempts"], 3);
    assert_eq!(done["result"], "third time");
    let failed = settled(&client, &ann, fail_id, "failed").await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert_eq!(failed["error"], "this task always fails");
    assert!(failed["result"].is_null());
    // It stays failed: no fourth attempt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs_of(fail_id), 3);
    assert_eq!(runs_of(flaky_id), 3);
}

#[tokio::test]
async fn a_panicking_handler_fails_its_task_and_the_workers_go_on() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "panics", "payload": {}, "max_attempts": 2})).await;
    let failed = settled(&client, &ann, id, "failed").await;
    assert_eq!(failed["error"], "the handler panicked");
    assert_eq!(failed["attempts"], 2);
    let (after, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": 1})).await;
    settled(&client, &ann, after, "succeeded").await;
}

#[tokio::test]
async fn a_delayed_task_waits_and_a_unique_key_holds_while_queued() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let body = json!({"kind": "echo", "payload": "later", "delay_ms": 1500, "unique": "report:2026-11"});
    let started = Instant::now();
    // Concurrent enqueues of one unique key: one task.
    let answers = futures_util::future::join_all((0..10).map(|_| enqueued(&client, &ann, body.clone()))).await;
    let ids: std::collections::HashSet<Uuid> = answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|(_, duplicate)| !duplicate).count(), 1);
    let id = answers[0].0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(task(&client, &ann, id).await["status"], "queued");
    settled(&client, &ann, id, "succeeded").await;
    assert!(started.elapsed() >= Duration::from_millis(1400), "ran after {:?}", started.elapsed());
    // Done, the key is free again.
    let (again, duplicate) =
        enqueued(&client, &ann, json!({"kind": "echo", "payload": 2, "unique": "report:2026-11"})).await;
    assert!(!duplicate && again != id);
}

#[tokio::test]
async fn a_task_enqueued_in_a_transaction_that_rolls_back_never_exists() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let answer =
        client.post("/enqueue-then-fail").bearer(&ann.token).json(&json!({"kind": "echo", "payload": 1})).send().await;
    answer.assert_status(200);
    let id: Uuid = answer.json::<Value>()["id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.get(&format!("/tasks/{id}")).bearer(&ann.token).send().await.assert_status(404);
    assert_eq!(runs_of(id), 0);
}

/// Runs `sql` on the test's database with `$1` = a sleep's payload (3 s
/// when `sql` gives a task back to the queue, else none) and `$2` = `id`.
async fn on_database(client: &TestClient, sql: &str, id: Uuid) {
    let db = match Database::connect(client.settings().database_url.as_str()).await {
        Ok(db) => db,
        Err(err) => panic!("the test's database: {err}"),
    };
    let ms = if sql.contains("status = 'queued'") { 3000 } else { 0 };
    let values = [json!({"ms": ms}).into(), id.into()];
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    match db.execute_raw(statement).await {
        Ok(done) => assert_eq!(done.rows_affected(), 1, "{sql}"),
        Err(err) => panic!("{sql}: {err}"),
    }
}

#[tokio::test]
async fn an_attempt_whose_lease_was_taken_over_does_not_overwrite_the_result() {
    let client = TestClient::start(app(Settings { task_lease_secs: 3, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "sleep", "payload": {"ms": 60_000}})).await;
    settled(&client, &ann, id, "running").await;
    // Another process's rescue gives the task back to the queue while
    // attempt 1 still runs here (as after a pause longer than the lease).
    let give_back = "UPDATE fastsaas_tasks SET status = 'queued', lease_until = NULL, payload = $1 WHERE id = $2";
    // $1 is the payload of attempt 2: a sleep of 3 s.
    on_database(&client, give_back, id).await;
    // Attempt 2 runs (3 s) while attempt 1 learns at its next heartbeat
    // that it lost the task, stops, and ends: its ending changes nothing.
    let taken_over = settled(&client, &ann, id, "running").await;
    assert_eq!(taken_over["attempts"], 2, "{taken_over}");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let meanwhile = task(&client, &ann, id).await;
    assert_eq!(
        (meanwhile["status"].clone(), meanwhile["attempts"].clone()),
        (json!("running"), json!(2)),
        "{meanwhile}"
    );
    assert!(meanwhile["result"].is_null(), "attempt 1's ending was recorded: {meanwhile}");
    let done = settled(&client, &ann, id, "succeeded").await;
    assert_eq!(done["result"], json!({"attempt": 2, "slept": 3000}), "{done}");
    assert_eq!(done["attempts"], 2);
    assert_eq!(runs_of(id), 2);
}

#[tokio::test]
async fn a_task_whose_every_attempt_crashes_its_worker_stops_at_max_attempts() {
    // No workers here: the crashed attempt is written as a dead worker leaves it.
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": 1, "max_attempts": 2})).await;
    let crashed = "UPDATE fastsaas_tasks SET status = 'running', attempt = max_attempts, payload = $1, \
                   lease_until = updated_at WHERE id = $2";
    on_database(&client, crashed, id).await;
    let rescuer = client.replica(app(Settings { task_lease_secs: 1, ..settings() })).await;
    let failed = settled(&rescuer, &ann, id, "failed").await;
    assert_eq!(failed["attempts"], 2);
    assert!(failed["error"].as_str().is_some_and(|error| error.contains("stopped answering")), "{failed}");
    assert_eq!(runs_of(id), 0);
}

#[tokio::test]
async fn a_retry_waits_for_its_backoff() {
    let client = TestClient::start(app(Settings { task_retry_base_ms: 1500, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "flaky", "payload": {}})).await;
    let first_failed = Instant::now();
    loop {
        let state = task(&client, &ann, id).await;
        if state["attempts"] == 1 && state["status"] == "queued" {
            break;
        }
        assert!(first_failed.elapsed() < Duration::from_secs(10), "{state}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The backoff after a first failure is 750 to 1,500 ms.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = task(&client, &ann, id).await;
    assert_eq!((waiting["attempts"].clone(), waiting["status"].clone()), (json!(1), json!("queued")), "{waiting}");
    assert_eq!(waiting["error"], "attempt 1 failed");
}

/// The database a killed worker process runs on.
const WORKER_DATABASE_URL: &str = "FASTSAAS_TASK_WORKER_DATABASE_URL";

/// A worker process: claims what is due, until it is killed.
#[tokio::test]
#[ignore = "the worker process of `a_task_whose_worker_was_killed_is_completed_by_another_process`"]
async fn worker_process() {
    let Ok(url) = std::env::var(WORKER_DATABASE_URL) else {
        return;
    };
    let settings = Settings { database_url: url, task_lease_secs: 1, db_max_connections: 2, ..settings() };
    let _app = match app(settings).into_router().await {
        Ok(router) => router,
        Err(err) => panic!("the worker process did not start: {err}"),
    };
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn a_task_whose_worker_was_killed_is_completed_by_another_process() {
    // This client runs no workers: the task is the other process's to take.
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "sleep", "payload": {"ms": 60_000}})).await;
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary: {err}"));
    let mut worker = Command::new(exe)
        .args(["--exact", "worker_process", "--ignored", "--nocapture"])
        .env(WORKER_DATABASE_URL, &client.settings().database_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("the worker process: {err}"));
    settled(&client, &ann, id, "running").await;
    // SIGKILL: no shutdown, no release; its lease (1 s) just runs out.
    let _ = worker.kill();
    let _ = worker.wait();
    on_database(&client, "UPDATE fastsaas_tasks SET payload = $1 WHERE id = $2", id).await;
    let rescuer = client.replica(app(Settings { task_lease_secs: 1, ..settings() })).await;
    let done = settled(&rescuer, &ann, id, "succeeded").await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(done["result"], json!({"attempt": 2, "slept": 0}));
}

#[tokio::test]
async fn many_tasks_are_each_run_exactly_once_by_many_workers() {
    let client = TestClient::start(app(settings())).await;
    // On PostgreSQL a second process's worth of workers claims beside the first.
    let replica = if client.is_postgres() { Some(client.replica(app(settings())).await) } else { None };
    let ann = client.sign_up("ann@example.com").await;
    let mut ids = Vec::new();
    // All due at one moment, so that every worker of both pools races for them.
    for n in 0..200 {
        ids.push(enqueued(&client, &ann, json!({"kind": "echo", "payload": n, "delay_ms": 1500})).await.0);
    }
    for (n, id) in ids.iter().enumerate() {
        let done = settled(&client, &ann, *id, "succeeded").await;
        assert_eq!(done["result"], json!(n));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        assert_eq!(runs_of(*id), 1, "task {id}");
    }
    drop(replica);
}

/// The address a serving process binds.
const SERVE_BIND: &str = "FASTSAAS_TASK_SERVE_BIND";
/// Set: the serving process runs workers only.
const WORKER_ONLY: &str = "FASTSAAS_TASK_SERVE_WORKER_ONLY";

/// A process that serves the app (`App::serve`) until it is told to stop.
#[tokio::test]
#[ignore = "the serving process of `a_shutdown_tells_running_tasks_to_stop_and_records_how_they_ended`"]
async fn serving_process() {
    let (Ok(url), Ok(bind)) = (std::env::var(WORKER_DATABASE_URL), std::env::var(SERVE_BIND)) else {
        return;
    };
    let worker_only = std::env::var(WORKER_ONLY).is_ok();
    let settings = Settings { database_url: url, bind, db_max_connections: 2, worker_only, ..settings() };
    if let Err(err) = app(settings).serve().await {
        panic!("the serving process: {err}");
    }
}

#[tokio::test]
async fn a_shutdown_tells_running_tasks_to_stop_and_records_how_they_ended() {
    for worker_only in [false, true] {
        shut_down_mid_task(worker_only).await;
    }
}

/// Starts a serving process on `client`'s database and a free port (a
/// worker-only one if `worker_only`): the process and its address.
fn spawn_serving(client: &TestClient, worker_only: bool) -> (std::process::Child, String) {
    let bind = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()) {
        Ok(address) => address.to_string(),
        Err(err) => panic!("a free port: {err}"),
    };
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary: {err}"));
    let mut command = Command::new(exe);
    command
        .args(["--exact", "serving_process", "--ignored", "--nocapture"])
        .env(WORKER_DATABASE_URL, &client.settings().database_url)
        .env(SERVE_BIND, &bind)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if worker_only {
        command.env(WORKER_ONLY, "1");
    }
    (command.spawn().unwrap_or_else(|err| panic!("the serving process: {err}")), bind)
}

/// Starts a serving process (a worker-only one if `worker_only`), lets it
/// take a long task, sends it SIGTERM, and checks how the task ended.
async fn shut_down_mid_task(worker_only: bool) {
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "sleep", "payload": {"ms": 60_000}})).await;
    let (mut server, bind) = spawn_serving(&client, worker_only);
    settled(&client, &ann, id, "running").await;
    // A worker-only process serves no HTTP; the other comes up on its port.
    let listening = || std::net::TcpStream::connect(&bind).is_ok();
    if worker_only {
        assert!(!listening(), "a worker-only process serves HTTP");
    } else {
        let started = Instant::now();
        while !listening() {
            assert!(started.elapsed() < Duration::from_secs(10), "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let terminated = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    assert!(terminated.as_ref().is_ok_and(|status| status.success()), "SIGTERM: {terminated:?}");
    let started = Instant::now();
    loop {
        match server.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {
                assert!(started.elapsed() < Duration::from_secs(20), "the process did not stop");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("{err}"),
        }
    }
    // The attempt was told to stop, stopped, and its ending was recorded.
    let done = task(&client, &ann, id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"], json!({"attempt": 1, "cancelled": true}));
}

#[tokio::test]
async fn a_shutdown_closes_websockets_with_1001_and_does_not_wait_for_them() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (mut server, bind) = spawn_serving(&client, false);
    let started = Instant::now();
    let stream = loop {
        match tokio::net::TcpStream::connect(&bind).await {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => panic!("the server did not come up: {err}"),
        }
    };
    let url = format!("ws://{bind}/ws?token={}", ann.token);
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap_or_else(|err| panic!("/ws: {err}"));
    let terminated = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    assert!(terminated.as_ref().is_ok_and(|status| status.success()), "SIGTERM: {terminated:?}");
    let told = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a close: {other:?}"),
            }
        }
    });
    assert_eq!(told.await.unwrap_or_else(|_| panic!("no close within 5 s")), Some(1001));
    drop(socket);
    let stopping = Instant::now();
    loop {
        match server.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {
                // The drain would wait 30 s for a socket left open.
                assert!(stopping.elapsed() < Duration::from_secs(10), "the process did not stop");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("{err}"),
        }
    }
}

#[tokio::test]
async fn a_dropped_app_stops_its_workers_even_while_a_task_holds_its_state() {
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let replica = client.replica(app(settings())).await;
    let (long, _) = enqueued(&client, &ann, json!({"kind": "sleep", "payload": {"ms": 60_000}})).await;
    settled(&client, &ann, long, "running").await;
    drop(replica);
    // Its running attempt is told to stop and ends; nothing more is claimed.
    let stopped = settled(&client, &ann, long, "succeeded").await;
    assert_eq!(stopped["result"], json!({"attempt": 1, "cancelled": true}));
    let (later, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": 1})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(task(&client, &ann, later).await["status"], "queued");
    assert_eq!(runs_of(later), 0);
}

#[tokio::test]
async fn on_postgresql_a_task_enqueued_by_one_process_wakes_the_workers_of_another() {
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings() })).await;
    if !client.is_postgres() {
        return;
    }
    wakes_the_other_process(client, settings()).await;
}

#[tokio::test]
async fn with_redis_a_task_enqueued_by_one_process_wakes_the_workers_of_another() {
    let Some(redis_url) = fastsaas::testing::test_redis_url() else { return };
    let settings = Settings { redis_url: Some(redis_url), ..settings() };
    let client = TestClient::start(app(Settings { task_workers: 0, ..settings.clone() })).await;
    wakes_the_other_process(client, settings).await;
}

/// A task enqueued through `client` (which runs no workers) is run at once
/// by a replica started with `settings` that would otherwise look for tasks
/// once a minute.
async fn wakes_the_other_process(client: TestClient, settings: Settings) {
    let ann = client.sign_up("ann@example.com").await;
    let replica = client.replica(app(Settings { task_poll_ms: 60_000, ..settings })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": "woken"})).await;
    let started = Instant::now();
    let done = settled(&client, &ann, id, "succeeded").await;
    assert!(started.elapsed() < Duration::from_secs(5), "woken after {:?}", started.elapsed());
    assert_eq!(done["result"], "woken");
    drop(replica);
}

#[tokio::test]
async fn an_unknown_kind_of_any_size_is_refused_without_an_echo() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let body = json!({"kind": "x".repeat(512 * 1024), "payload": {}});
    let refused = client.post("/enqueue").bearer(&ann.token).json(&body).send().await;
    refused.assert_status(400);
    assert!(refused.text().len() < 4096, "the answer echoes the kind");
}

/// The times at which the tasks of `kind` were enqueued, in order.
async fn enqueued_at(client: &TestClient, kind: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    let db = match Database::connect(client.settings().database_url.as_str()).await {
        Ok(db) => db,
        Err(err) => panic!("the test's database: {err}"),
    };
    let sql = "SELECT created_at FROM fastsaas_tasks WHERE kind = $1 ORDER BY created_at";
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [kind.into()]);
    let rows = db.query_all_raw(statement).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    rows.iter().map(|row| row.try_get_by_index(0).unwrap_or_else(|err| panic!("created_at: {err}"))).collect()
}

#[tokio::test]
async fn a_periodic_task_runs_once_per_slot_however_many_processes_schedule_it() {
    let every_second = || app(settings()).periodic("tick", "* * * * * *", NewTask::new("echo", json!("tick")));
    let client = TestClient::start(every_second()).await;
    // Three processes' worth of schedulers race for every slot (on SQLite,
    // three pools on one file).
    let replicas = [client.replica(every_second()).await, client.replica(every_second()).await];
    tokio::time::sleep(Duration::from_millis(4500)).await;
    drop(replicas);
    let times = enqueued_at(&client, "echo").await;
    assert!((4..=6).contains(&times.len()), "{} runs in 4.5 s: {times:?}", times.len());
    for pair in times.windows(2) {
        let apart = pair[1] - pair[0];
        assert!(apart > chrono::Duration::milliseconds(800), "a slot enqueued twice: {times:?}");
    }
    let ann = client.sign_up("ann@example.com").await;
    let (id, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": "after"})).await;
    settled(&client, &ann, id, "succeeded").await;
}

#[tokio::test]
async fn a_schedule_that_cannot_run_stops_start_up_naming_it() {
    let tick = || NewTask::new("echo", json!({}));
    let cases = [
        (app(settings()).periodic("tick", "* * *", tick()), "periodic task `tick`: `* * *`: 3 fields"),
        (app(settings()).periodic("tick", "61 * * * *", tick()), "periodic task `tick`: `61 * * * *`"),
        (
            app(settings()).periodic("tick", "* * * * *", NewTask::new("nobody", json!({}))),
            "no handler for its kind `nobody`",
        ),
        (
            app(settings()).periodic("tick", "* * * * *", tick()).periodic("tick", "0 * * * *", tick()),
            "scheduled twice",
        ),
        (app(settings()).periodic("fastsaas.mine", "* * * * *", tick()), "are the framework's"),
        (app(settings()).task("fastsaas.mine", echo), "task kind `fastsaas.mine`"),
        (app(settings()).task("echo", echo), "task kind `echo` has two handlers"),
    ];
    for (app, expected) in cases {
        let error = TestClient::try_start(app).await.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    }
}

/// Runs `sql` on the test's database with `values`.
async fn execute(client: &TestClient, sql: &str, values: Vec<fastsaas::sea_orm::Value>) -> u64 {
    let db = Database::connect(client.settings().database_url.as_str()).await.unwrap_or_else(|err| panic!("{err}"));
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    db.execute_raw(statement).await.unwrap_or_else(|err| panic!("{sql}: {err}")).rows_affected()
}

/// Runs the framework's chore `kind` now (its schedule runs it every
/// minute or hour) and answers its result.
async fn run_chore(client: &TestClient, kind: &str) -> Value {
    let id = Uuid::new_v4();
    let due = chrono::Utc::now() - chrono::Duration::hours(1);
    let insert = "INSERT INTO fastsaas_tasks (id, kind, payload, status, priority, attempt, max_attempts, run_at, \
                  created_at, updated_at) VALUES ($1, $2, $3, 'queued', 0, 0, 1, $4, $4, $4)";
    execute(client, insert, vec![id.into(), kind.into(), json!({}).into(), due.into()]).await;
    let db = Database::connect(client.settings().database_url.as_str()).await.unwrap_or_else(|err| panic!("{err}"));
    let started = Instant::now();
    loop {
        let read = Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT status, result FROM fastsaas_tasks WHERE id = $1",
            [id.into()],
        );
        let row = db.query_one_raw(read).await.unwrap_or_else(|err| panic!("{err}"));
        let row = row.unwrap_or_else(|| panic!("the chore's task is gone"));
        let status: String = row.try_get_by_index(0).unwrap_or_default();
        if status == "succeeded" {
            return row.try_get_by_index::<Value>(1).unwrap_or_default();
        }
        assert!(status != "failed" && started.elapsed() < Duration::from_secs(20), "the chore: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_framework_s_chores_cannot_be_enqueued_by_apps() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let body = json!({"kind": "fastsaas.tasks.prune", "payload": {}});
    let refused = client.post("/enqueue").bearer(&ann.token).json(&body).send().await;
    refused.assert_status(400);
    assert!(!refused.text().contains("fastsaas."), "{}", refused.text());
}

#[tokio::test]
async fn the_pruning_chore_deletes_notifications_past_their_age_and_nothing_else() {
    let client = TestClient::start(app(Settings { notifications_max_age_secs: 60, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    for message in ["old", "new"] {
        let body = json!({"user_id": ann.id, "kind": "note", "message": message});
        client.post("/notify").bearer(&ann.token).json(&body).send().await.assert_status(202);
    }
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let age = "UPDATE fastsaas_notifications SET created_at = $1 WHERE message = 'old'";
    assert_eq!(execute(&client, age, vec![hour_ago.into()]).await, 1);
    assert_eq!(run_chore(&client, "fastsaas.notifications.prune").await, json!({"deleted": 1}));
    let left: Value = client.get("/notifications?kind=note").bearer(&ann.token).send().await.json();
    let messages: Vec<&Value> = left["items"].as_array().into_iter().flatten().map(|n| &n["message"]).collect();
    assert_eq!(messages, [&json!("new")], "{left}");
}

#[tokio::test]
async fn the_sessions_chore_deletes_expired_refresh_tokens_and_open_sessions_go_on() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let login = json!({"email": "ann@example.com", "password": fastsaas::testing::TEST_PASSWORD});
    let second: Value = client.post("/login").json(&login).send().await.json();
    // The first session's token expired a day ago; the second is fresh.
    let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let fresh = second["refresh_token"].as_str().unwrap_or_default().to_owned();
    let expire = "UPDATE fastsaas_refresh_tokens SET expires_at = $1 \
                  WHERE created_at = (SELECT min(created_at) FROM fastsaas_refresh_tokens)";
    assert_eq!(execute(&client, expire, vec![day_ago.into()]).await, 1);
    assert_eq!(run_chore(&client, "fastsaas.sessions.prune").await, json!({"deleted": 1}));
    let refreshed = client.post("/refresh").json(&json!({"refresh_token": fresh})).send().await;
    refreshed.assert_status(200);
    let token = refreshed.json::<Value>()["access_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(client.get("/me").bearer(&token).send().await.json::<Value>()["id"], json!(ann.id));
}

#[tokio::test]
async fn the_tasks_chore_deletes_tasks_finished_long_ago() {
    let client = TestClient::start(app(Settings { tasks_kept_secs: 3600, ..settings() })).await;
    let ann = client.sign_up("ann@example.com").await;
    let (old, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": "old"})).await;
    let (new, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": "new"})).await;
    let (waiting, _) = enqueued(&client, &ann, json!({"kind": "echo", "payload": 1, "delay_ms": 600_000})).await;
    settled(&client, &ann, old, "succeeded").await;
    settled(&client, &ann, new, "succeeded").await;
    let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let age = "UPDATE fastsaas_tasks SET finished_at = $1 WHERE id = $2";
    assert_eq!(execute(&client, age, vec![long_ago.into(), old.into()]).await, 1);
    assert_eq!(run_chore(&client, "fastsaas.tasks.prune").await, json!({"deleted": 1}));
    client.get(&format!("/tasks/{old}")).bearer(&ann.token).send().await.assert_status(404);
    task(&client, &ann, new).await;
    assert_eq!(task(&client, &ann, waiting).await["status"], "queued");
}

#[tokio::test]
async fn a_result_that_cannot_be_stored_fails_its_attempt_and_no_other() {
    let client = TestClient::start(app(settings())).await;
    let ann = client.sign_up("ann@example.com").await;
    let mut fine = Vec::new();
    let mut bad = Vec::new();
    for n in 0..40 {
        fine.push(enqueued(&client, &ann, json!({"kind": "echo", "payload": n})).await.0);
        if n % 20 == 0 {
            let payload = if n == 0 { "nul" } else { "large" };
            bad.push(
                enqueued(&client, &ann, json!({"kind": "unstorable", "payload": payload, "max_attempts": 1})).await.0,
            );
        }
    }
    for id in &bad {
        let failed = settled(&client, &ann, *id, "failed").await;
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(error.contains("NUL") || error.contains("at most"), "{failed}");
    }
    for id in &fine {
        assert_eq!(settled(&client, &ann, *id, "succeeded").await["attempts"], 1);
    }
}
