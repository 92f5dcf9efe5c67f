//! `GET /metrics`: OpenMetrics text that parses, with requests labelled by
//! route template (never a raw path), the task queue, notifications and
//! the pool; each app's own registry; the role it needs on the API's
//! address, and the open second address of `FASTSAAS_METRICS_BIND`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::prometheus_client::metrics::counter::Counter;
use fastsaas::serde_json::json;
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Ctx, NewTask, Route, Settings, Task, TaskResult};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/gadgets")]
struct Gadget {
    name: String,
}

async fn never_run(_task: Task<AppState>) -> TaskResult {
    Ok(json!({}))
}

/// Enqueues a `report` task (no worker runs it in these tests).
async fn enqueue_report(ctx: Ctx) -> ApiResult<&'static str> {
    ctx.tasks().enqueue(NewTask::new("report", json!({}))).await?;
    Ok("queued")
}

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(fastsaas::Secret("the root password".into())),
        task_workers: 0,
        ..Settings::default()
    }
}

fn app(settings: Settings) -> App {
    App::new(settings).resource::<Gadget>().task("report", never_run).route(Route::post("/test/report", enqueue_report))
}

/// One sample: its metric name, labels and value.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the OpenMetrics text format strictly enough that a malformed
/// line fails the test: `# HELP`/`# TYPE`/`# UNIT` lines, samples as
/// `name{label="value",...} number`, and `# EOF` last.
fn parse(text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text must end with # EOF:\n{text}");
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT") && is_name(name), "a bad comment line: {line}");
            if kind == "TYPE" {
                types.insert(name.to_owned(), words.next().unwrap_or_default().to_owned());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample without a value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a value that is not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                (name, labels_of(rest.strip_suffix('}').unwrap_or_else(|| panic!("labels end with }}: {line}")), line))
            }
            None => (series, BTreeMap::new()),
        };
        assert!(is_name(name), "a bad metric name: {line}");
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|family| types.contains_key(*family)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "a sample before its # TYPE line: {line}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// `a="x",b="y"`, with `\"`, `\\` and `\n` escapes in values.
fn labels_of(text: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("a bad label: {line}"));
        assert!(is_name(name), "a bad label name: {line}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped @ ('"' | '\\'))) => value.push(escaped),
                    _ => panic!("a bad escape: {line}"),
                },
                Some((index, '"')) => break index,
                Some((_, c)) => value.push(c),
                None => panic!("an unterminated label value: {line}"),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    labels
}

/// The value of the one sample named `name` with these labels (others may
/// be present).
fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching = |sample: &&Sample| {
        sample.name == name
            && labels.iter().all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
    };
    samples.iter().find(matching).map(|sample| sample.value)
}

