//! Round trips per request: the statements each generated route sends to
//! the database, counted by the test client, stay within API.md's budget.
//! A route that grows a query fails here, naming the SQL it sent. The
//! caller (session, roles, memberships, type-wide entries) is read by the
//! first request of a session and then cached: the figures below are of a
//! session's later requests, and the first costs one statement more.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestResponse};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
struct Note {
    #[crud(filter, sort)]
    pub title: String,
    #[crud(write_only)]
    pub secret: Option<String>,
}

/// An agent that acts with API keys.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
#[crud(authenticated)]
struct Agent {
    pub name: String,
}

/// Fails, showing the SQL, unless the request sent exactly `expected`
/// statements: a route that grows a query fails here, and one that sheds
/// a query lowers its figure.
fn sends(response: &TestResponse, route: &str, expected: usize) {
    let sent = response.statements();
    assert_eq!(sent.len(), expected, "{route} sent {} statements, not {expected}:\n{}", sent.len(), sent.join("\n"));
}

#[tokio::test]
async fn every_generated_route_sends_its_round_trips() {
    let mut client = TestClient::start(App::new(Default::default()).resource::<Note>().resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    client.act_as(&ann);

    let created = client.post("/notes").json(&json!({"title": "a", "secret": "s"})).send().await;
    created.assert_status(201);
    sends(&created, "POST /notes", 1);
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/notes/{id}");

    let read = client.get(&path).send().await;
    read.assert_status(200);
    // The row with the entries that could decide.
    sends(&read, "GET /notes/{id}", 1);

    let listed = client.get("/notes").send().await;
    listed.assert_status(200);
    // Its entries for the type; the count and the page, sent together.
    sends(&listed, "GET /notes", 3);

    let patched = client.patch(&path).json(&json!({"title": "b"})).send().await;
    patched.assert_status(200);
    // The update, checking as it writes.
    sends(&patched, "PATCH /notes/{id}", 1);

    let replaced = client.put(&path).json(&json!({"title": "c"})).send().await;
    replaced.assert_status(200);
    sends(&replaced, "PUT /notes/{id}", 1);

    // A new session reads its caller once.
    let credentials = json!({"email": "ann@example.com", "password": fastsaas::testing::TEST_PASSWORD});
    let login: Value = client.post("/login").without_identity().json(&credentials).send().await.json();
    let token = login["access_token"].as_str().unwrap_or_default();
    let first = client.get(&path).bearer(token).send().await;
    first.assert_status(200);
    sends(&first, "GET /notes/{id}, a session's first request", 2);

    let deleted = client.delete(&path).send().await;
    deleted.assert_status(204);
    sends(&deleted, "DELETE /notes/{id}", 1);
}

/// A read refused costs what a read answered; a write refused costs one
/// statement more than a write done: the write that checks as it writes
/// changed nothing, and the row with its entries, read once, tells 404
/// from 403.
#[tokio::test]
async fn refusals_cost_at_most_one_statement_more_than_answers() {
    let client = TestClient::start(App::new(Default::default()).resource::<Note>().resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let created = client.post("/notes").bearer(&ann.token).json(&json!({"title": "a"})).send().await;
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/notes/{id}");

    let hidden = client.get(&path).bearer(&bob.token).send().await;
    hidden.assert_status(404);
    sends(&hidden, "GET of another's note", 1);

    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/notes/{id}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let refused = client.patch(&path).bearer(&bob.token).json(&json!({"title": "b"})).send().await;
    refused.assert_status(403);
    sends(&refused, "PATCH of a note one may only read", 2);
}

/// An API key costs its own lookups: the key, its resource and owner still
/// alive, then the row with every entry that could decide (the type-wide
/// ones are not read with a key's caller).
#[tokio::test]
async fn an_api_key_adds_the_lookups_of_its_key() {
    let client = TestClient::start(App::new(Default::default()).resource::<Note>().resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "a"})).send().await.json();
    let id = agent["id"].as_str().unwrap_or_default().to_owned();
    let key: Value = client.post(&format!("/agents/{id}/keys")).bearer(&ann.token).send().await.json();
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    let allow = json!({"principal_id": id, "action": "read", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).bearer(&ann.token).json(&allow).send().await.assert_status(201);

    let first = client.get(&format!("/agents/{id}")).bearer(&key).send().await;
    first.assert_status(200);
    sends(&first, "GET with a key's first use (its last use recorded)", 4);
    let again = client.get(&format!("/agents/{id}")).bearer(&key).send().await;
    again.assert_status(200);
    sends(&again, "GET with a key used within the minute", 3);
}
