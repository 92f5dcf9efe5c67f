//! Renaming a struct does not orphan its permissions: with
//! `#[crud(name = "...")]` ACL entries, API keys, templates and the table
//! stay with the resource through a rename of its Rust type.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

mod before {
    use fastsaas::prelude::*;

    /// The resource as first released.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/bots")]
    #[crud(name = "Bot", authenticated, templated)]
    pub(crate) struct Robot {
        pub(crate) name: String,
    }
}

mod after {
    use fastsaas::prelude::*;

    /// The same resource after its type was renamed.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/bots")]
    #[crud(name = "Bot", authenticated, templated)]
    pub(crate) struct Worker {
        pub(crate) name: String,
    }
}

#[tokio::test]
async fn a_renamed_type_keeps_its_entries_keys_templates_and_rows() {
    let client = TestClient::start(App::new(Default::default()).resource::<before::Robot>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let bot: Value = client.post("/bots").bearer(&ann.token).json(&json!({"name": "r2"})).send().await.json();
    let bot_path = format!("/bots/{}", bot["id"].as_str().unwrap_or_default());
    let share = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&format!("{bot_path}/acl")).bearer(&ann.token).json(&share).send().await.assert_status(201);
    let key: Value = client.post(&format!("{bot_path}/keys")).bearer(&ann.token).send().await.json();
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    let template: Value =
        client.post("/bots/templates").bearer(&ann.token).json(&json!({"name": "t", "params": {}})).send().await.json();
    let template_path = format!("/bots/templates/{}", template["id"].as_str().unwrap_or_default());
    assert_eq!(<before::Robot as Resource>::SPEC.table, "bots");

    let client = client.restart(App::new(Default::default()).resource::<after::Worker>()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let ben = client.sign_in("ben@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let read: Value = client.get(&bot_path).bearer(&ben.token).send().await.json();
    assert_eq!(read["name"], "r2", "Ben's entry still applies");
    let entries: Value = client.get(&format!("{bot_path}/acl")).bearer(&ann.token).send().await.json();
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    client.get(&format!("{bot_path}/keys")).bearer(&ann.token).send().await.assert_status(200);
    client.get("/me").bearer(&key).send().await.assert_status(403);
    client.get(&bot_path).bearer(&key).send().await.assert_status(404);
    client.get(&template_path).bearer(&ann.token).send().await.assert_status(200);
    let type_wide = json!({"resource": "Bot.read", "principal_id": ben.id, "effect": "allow"});
    client.post("/acl").bearer(&ann.token).json(&type_wide).send().await.assert_status(403);
}
