//! The user's crate serves its resources.

use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

#[tokio::test]
async fn the_user_crate_serves_its_resources() {
    let mut client = TestClient::start(fastsaas_user_crate::app(fastsaas::Settings::default())).await;
    let user = client.sign_up("user@example.com").await;
    client.act_as(&user);
    let response = client
        .post("/todos")
        .json(&json!({"title": "write docs", "labels": ["docs"], "extra": {}, "token": "t"}))
        .send()
        .await;
    response.assert_status(201);
    let task: Value = response.json();
    assert_eq!(task["state"], "open");
    assert!(task.get("token").is_none() && task.get("retries").is_none());
    client.post("/events").json(&json!({"what": "x"})).send().await.assert_status(405);

    let id = task["id"].as_str().unwrap_or_default();
    let summary: Value = client.get(&format!("/todos/{id}/summary")).send().await.json();
    assert_eq!(summary, json!({"title": "write docs", "labels": 1}));
    let labelled = client.post(&format!("/todos/{id}/labels")).json(&json!({"label": "x"})).send().await;
    assert_eq!(labelled.text(), "write docs would get x");

    let doc: Value = client.get("/openapi.json").send().await.json();
    assert_eq!(doc["components"]["schemas"]["Summary"]["properties"]["labels"]["type"], "integer");

    let template = json!({"name": "docs work", "params": {"labels": ["docs"], "extra": {"team": "a"}}});
    let template: Value = client.post("/todos/templates").json(&template).send().await.json();
    let clone = client
        .post(&format!("/todos/templates/{}/clone", template["id"].as_str().unwrap_or_default()))
        .json(&json!({"title": "from a template"}))
        .send()
        .await;
    clone.assert_status(201);
    assert_eq!(clone.json::<Value>()["extra"], json!({"team": "a"}));
}
