//! Custom endpoints: mounted with the resource, each checking its action,
//! custom actions granted and denied like built-in ones, and documented.

use fastsaas::axum::Json;
use fastsaas::axum::extract::Path;
use fastsaas::axum::http::StatusCode;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::utoipa::{self, ToSchema};

/// A worker.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"])]
struct Agent {
    name: String,
    #[crud(read_only, default = "idle")]
    status: String,
}

/// What `status` answers.
#[derive(Serialize, ToSchema)]
struct Status {
    status: String,
}

/// What `command` takes.
#[derive(Deserialize, ToSchema)]
struct Command {
    task: String,
}

#[endpoints]
impl Agent {
    /// The agent's status.
    ///
    /// Anyone who may read the agent may ask.
    #[endpoint(get, "/{id}/status")]
    async fn status(agent: Authorized<Agent>) -> Json<Status> {
        Json(Status { status: agent.data.status.clone() })
    }

    /// Queue a task (needs the `command` permission).
    #[endpoint(post, "/{id}/command", action = "command")]
    async fn command(agent: Authorized<Agent>, Json(command): Json<Command>) -> ApiResult<(StatusCode, Json<Value>)> {
        if command.task.is_empty() {
            return Err(ApiError::field("task", fastsaas::FieldErrorCode::Invalid, "name a task"));
        }
        Ok((StatusCode::ACCEPTED, Json(json!({"agent": agent.id, "task": command.task}))))
    }

    /// Forget the agent's cache (an update by default).
    #[endpoint(delete, "/{id}/cache")]
    async fn forget(agent: Authorized<Agent>) -> StatusCode {
        let _ = agent;
        StatusCode::NO_CONTENT
    }

    /// One file of the agent, by name.
    #[endpoint(get, "/{id}/files/{name}")]
    async fn file(agent: Authorized<Agent>, Path((_, name)): Path<(Uuid, String)>) -> String {
        format!("{}:{name}", agent.data.name)
    }

    /// How many agents the caller sees.
    #[endpoint(get, "/stats")]
    async fn stats(ctx: Ctx) -> ApiResult<Json<Value>> {
        Ok(Json(json!({"caller": ctx.principal().id})))
    }

    /// Not an endpoint: a helper the block may hold.
    #[allow(dead_code)]
    fn helper() -> u8 {
        7
    }
}

