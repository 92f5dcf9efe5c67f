//! `examples/agents` serves API.md's agent routes: the scraper templates of
//! its docs, the `status` endpoint, API keys.

#[path = "../examples/agents/main.rs"]
#[allow(dead_code, unreachable_pub)]
mod agents;

use agents::Agent;
use fastsaas::App;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

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
