//! Three replicas of examples/agents on one PostgreSQL database, each a real
//! process on a loopback port of its own (this test binary started again,
//! running only `agents_replica`): a notification caused through one
//! replica reaches a socket on another, and 1,000 commands sent through all
//! three are each run exactly once, with every ending told to the socket.
//! Once on `LISTEN`/`NOTIFY`, once on the Redis bus. Workers poll and
//! sockets ping too seldom to matter here: every wake-up comes through the
//! bus.

#[path = "../examples/agents/main.rs"]
#[allow(dead_code, unreachable_pub)]
mod agents;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, test_redis_url};
use fastsaas::{App, Secret, Settings};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// What a replica process serves on, and with.
const DATABASE: &str = "FASTSAAS_FAN_OUT_DATABASE_URL";
const BIND: &str = "FASTSAAS_FAN_OUT_BIND";
const REDIS: &str = "FASTSAAS_FAN_OUT_REDIS_URL";

const COMMANDS: usize = 1000;

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        // Every replica accepts the others' tokens.
        jwt_secret: Some(Secret("the fan-out tests' own secret, 32+ bytes".into())),
        notifications_kept: 10 * COMMANDS as u64,
        auth_attempts_per_minute: 1000,
        db_max_connections: 4,
        // Neither a poll nor a ping catches anything up within the test:
        // what arrives came through the bus.
        task_poll_ms: 600_000,
        ws_ping_secs: 3600,
        ..Settings::default()
    }
}

/// One replica: serves examples/agents until it is killed.
#[tokio::test]
#[ignore = "a replica process of the fan-out tests"]
async fn agents_replica() {
    let (Ok(database_url), Ok(bind)) = (std::env::var(DATABASE), std::env::var(BIND)) else {
        return;
    };
    let redis_url = std::env::var(REDIS).ok();
    if let Err(err) = agents::app(Settings { database_url, bind, redis_url, ..settings() }).serve().await {
        panic!("a replica: {err}");
    }
}

/// The replica processes, killed when dropped.
struct Replicas(Vec<(Child, SocketAddr)>);