async fn start() -> (TestClient, TestUser, TestUser, String) {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let agent: Value = client.post("/agents").bearer(&ann.token).json(&json!({"name": "bot"})).send().await.json();
    (client, ann, ben, agent["id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn endpoints_are_mounted_with_the_resource_and_check_their_action() {
    let (client, ann, ben, agent) = start().await;
    let status = client.get(&format!("/agents/{agent}/status")).bearer(&ann.token).send().await;
    status.assert_status(200);
    assert_eq!(status.json::<Value>(), json!({"status": "idle"}));
    let trailing = client.get(&format!("/agents/{agent}/status/")).bearer(&ann.token).send().await;
    trailing.assert_status(200);
    let command = json!({"task": "echo"});
    let queued = client.post(&format!("/agents/{agent}/command")).bearer(&ann.token).json(&command).send().await;
    queued.assert_status(202);
    assert_eq!(queued.json::<Value>()["task"], "echo");
    let file = client.get(&format!("/agents/{agent}/files/notes.txt")).bearer(&ann.token).send().await;
    assert_eq!(file.text(), "bot:notes.txt");
    client.delete(&format!("/agents/{agent}/cache")).bearer(&ann.token).send().await.assert_status(204);
    let stats: Value = client.get("/agents/stats").bearer(&ben.token).send().await.json();
    assert_eq!(stats["caller"], ben.id.to_string());

    // Ben cannot see the agent: 404 everywhere, as on generated routes.
    for response in [
        client.get(&format!("/agents/{agent}/status")).bearer(&ben.token).send().await,
        client.post(&format!("/agents/{agent}/command")).bearer(&ben.token).json(&command).send().await,
        client.delete(&format!("/agents/{agent}/cache")).bearer(&ben.token).send().await,
    ] {
        response.assert_status(404);
    }
    client.get(&format!("/agents/{agent}/status")).send().await.assert_status(401);
    client.get("/agents/stats").send().await.assert_status(401);
    client.get("/agents/not-a-uuid/status").bearer(&ann.token).send().await.assert_status(400);
    client.post(&format!("/agents/{agent}/status")).bearer(&ann.token).send().await.assert_status(405);
    let empty = json!({"task": ""});
    client.post(&format!("/agents/{agent}/command")).bearer(&ann.token).json(&empty).send().await.assert_status(400);
}

#[tokio::test]
async fn a_custom_action_is_granted_and_denied_like_a_built_in_one() {
    let (client, ann, ben, agent) = start().await;
    let acl = format!("/agents/{agent}/acl");
    let command = json!({"task": "echo"});
    let send_command = || client.post(&format!("/agents/{agent}/command")).bearer(&ben.token).json(&command).send();

    let read = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&acl).bearer(&ann.token).json(&read).send().await.assert_status(201);
    client.get(&format!("/agents/{agent}/status")).bearer(&ben.token).send().await.assert_status(200);
    // Readable but not commandable: 403.
    send_command().await.assert_status(403);

    let grant = json!({"principal_id": ben.id, "action": "command", "effect": "allow"});
    client.post(&acl).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    send_command().await.assert_status(202);
    // The grant is only for `command`: the cache is an update.
    client.delete(&format!("/agents/{agent}/cache")).bearer(&ben.token).send().await.assert_status(403);
    let check = format!("/agents/{agent}/acl/check?action=command&principal_id={}", ben.id);
    let explained: Value = client.get(&check).bearer(&ann.token).send().await.json();
    assert_eq!(explained["rule"], "allow_entry");

    let deny = json!({"principal_id": ben.id, "action": "command", "effect": "deny"});
    client.post(&acl).bearer(&ann.token).json(&deny).send().await.assert_status(201);
    send_command().await.assert_status(403);
    let explained: Value = client.get(&check).bearer(&ann.token).send().await.json();
    assert_eq!(explained["rule"], "deny_entry");

    // An action the type does not have is refused, so a typo grants nothing silently.
    let typo = json!({"principal_id": ben.id, "action": "comand", "effect": "allow"});
    let refused = client.post(&acl).bearer(&ann.token).json(&typo).send().await;
    refused.assert_status(400);
    assert!(refused.text().contains("command"), "the known actions are listed: {}", refused.text());
}

#[tokio::test]
async fn endpoints_are_documented() {
    let (client, ..) = start().await;
    let doc: Value = client.get("/openapi.json").send().await.json();
    let command = &doc["paths"]["/agents/{id}/command"]["post"];
    assert_eq!(command["summary"], "Queue a task (needs the `command` permission).");
    assert!(command["description"].as_str().is_some_and(|d| d.contains("`command`")), "{command}");
    let body = &command["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/Command");
    assert_eq!(doc["components"]["schemas"]["Command"]["properties"]["task"]["type"], "string");
    assert_eq!(command["parameters"][0]["name"], "id");
    assert_eq!(command["operationId"], "command_agents");
    let status = &doc["paths"]["/agents/{id}/status"]["get"];
    assert!(status["description"].as_str().is_some_and(|d| d.contains("Anyone who may read")), "{status}");
    assert!(status["requestBody"].is_null());
    let answer = &status["responses"]["2XX"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(answer, "#/components/schemas/Status");
    // A response without a schema is still documented, as a success.
    assert!(doc["paths"]["/agents/{id}/cache"]["delete"]["responses"]["2XX"].is_object());
    let file = &doc["paths"]["/agents/{id}/files/{name}"]["get"]["parameters"];
    assert_eq!(file[1]["name"], "name");
    assert!(doc["paths"]["/agents/stats"]["get"].is_object());
    assert!(doc["paths"]["/agents/{id}/cache"]["delete"].is_object());
}
