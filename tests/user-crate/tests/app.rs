//! The user's crate serves its resources.

use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

#[tokio::test]
async fn the_user_crate_serves_its_resources() {
    let mut client = TestClient::start(fastsaas_user_crate::app(fastsaas::Settings::default())).await;
    let user = client.sign_up("user@example.com").await;
    client.act_as(&user);
    let response = client
        .post("/tasks")
        .json(&json!({"title": "write docs", "labels": ["docs"], "extra": {}, "token": "t"}))
        .send()
        .await;
    response.assert_status(201);
    let task: Value = response.json();
    assert_eq!(task["state"], "open");
    assert!(task.get("token").is_none() && task.get("retries").is_none());
    client.post("/events").json(&json!({"what": "x"})).send().await.assert_status(405);
}
