//! API keys: an authenticated resource (an agent) acts through a key, under
//! the same rules as any principal; keys are shown once and can be revoked.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

/// A worker that holds keys.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"])]
#[crud(authenticated)]
struct Agent {
    name: String,
}

/// A document.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
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

    let doc: Value =
        client.post("/notes").bearer(&ann.token).json(&json!({"title": "for the bot"})).send().await.json();
    let doc_path = format!("/notes/{}", doc["id"].as_str().unwrap_or_default());
    client.get(&doc_path).bearer(&key).send().await.assert_status(404);
    let allow = json!({"principal_id": agent_id, "action": "read", "effect": "allow"});
    client.post(&format!("{doc_path}/acl")).bearer(&ann.token).json(&allow).send().await.assert_status(201);
    client.get(&doc_path).bearer(&key).send().await.assert_status(200);
    let seen: Value = client.get("/notes").bearer(&key).send().await.json();
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
    client.get("/notes").bearer(&key).send().await.assert_status(401);
    client.delete(&key_path).bearer(&ann.token).send().await.assert_status(404);
    client.get("/notes").bearer("fsk_made-up").send().await.assert_status(401);
}

/// A client where Ann owns an agent with a working key: the agent's path
/// and the key.
async fn ann_with_an_agent_key() -> (TestClient, fastsaas::testing::TestUser, String, String) {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>().resource::<Doc>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    let agent_path = format!("/agents/{}", agent["id"].as_str().unwrap_or_default());
    let issued: Value = client.post(&format!("{agent_path}/keys")).bearer(&ann.token).send().await.json();
    let key = issued["key"].as_str().unwrap_or_default().to_owned();
    client.get("/notes").bearer(&key).send().await.assert_status(200);
    (client, ann, agent_path, key)
}

#[tokio::test]
async fn keys_end_with_their_resource_and_only_authenticated_types_have_them() {
    let (client, ann, agent_path, key) = ann_with_an_agent_key().await;
    client.delete(&agent_path).bearer(&ann.token).send().await.assert_status(204);
    client.get("/notes").bearer(&key).send().await.assert_status(401);

    let doc: Value = client.post("/notes").bearer(&ann.token).json(&json!({"title": "d"})).send().await.json();
    let doc_keys = format!("/notes/{}/keys", doc["id"].as_str().unwrap_or_default());
    client.post(&doc_keys).bearer(&ann.token).send().await.assert_status(404);
}

#[tokio::test]
async fn a_leaked_key_cannot_plant_anything() {
    let settings = fastsaas::Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(fastsaas::Secret("root password".into())),
        ..fastsaas::Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Agent>().resource::<Doc>()).await;
    let root = client.sign_in("root@example.com", "root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    let agent_id = agent["id"].as_str().unwrap_or_default().to_owned();
    let agent_path = format!("/agents/{agent_id}");
    let issued: Value = client.post(&format!("{agent_path}/keys")).bearer(&ann.token).send().await.json();
    let leaked = issued["key"].as_str().unwrap_or_default().to_owned();

    // No implicit right to create: an agent creates nothing without an entry.
    client.post("/agents").bearer(&leaked).json(&json!({"name": "spawn"})).send().await.assert_status(403);
    client.post("/notes").bearer(&leaked).json(&json!({"title": "planted"})).send().await.assert_status(403);
    // Nor can it choose an owner: not itself, not a stranger.
    for owner in [agent_id.clone(), Uuid::new_v4().to_string()] {
        let body = json!({"title": "planted", "owner_id": owner});
        client.post("/notes").bearer(&leaked).json(&body).send().await.assert_status(403);
    }

    // Granted `create`, what it makes belongs to its owner, who sees and removes it.
    let grant = json!({"resource": "Agent.create", "principal_id": agent_id, "effect": "allow"});
    client.post("/acl").bearer(&root.token).json(&grant).send().await.assert_status(201);
    let spawned = client.post("/agents").bearer(&leaked).json(&json!({"name": "spawn"})).send().await;
    spawned.assert_status(201);
    let spawned: Value = spawned.json();
    assert_eq!(spawned["owner_id"], ann.id.to_string(), "an agent creates for its owner");
    let spawned_path = format!("/agents/{}", spawned["id"].as_str().unwrap_or_default());
    // The agent is not the spawn's owner: it cannot mint a key for it.
    client.post(&format!("{spawned_path}/keys")).bearer(&leaked).send().await.assert_status(404);
    client.get(&spawned_path).bearer(&ann.token).send().await.assert_status(200);

    // The key dies with its agent, whatever it did before.
    client.delete(&agent_path).bearer(&ann.token).send().await.assert_status(204);
    client.get("/notes").bearer(&leaked).send().await.assert_status(401);
    client.delete(&spawned_path).bearer(&ann.token).send().await.assert_status(204);
}

#[tokio::test]
async fn a_key_stops_working_when_its_resources_owner_is_deleted() {
    let (client, ann, _agent_path, key) = ann_with_an_agent_key().await;
    client.delete(&format!("/users/{}", ann.id)).bearer(&ann.token).send().await.assert_status(204);
    client.get("/notes").bearer(&key).send().await.assert_status(401);
}

