//! API keys: an authenticated resource (an agent) acts through a key, under
//! the same rules as any principal; keys are shown once and can be revoked.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

/// A worker that holds keys.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
#[crud(authenticated)]
struct Agent {
    name: String,
}

/// A document.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/docs")]
struct Doc {
    title: String,
}

#[tokio::test]
async fn an_agent_acts_with_its_key_and_only_as_allowed() {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>().resource::<Doc>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    let agent_id = agent["id"].as_str().unwrap_or_default().to_owned();
    let keys = format!("/agents/{agent_id}/keys");

    let created = client.post(&keys).bearer(&ann.token).send().await;
    created.assert_status(201);
    let issued: Value = created.json();
    let key = issued["key"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("fsk_") && key.len() > 40, "{key}");
    let listed = client.get(&keys).bearer(&ann.token).send().await;
    listed.assert_status(200);
    assert!(!listed.text().contains(&key[4..]), "a key is shown only once");
    assert_eq!(listed.json::<Value>()[0]["id"], issued["id"]);
    client.get(&keys).bearer(&ben.token).send().await.assert_status(404);
    client.post(&keys).bearer(&ben.token).send().await.assert_status(404);

    let doc: Value = client.post("/docs").bearer(&ann.token).json(&json!({"title": "for the bot"})).send().await.json();
    let doc_path = format!("/docs/{}", doc["id"].as_str().unwrap_or_default());
    client.get(&doc_path).bearer(&key).send().await.assert_status(404);
    let allow = json!({"principal_id": agent_id, "action": "read", "effect": "allow"});
    client.post(&format!("{doc_path}/acl")).bearer(&ann.token).json(&allow).send().await.assert_status(201);
    client.get(&doc_path).bearer(&key).send().await.assert_status(200);
    let seen: Value = client.get("/docs").bearer(&key).send().await.json();
    assert_eq!(seen["total"], 1);
    client.patch(&doc_path).bearer(&key).json(&json!({"title": "x"})).send().await.assert_status(403);
    client.get("/me").bearer(&key).send().await.assert_status(403);
    let used: Value = client.get(&keys).bearer(&ann.token).send().await.json();
    assert!(used[0]["last_used_at"].is_string(), "last use is recorded: {used}");

    let deny = json!({"principal_id": agent_id, "action": "*", "effect": "deny"});
    client.post(&format!("{doc_path}/acl")).bearer(&ann.token).json(&deny).send().await.assert_status(201);
    client.get(&doc_path).bearer(&key).send().await.assert_status(404);

    let key_path = format!("{keys}/{}", issued["id"].as_str().unwrap_or_default());
    client.delete(&key_path).bearer(&ann.token).send().await.assert_status(204);
    client.get("/docs").bearer(&key).send().await.assert_status(401);
    client.delete(&key_path).bearer(&ann.token).send().await.assert_status(404);
    client.get("/docs").bearer("fsk_made-up").send().await.assert_status(401);
}

#[tokio::test]
async fn keys_end_with_their_resource_and_only_authenticated_types_have_them() {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>().resource::<Doc>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    let agent_path = format!("/agents/{}", agent["id"].as_str().unwrap_or_default());
    let issued: Value = client.post(&format!("{agent_path}/keys")).bearer(&ann.token).send().await.json();
    let key = issued["key"].as_str().unwrap_or_default().to_owned();
    client.get("/docs").bearer(&key).send().await.assert_status(200);
    client.delete(&agent_path).bearer(&ann.token).send().await.assert_status(204);
    client.get("/docs").bearer(&key).send().await.assert_status(401);

    let doc: Value = client.post("/docs").bearer(&ann.token).json(&json!({"title": "d"})).send().await.json();
    let doc_keys = format!("/docs/{}/keys", doc["id"].as_str().unwrap_or_default());
    client.post(&doc_keys).bearer(&ann.token).send().await.assert_status(404);
}