async fn scrape(client: &TestClient, user: &TestUser) -> Vec<Sample> {
    let response = client.get("/metrics").bearer(&user.token).send().await;
    response.assert_status(200);
    assert_eq!(response.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    parse(&response.text())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_with_the_queue_and_the_notifications() {
    let client = TestClient::start(app(settings())).await;
    let root = client.sign_in("root@example.com", "the root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let created = client.post("/gadgets").bearer(&ann.token).json(&json!({"name": name})).send().await;
        created.assert_status(201);
        ids.push(created.json::<fastsaas::serde_json::Value>()["id"].as_str().unwrap_or_default().to_owned());
    }
    for id in &ids {
        client.get(&format!("/gadgets/{id}")).bearer(&ann.token).send().await.assert_status(200);
    }
    // The trailing-slash twin of a route counts under the same template.
    client.get(&format!("/gadgets/{}/", ids[0])).bearer(&ann.token).send().await.assert_status(200);
    client.get("/no/such/path/123").send().await.assert_status(404);
    // Methods a client invents are counted together, never one series each.
    for invented in ["BREW", "WHEN", "X-ANY"] {
        let method = fastsaas::axum::http::Method::from_bytes(invented.as_bytes()).expect("a method token");
        client.request(method, "/gadgets").bearer(&ann.token).send().await;
    }
    client.post("/test/report").bearer(&ann.token).send().await.assert_status(200);
    client.post("/test/report").bearer(&ann.token).send().await.assert_status(200);
    let told = json!({"user_id": ann.id, "message": "hello"});
    client.post("/notify").bearer(&ann.token).json(&told).send().await.assert_status(202);

    let samples = scrape(&client, &root).await;
    let requests = "fastsaas_http_requests_total";
    let reads = [("method", "GET"), ("route", "/gadgets/{id}"), ("status", "200")];
    assert_eq!(value_of(&samples, requests, &reads), Some(3.0));
    let creates = [("method", "POST"), ("route", "/gadgets"), ("status", "201")];
    assert_eq!(value_of(&samples, requests, &creates), Some(2.0));
    assert_eq!(value_of(&samples, requests, &[("route", "(no route)"), ("status", "404")]), Some(1.0));
    let invented: f64 = samples
        .iter()
        .filter(|sample| sample.name == requests && sample.labels.get("method").is_some_and(|method| method == "OTHER"))
        .map(|sample| sample.value)
        .sum();
    assert_eq!(invented, 3.0);
    assert!(samples.iter().all(|sample| sample.labels.get("method").is_none_or(|method| !method.contains("BREW"))));
    let latency = [("method", "GET"), ("route", "/gadgets/{id}")];
    assert_eq!(value_of(&samples, "fastsaas_http_request_duration_seconds_count", &latency), Some(3.0));
    let slowest = [("method", "GET"), ("route", "/gadgets/{id}"), ("le", "+Inf")];
    assert_eq!(value_of(&samples, "fastsaas_http_request_duration_seconds_bucket", &slowest), Some(3.0));
    // No label holds a raw path: no id, and every route is a template.
    for sample in &samples {
        for value in sample.labels.values() {
            assert!(ids.iter().all(|id| !value.contains(id.as_str())), "a raw path in {sample:?}");
        }
        if let Some(route) = sample.labels.get("route") {
            assert!(route == "(no route)" || !route.ends_with('/') || route == "/", "{sample:?}");
        }
    }
    let queued = [("kind", "report"), ("status", "queued")];
    assert_eq!(value_of(&samples, "fastsaas_tasks", &queued), Some(2.0));
    let waited = value_of(&samples, "fastsaas_tasks_oldest_queued_age_seconds", &[("kind", "report")]);
    assert!(waited.is_some_and(|seconds| (0.0..60.0).contains(&seconds)), "{waited:?}");
    assert_eq!(value_of(&samples, "fastsaas_notifications_sent_total", &[]), Some(1.0));
    assert_eq!(value_of(&samples, "fastsaas_websocket_connections", &[]), Some(0.0));
    let in_use = value_of(&samples, "fastsaas_db_connections", &[("state", "in_use")]);
    let idle = value_of(&samples, "fastsaas_db_connections", &[("state", "idle")]);
    assert!(in_use.is_some() && idle.is_some_and(|idle| idle >= 0.0), "{in_use:?} {idle:?}");
}

#[tokio::test]
async fn each_app_counts_its_own_requests_and_may_add_metrics_of_its_own() {
    let orders = Counter::<u64>::default();
    let registered = orders.clone();
    let own = app(settings())
        .metrics(move |registry| registry.register("orders_placed", "Orders placed", registered.clone()));
    let first = TestClient::start(own).await;
    let second = TestClient::start(app(settings())).await;
    let ann = first.sign_up("ann@example.com").await;
    first.get("/gadgets").bearer(&ann.token).send().await.assert_status(200);
    orders.inc_by(3);

    let root = first.sign_in("root@example.com", "the root password").await;
    let samples = scrape(&first, &root).await;
    assert_eq!(value_of(&samples, "orders_placed_total", &[]), Some(3.0));
    let lists = [("method", "GET"), ("route", "/gadgets"), ("status", "200")];
    assert_eq!(value_of(&samples, "fastsaas_http_requests_total", &lists), Some(1.0));

    let root = second.sign_in("root@example.com", "the root password").await;
    let samples = scrape(&second, &root).await;
    assert_eq!(value_of(&samples, "fastsaas_http_requests_total", &lists), None, "the other app's request");
    assert_eq!(value_of(&samples, "orders_placed_total", &[]), None, "the other app's metric");
}

#[tokio::test]
async fn on_the_api_address_metrics_need_the_metrics_role_or_a_superadmin() {
    let client = TestClient::start(app(settings())).await;
    let root = client.sign_in("root@example.com", "the root password").await;
    let scraper = client.sign_up("scraper@example.com").await;
    let ann = client.sign_up("ann@example.com").await;

    let anonymous = client.get("/metrics").send().await;
    anonymous.assert_status(401);
    assert_eq!(anonymous.header("content-type"), Some("application/problem+json"));
    client.get("/metrics").bearer(&ann.token).send().await.assert_status(403);
    client.get("/metrics").bearer(&scraper.token).send().await.assert_status(403);
    client.get("/metrics").bearer("not-a-token").send().await.assert_status(401);

    let role = client.post("/roles").bearer(&root.token).json(&json!({"name": "metrics"})).send().await;
    role.assert_status(201);
    let role_id = role.json::<fastsaas::serde_json::Value>()["id"].as_str().unwrap_or_default().to_owned();
    let member = json!({"user_id": scraper.id});
    client.post(&format!("/roles/{role_id}/members")).bearer(&root.token).json(&member).send().await.assert_status(204);
    scrape(&client, &scraper).await;
    client.get("/metrics").bearer(&ann.token).send().await.assert_status(403);

    // A scraper's token, compared in full.
    let token = "a scraper's token of 32 bytes or more".to_owned();
    let scraped =
        TestClient::start(app(Settings { metrics_token: Some(fastsaas::Secret(token.clone())), ..settings() })).await;
    scraped.get("/metrics").bearer(&token).send().await.assert_status(200);
    scraped.get("/metrics").bearer(&token[..token.len() - 1]).send().await.assert_status(401);
    scraped.get("/metrics").bearer(&format!("{token}x")).send().await.assert_status(401);
    let short = app(Settings { metrics_token: Some(fastsaas::Secret("short".into())), ..settings() });
    let refused = TestClient::try_start(short).await.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(refused.contains("FASTSAAS_METRICS_TOKEN is shorter than 32 bytes"), "{refused}");

    // The role is a setting.
    let other = TestClient::start(app(Settings { metrics_role: "ops".into(), ..settings() })).await;
    let root = other.sign_in("root@example.com", "the root password").await;
    let role = other.post("/roles").bearer(&root.token).json(&json!({"name": "metrics"})).send().await;
    let role_id = role.json::<fastsaas::serde_json::Value>()["id"].as_str().unwrap_or_default().to_owned();
    let scraper = other.sign_up("scraper@example.com").await;
    let member = json!({"user_id": scraper.id});
    other.post(&format!("/roles/{role_id}/members")).bearer(&root.token).json(&member).send().await.assert_status(204);
    other.get("/metrics").bearer(&scraper.token).send().await.assert_status(403);
}

/// A free loopback address.
fn free_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|err| panic!("a free port: {err}"))
}

