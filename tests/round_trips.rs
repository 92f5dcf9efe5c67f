//! Round trips per request: the statements each generated route sends to
//! the database, counted by the test client, stay within API.md's budget.
//! A route that grows a query fails here, naming the SQL it sent.

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

/// Fails with the statements sent when a request sent more than `budget`.
fn within(response: &TestResponse, route: &str, budget: usize) {
    let sent = response.statements();
    assert!(sent.len() <= budget, "{route} sent {} statements, more than {budget}:\n{}", sent.len(), sent.join("\n"));
}

#[tokio::test]
async fn every_generated_route_stays_within_its_round_trips() {
    let mut client = TestClient::start(App::new(Default::default()).resource::<Note>()).await;
    let ann = client.sign_up("ann@example.com").await;
    client.act_as(&ann);

    let created = client.post("/notes").json(&json!({"title": "a", "secret": "s"})).send().await;
    created.assert_status(201);
    within(&created, "POST /notes", 3);
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/notes/{id}");

    let read = client.get(&path).send().await;
    read.assert_status(200);
    within(&read, "GET /notes/{id}", 2);

    let listed = client.get("/notes").send().await;
    listed.assert_status(200);
    within(&listed, "GET /notes", 3);

    let patched = client.patch(&path).json(&json!({"title": "b"})).send().await;
    patched.assert_status(200);
    within(&patched, "PATCH /notes/{id}", 3);

    let replaced = client.put(&path).json(&json!({"title": "c"})).send().await;
    replaced.assert_status(200);
    within(&replaced, "PUT /notes/{id}", 3);

    let deleted = client.delete(&path).send().await;
    deleted.assert_status(204);
    within(&deleted, "DELETE /notes/{id}", 3);
}

/// A refusal costs no more than an answer: 404 and 403 are told apart
/// from the entries already read.
#[tokio::test]
async fn refusals_stay_within_the_same_round_trips() {
    let client = TestClient::start(App::new(Default::default()).resource::<Note>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let created = client.post("/notes").bearer(&ann.token).json(&json!({"title": "a"})).send().await;
    let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/notes/{id}");

    let hidden = client.get(&path).bearer(&bob.token).send().await;
    hidden.assert_status(404);
    within(&hidden, "GET of another's note", 2);

    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/notes/{id}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let refused = client.patch(&path).bearer(&bob.token).json(&json!({"title": "b"})).send().await;
    refused.assert_status(403);
    within(&refused, "PATCH of a note one may only read", 2);
}