impl Drop for Replicas {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn start_replicas(database_url: &str, redis_url: Option<&str>) -> Replicas {
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary: {err}"));
    let mut replicas = Replicas(Vec::new());
    for _ in 0..3 {
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap_or_else(|err| panic!("a free port: {err}"));
        let mut command = Command::new(&exe);
        command
            .args(["--exact", "agents_replica", "--ignored", "--nocapture"])
            .env(DATABASE, database_url)
            .env(BIND, address.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = redis_url {
            command.env(REDIS, url);
        }
        let child = command.spawn().unwrap_or_else(|err| panic!("a replica: {err}"));
        replicas.0.push((child, address));
    }
    for (_, address) in &replicas.0 {
        let started = Instant::now();
        while request(*address, "GET", "/healthz", None, None).await.map(|(status, _)| status) != Some(200) {
            assert!(started.elapsed() < Duration::from_secs(30), "the replica on {address} did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    replicas
}

/// One HTTP/1.1 request on a connection of its own: the status and the
/// JSON body, or `None` if nothing answered.
async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|token| format!("authorization: Bearer {token}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n{auth}\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(format!("{head}{body}").as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let json = answer.split_once("\r\n\r\n").and_then(|(_, body)| fastsaas::serde_json::from_str(body).ok());
    Some((status, json.unwrap_or(Value::Null)))
}

async fn expect(address: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Value {
    match request(address, method, path, token, body).await {
        Some((200..=299, json)) => json,
        other => panic!("{method} {path} on {address}: {other:?}"),
    }
}

/// One number from the test's database.
async fn count(database_url: &str, sql: &str) -> i64 {
    let db = Database::connect(database_url).await.unwrap_or_else(|err| panic!("the test's database: {err}"));
    let statement = Statement::from_string(db.get_database_backend(), sql);
    let row = db.query_one_raw(statement).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    row.and_then(|row| row.try_get_by_index::<i64>(0).ok()).unwrap_or_else(|| panic!("{sql}: no number"))
}

/// The scenario, on replicas that wake each other through `redis_url` if
/// given, else through PostgreSQL.
async fn fan_out(redis_url: Option<&str>) {
    // The client only makes the database (a schema of its own) and its tables.
    let client = TestClient::start(App::new(Settings { task_workers: 0, ..settings() })).await;
    if !client.is_postgres() {
        // SQLite is one process's file.
        return;
    }
    let database_url = client.settings().database_url.clone();
    let replicas = start_replicas(&database_url, redis_url).await;
    let [a, b, c] = [replicas.0[0].1, replicas.0[1].1, replicas.0[2].1];

    let credentials = json!({"email": "ann@example.com", "password": "ann's password"});
    expect(b, "POST", "/users", None, Some(&credentials)).await;
    let login = expect(c, "POST", "/login", None, Some(&credentials)).await;
    let token = login["access_token"].as_str().unwrap_or_else(|| panic!("no token: {login}")).to_owned();
    let agent = expect(a, "POST", "/agents", Some(&token), Some(&json!({"name": "crawler", "config": {}}))).await;
    let agent = agent["id"].as_str().unwrap_or_else(|| panic!("no agent id: {agent}")).to_owned();
    let me = expect(a, "GET", "/me", Some(&token), None).await;

    // A socket on A hears what is caused through C.
    let stream = TcpStream::connect(a).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let url = format!("ws://{a}/ws?token={token}");
    let (mut socket, _) =
        tokio_tungstenite::client_async(url, stream).await.unwrap_or_else(|err| panic!("/ws on A: {err}"));
    let sent =
        expect(c, "POST", "/notify", Some(&token), Some(&json!({"user_id": me["id"], "message": "via C"}))).await;
    let mut next_frame = async || loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return fastsaas::serde_json::from_str::<Value>(text.as_str()).unwrap_or_default();
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("the socket on A: {other:?}"),
        }
    };
    assert_eq!(next_frame().await["id"], sent["id"]);

    // 1,000 commands through all three, four at a time on each.
    let path = format!("/agents/{agent}/command");
    let mut sending = tokio::task::JoinSet::new();
    for lane in 0..12 {
        let (path, token) = (path.clone(), token.clone());
        let address = [a, b, c][lane % 3];
        sending.spawn(async move {
            let mut ids = Vec::new();
            for n in (lane..COMMANDS).step_by(12) {
                let body = json!({"task": "echo", "args": {"n": n}});
                let queued = expect(address, "POST", &path, Some(&token), Some(&body)).await;
                ids.push(queued["task_id"].as_str().unwrap_or_default().to_owned());
            }
            ids
        });
    }
    let mut enqueued = HashSet::new();
    while let Some(ids) = sending.join_next().await {
        enqueued.extend(ids.unwrap_or_else(|err| panic!("a sender: {err}")));
    }
    assert_eq!(enqueued.len(), COMMANDS);

    // Every ending is told to the socket on A, once, whichever replica ran it.
    let mut told = HashSet::new();
    let started = Instant::now();
    while told.len() < COMMANDS {
        let frame = next_frame().await;
        assert_eq!(frame["kind"], "task.succeeded", "{frame}");
        let task = frame["payload"]["task_id"].as_str().unwrap_or_default().to_owned();
        assert!(enqueued.contains(&task), "an ending of a task never enqueued: {frame}");
        assert!(told.insert(task), "an ending told twice: {frame}");
        assert!(started.elapsed() < Duration::from_secs(120), "{} of {COMMANDS} endings told", told.len());
    }
    // Each ran once: one attempt, one success, one notification.
    let once = "SELECT count(*) FROM fastsaas_tasks WHERE kind = 'echo' AND status = 'succeeded' AND attempt = 1";
    assert_eq!(count(&database_url, once).await, COMMANDS as i64);
    let notified = "SELECT count(*) FROM fastsaas_notifications WHERE kind = 'task.succeeded'";
    assert_eq!(count(&database_url, notified).await, COMMANDS as i64);
    let status = expect(b, "GET", &format!("/agents/{agent}/status"), Some(&token), None).await;
    assert_eq!(status["status"], "idle", "{status}");
    drop(replicas);
}

#[tokio::test]
async fn three_replicas_on_postgresql_fan_out_notifications_and_share_the_tasks() {
    fan_out(None).await;
}

#[tokio::test]
async fn three_replicas_with_redis_fan_out_notifications_and_share_the_tasks() {
    let Some(redis_url) = test_redis_url() else { return };
    fan_out(Some(&redis_url)).await;
}