/// `GET path` on `address` over a connection of its own: status and body.
async fn get(address: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()))
}

async fn until_served(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let started = Instant::now();
    loop {
        if let Some(answer) = get(address, path).await {
            return answer;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "nothing answered on {address}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_metrics_address_serves_them_openly_and_only_them_also_in_a_worker_only_process() {
    // The test client makes the database; the served apps use it.
    let client = TestClient::start(app(settings())).await;
    let (api, metrics) = (free_address(), free_address());
    let served = Settings {
        database_url: client.settings().database_url.clone(),
        bind: api.to_string(),
        metrics_bind: Some(metrics.to_string()),
        ..settings()
    };
    tokio::spawn(app(served.clone()).serve());
    let (status, _) = until_served(api, "/healthz").await;
    assert_eq!(status, 200);
    let (status, text) = until_served(metrics, "/metrics").await;
    assert_eq!(status, 200);
    let samples = parse(&text);
    let health = [("route", "/healthz"), ("status", "200")];
    assert!(value_of(&samples, "fastsaas_http_requests_total", &health).is_some_and(|count| count >= 1.0));
    // Only /metrics there; still guarded on the API's address.
    assert_eq!(get(metrics, "/gadgets").await.map(|(status, _)| status), Some(404));
    assert_eq!(get(api, "/metrics").await.map(|(status, _)| status), Some(401));

    let worker_metrics = free_address();
    let worker = Settings {
        worker_only: true,
        task_workers: 1,
        metrics_bind: Some(worker_metrics.to_string()),
        bind: free_address().to_string(),
        ..served
    };
    tokio::spawn(app(worker).serve());
    let (status, text) = until_served(worker_metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert!(value_of(&parse(&text), "fastsaas_websocket_connections", &[]).is_some());
}

#[tokio::test]
async fn the_document_describes_metrics_and_docs() {
    let client = TestClient::start(app(settings())).await;
    let doc: fastsaas::serde_json::Value = client.get("/openapi.json").send().await.json();
    let metrics = &doc["paths"]["/metrics"]["get"];
    assert!(metrics["responses"]["200"]["content"]["application/openmetrics-text"].is_object(), "{metrics}");
    assert!(metrics["responses"]["401"].is_object() && metrics["responses"]["403"].is_object(), "{metrics}");
    assert!(doc["paths"]["/docs"]["get"]["responses"]["200"]["content"]["text/html"].is_object());
}
