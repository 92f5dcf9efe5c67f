//! `examples/agents` serves API.md's agent routes: the scraper templates of
//! its docs, the `status` endpoint, API keys, and commands run as tasks.

#[path = "../examples/agents/main.rs"]
#[allow(dead_code, unreachable_pub)]
mod agents;

use std::time::{Duration, Instant};

use agents::Agent;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{App, Settings};

#[tokio::test]
async fn the_scraper_templates_of_the_example_docs() {
    let mut client = TestClient::start(App::new(Default::default()).resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    client.act_as(&ann);
    let base = json!({"name": "base scraper", "params": {"config": {"url": "https://example.com", "depth": 1}}});
    let base: Value = client.post("/agents/templates").json(&base).send().await.json();
    let nightly = json!({"name": "nightly scraper", "parent_id": base["id"], "params": {"name": "nightly", "config": {"depth": 3}}});
    let nightly: Value = client.post("/agents/templates").json(&nightly).send().await.json();
    let nightly_id = nightly["id"].as_str().unwrap_or_default();
    let resolved: Value = client.get(&format!("/agents/templates/{nightly_id}/resolved")).send().await.json();
    assert_eq!(resolved, json!({"name": "nightly", "config": {"url": "https://example.com", "depth": 3}}));
    let clone = json!({"config": {"url": "https://example.org"}});
    let response = client.post(&format!("/agents/templates/{nightly_id}/clone")).json(&clone).send().await;
    response.assert_status(201);
    let agent: Value = response.json();
    assert_eq!(agent["config"], json!({"url": "https://example.org", "depth": 3}));
    assert_eq!(agent["template_id"], nightly["id"]);

    let id = agent["id"].as_str().unwrap_or_default();
    let status: Value = client.get(&format!("/agents/{id}/status")).send().await.json();
    assert_eq!(status, json!({"status": "idle"}));
    let key: Value = client.post(&format!("/agents/{id}/keys")).send().await.json();
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    // The agent acts as itself: it reads its status once its owner allows it.
    client.get(&format!("/agents/{id}/status")).without_identity().bearer(&key).send().await.assert_status(404);
    let allow = json!({"principal_id": id, "action": "read", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).json(&allow).send().await.assert_status(201);
    client.get(&format!("/agents/{id}/status")).without_identity().bearer(&key).send().await.assert_status(200);

    // The agent reports its own status once allowed to update itself.
    let busy = json!({"status": "busy"});
    let path = format!("/agents/{id}/status");
    client.put(&path).without_identity().bearer(&key).json(&busy).send().await.assert_status(403);
    let allow = json!({"principal_id": id, "action": "update", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).json(&allow).send().await.assert_status(201);
    let reported = client.put(&path).without_identity().bearer(&key).json(&busy).send().await;
    reported.assert_status(200);
    assert_eq!(reported.json::<Value>(), busy);
    let unknown = client.put(&path).json(&json!({"status": "asleep"})).send().await;
    unknown.assert_status(400);
    assert_eq!(unknown.json::<Value>()["errors"][0]["field"], "status");
    let agent: Value = client.get(&format!("/agents/{id}")).send().await.json();
    assert_eq!(agent["status"], "busy");
}

/// The task once it has `status`, within 20 s.
async fn settled(client: &TestClient, user: &TestUser, id: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let task: Value = client.get(&format!("/tasks/{id}")).bearer(&user.token).send().await.json();
        if task["status"] == status {
            return task;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still not {status}: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `user`'s notifications of `kind` once one is about task `task` (a
/// task's ending is told just after it is recorded), within 20 s.
async fn told_of(client: &TestClient, user: &TestUser, kind: &str, task: &str) -> Value {
    let started = Instant::now();
    loop {
        let heard: Value = client.get(&format!("/notifications?kind={kind}")).bearer(&user.token).send().await.json();
        let items = heard["items"].as_array().cloned().unwrap_or_default();
        if items.iter().any(|item| item["payload"]["task_id"] == json!(task)) {
            return heard;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{} not told of {task}: {heard}", user.email);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn commands_run_as_tasks_and_the_agent_is_busy_until_its_queue_drains() {
    let settings = Settings { task_poll_ms: 20, task_retry_base_ms: 10, ..Settings::default() };
    let client = TestClient::start(agents::app(settings)).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let agent: Value =
        client.post("/agents").bearer(&ann.token).json(&json!({"name": "a", "config": {}})).send().await.json();
    let id = agent["id"].as_str().unwrap_or_default().to_owned();
    let command = |body: Value| {
        let path = format!("/agents/{id}/command");
        let token = ann.token.clone();
        let client = &client;
        async move { client.post(&path).bearer(&token).json(&body).send().await }
    };

    let echoed = command(json!({"task": "echo", "args": {"say": "hi"}})).await;
    echoed.assert_status(202);
    let echoed: Value = echoed.json();
    assert_eq!(echoed["status"], "queued");
    let echo_id = echoed["task_id"].as_str().unwrap_or_default().to_owned();
    let done = settled(&client, &ann, &echo_id, "succeeded").await;
    assert_eq!(done["result"], json!({"say": "hi"}));
    assert_eq!(done["kind"], "echo");

    let slept: Value = command(json!({"task": "sleep", "args": {"ms": 1500}})).await.json();
    let sleep_id = slept["task_id"].as_str().unwrap_or_default().to_owned();
    let status: Value = client.get(&format!("/agents/{id}/status")).bearer(&ann.token).send().await.json();
    assert_eq!(status, json!({"status": "busy"}));
    settled(&client, &ann, &sleep_id, "succeeded").await;
    let status: Value = client.get(&format!("/agents/{id}/status")).bearer(&ann.token).send().await.json();
    assert_eq!(status, json!({"status": "idle"}));

    // The owner hears how each task ended, as a notification.
    let heard = told_of(&client, &ann, "task.succeeded", &echo_id).await;
    let payloads: Vec<Value> =
        heard["items"].as_array().into_iter().flatten().map(|item| item["payload"].clone()).collect();
    assert!(
        payloads.iter().any(|payload| payload["task_id"] == json!(echo_id) && payload["subject"]["id"] == json!(id)),
        "{heard}"
    );

    let failing: Value = command(json!({"task": "fail"})).await.json();
    let failed = settled(&client, &ann, failing["task_id"].as_str().unwrap_or_default(), "failed").await;
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["error"], "this task fails every time");
    let heard = told_of(&client, &ann, "task.failed", failing["task_id"].as_str().unwrap_or_default()).await;
    assert_eq!(heard["total"], 1, "{heard}");

    let unknown = command(json!({"task": "dance"})).await;
    unknown.assert_status(400);
    assert_eq!(unknown.json::<Value>()["errors"][0]["field"], "task");
    // `215.0` is a whole number in JSON; 10,000,000 is past the longest sleep.
    command(json!({"task": "sleep", "args": {"ms": 215.0}})).await.assert_status(202);
    let too_long = command(json!({"task": "sleep", "args": {"ms": 10_000_000}})).await;
    too_long.assert_status(400);
    assert_eq!(too_long.json::<Value>()["errors"][0]["field"], "args");

    let page: Value = client.get(&format!("/agents/{id}/tasks?page_size=2")).bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"][0]["id"], json!(echo_id));
    let next = page["next"].as_str().unwrap_or_default();
    let rest: Value =
        client.get(&format!("/agents/{id}/tasks?page_size=2&after={next}")).bearer(&ann.token).send().await.json();
    assert_eq!(rest["items"][0]["kind"], "fail", "{rest}");
    let failed_only: Value =
        client.get(&format!("/agents/{id}/tasks?status=failed")).bearer(&ann.token).send().await.json();
    assert_eq!(failed_only["total"], 1);

    // Others see none of it; a reader sees the tasks but may not command.
    client.get(&format!("/tasks/{echo_id}")).bearer(&bob.token).send().await.assert_status(404);
    client.get(&format!("/agents/{id}/tasks")).bearer(&bob.token).send().await.assert_status(404);
    let path = format!("/agents/{id}/command");
    client.post(&path).bearer(&bob.token).json(&json!({"task": "echo"})).send().await.assert_status(404);
    let allow = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).bearer(&ann.token).json(&allow).send().await.assert_status(201);
    client.get(&format!("/tasks/{echo_id}")).bearer(&bob.token).send().await.assert_status(200);
    client.post(&path).bearer(&bob.token).json(&json!({"task": "echo"})).send().await.assert_status(403);

    // Allowed to command, Bob sends one: he hears how it ended, and so
    // does Ann, whose agent ran it.
    let allow = json!({"principal_id": bob.id, "action": "command", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).bearer(&ann.token).json(&allow).send().await.assert_status(201);
    let bobs: Value = client.post(&path).bearer(&bob.token).json(&json!({"task": "echo"})).send().await.json();
    let bobs = bobs["task_id"].as_str().unwrap_or_default().to_owned();
    settled(&client, &bob, &bobs, "succeeded").await;
    for user in [&ann, &bob] {
        let heard = told_of(&client, user, "task.succeeded", &bobs).await;
        let items = heard["items"].as_array().cloned().unwrap_or_default();
        let of_bobs = items.iter().filter(|item| item["payload"]["task_id"] == json!(bobs)).count();
        assert_eq!(of_bobs, 1, "{}: {heard}", user.email);
    }
    // The agent is `#[crud(notify)]`: its owner heard of its creation.
    let created: Value = client.get("/notifications?kind=Agent.created").bearer(&ann.token).send().await.json();
    assert_eq!(created["items"][0]["payload"]["id"], json!(id), "{created}");
}

#[tokio::test]
async fn a_leaked_agent_key_commands_nothing_and_reads_no_notifications() {
    let client = TestClient::start(agents::app(Settings::default())).await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value =
        client.post("/agents").bearer(&ann.token).json(&json!({"name": "a", "config": {}})).send().await.json();
    let id = agent["id"].as_str().unwrap_or_default().to_owned();
    let key: Value = client.post(&format!("/agents/{id}/keys")).bearer(&ann.token).send().await.json();
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    // The key acts as the agent, which may do nothing to itself unless allowed.
    let path = format!("/agents/{id}/command");
    client.post(&path).bearer(&key).json(&json!({"task": "echo"})).send().await.assert_status(404);
    // Notifications are users' own: a key neither reads nor sends them.
    client.get("/notifications").bearer(&key).send().await.assert_status(403);
    client
        .post("/notify")
        .bearer(&key)
        .json(&json!({"user_id": ann.id, "message": "hi"}))
        .send()
        .await
        .assert_status(403);
    // A megabyte where the task's name goes: 400, not echoed.
    let megabyte = "t".repeat(1024 * 1024 - 100);
    let refused = client.post(&path).bearer(&ann.token).json(&json!({"task": megabyte})).send().await;
    assert!(matches!(refused.status().as_u16(), 400 | 413), "{}", refused.status());
    assert!(refused.text().len() < 4096, "the answer echoes the task's name");
}