/// Two requests racing: a key minted while its agent is being deleted is
/// either refused or deleted with the agent; it never outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_minted_while_its_agent_is_deleted_never_survives_it() {
    use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>().resource::<Doc>()).await;
    let ann = client.sign_up("ann@example.com").await;
    for _ in 0..12 {
        let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
        let agent_path = format!("/agents/{}", agent["id"].as_str().unwrap_or_default());
        let keys = format!("{agent_path}/keys");
        let (minted, deleted) = tokio::join!(
            client.post(&keys).bearer(&ann.token).send(),
            client.delete(&agent_path).bearer(&ann.token).send()
        );
        deleted.assert_status(204);
        match minted.status().as_u16() {
            201 => {
                let key = minted.json::<Value>()["key"].as_str().unwrap_or_default().to_owned();
                client.get("/notes").bearer(&key).send().await.assert_status(401);
            }
            status => assert_eq!(status, 404, "{}", minted.text()),
        }
    }
    let Ok(db) = Database::connect(client.settings().database_url.as_str()).await else {
        panic!("the test database");
    };
    let orphans =
        "SELECT k.id FROM fastsaas_api_keys k WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = k.resource_id)";
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), orphans)).await;
    assert_eq!(rows.map(|rows| rows.len()).ok(), Some(0), "no key row outlives its agent");
}

/// A document whose type-wide entries the superadmin manages.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/memos", acl_admins = ["superadmin"])]
struct Memo {
    title: String,
}

/// A key's writes check as they write, like a user's: the type-wide
/// entries of a key's caller are not known before the statement, so the
/// statement reads them too. Each answer agrees with the check endpoint.
#[tokio::test]
async fn a_keys_writes_follow_its_entries_type_wide_and_per_object() {
    let settings = fastsaas::Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(fastsaas::Secret("root password".into())),
        ..fastsaas::Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Agent>().resource::<Memo>()).await;
    let root = client.sign_in("root@example.com", "root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    let agent_id = agent["id"].as_str().unwrap_or_default().to_owned();
    let issued: Value = client.post(&format!("/agents/{agent_id}/keys")).bearer(&ann.token).send().await.json();
    let key = issued["key"].as_str().unwrap_or_default().to_owned();
    let new_doc = || async {
        let doc: Value = client.post("/memos").bearer(&ann.token).json(&json!({"title": "t"})).send().await.json();
        format!("/memos/{}", doc["id"].as_str().unwrap_or_default())
    };
    let on_object = |doc: &str, action: &str, effect: &str| {
        let body = json!({"principal_id": agent_id, "action": action, "effect": effect});
        let (path, token) = (format!("{doc}/acl"), ann.token.clone());
        let client = &client;
        async move {
            client.post(&path).bearer(&token).json(&body).send().await.assert_status(201);
        }
    };
    let type_wide = |action: &str, effect: &str| {
        let body = json!({"resource": format!("Memo.{action}"), "principal_id": agent_id, "effect": effect});
        let (client, token) = (&client, root.token.clone());
        async move {
            client.post("/acl").bearer(&token).json(&body).send().await.assert_status(201);
        }
    };
    // The check endpoint's answer (the key asking about itself, which it
    // may where it may read), and what a PATCH by the key gets.
    let attempt = |doc: String| {
        let (client, key) = (&client, key.clone());
        async move {
            let check = format!("{doc}/acl/check?action=update");
            let allowed = client.get(&check).bearer(&key).send().await.json::<Value>()["allowed"] == json!(true);
            let patched = client.patch(&doc).bearer(&key).json(&json!({"title": "by the key"})).send().await;
            // A write allowed is written by the checking statement itself,
            // not by the load that tells a refusal's 404 from its 403.
            let loaded = patched.statements().iter().any(|sql| sql.contains("fastsaas_joined_acl"));
            assert!(!(patched.status() == 200 && loaded), "{doc}: allowed, yet refused by its statement");
            (allowed, patched.status().as_u16())
        }
    };

    let readable = new_doc().await;
    on_object(&readable, "read", "allow").await;
    assert_eq!(attempt(readable.clone()).await, (false, 403), "read only");
    on_object(&readable, "update", "allow").await;
    assert_eq!(attempt(readable.clone()).await, (true, 200), "an update allowed on the object");
    on_object(&readable, "update", "deny").await;
    assert_eq!(attempt(readable.clone()).await, (false, 403), "denied on the object");

    let other = new_doc().await;
    assert_eq!(attempt(other.clone()).await, (false, 404), "nothing");
    type_wide("*", "allow").await;
    assert_eq!(attempt(other.clone()).await, (true, 200), "a type-wide allow");
    assert_eq!(attempt(readable.clone()).await, (false, 403), "an object's deny beats a type-wide allow");
    let deleted = client.delete(&other).bearer(&key).send().await;
    deleted.assert_status(204);
    type_wide("update", "deny").await;
    let last = new_doc().await;
    assert_eq!(attempt(last).await, (false, 403), "a type-wide deny of updates");
}
