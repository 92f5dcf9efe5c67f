//! Custom endpoints: mounted with the resource, each checking its action,
//! custom actions granted and denied like built-in ones, and documented.

use fastsaas::axum::extract::Path;
use fastsaas::axum::http::StatusCode;
use fastsaas::axum::http::header::CONTENT_TYPE;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestResponse, TestUser};
use fastsaas::utoipa::{self, ToSchema};
use fastsaas::{Secret, Settings};

/// A worker.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"])]
struct Agent {
    name: String,
    #[crud(read_only, default = "idle")]
    status: String,
    #[crud(write_only)]
    token: Option<String>,
}

/// What `status` answers.
#[derive(Serialize, ToSchema)]
struct Status {
    status: String,
}

/// When an agent was looked at: prelude types in a schema.
#[derive(Serialize, ToSchema)]
struct Seen {
    id: Uuid,
    at: DateTime<Utc>,
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
            return Err(ApiError::field("task", fastsaas::error::FieldErrorCode::Invalid, "name a task"));
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

    /// Who asks (anyone signed in).
    #[endpoint(get, "/stats", signed_in)]
    async fn stats(ctx: Ctx) -> ApiResult<Json<Value>> {
        Ok(Json(json!({"caller": ctx.principal().id})))
    }

    /// The service's name (anyone at all).
    #[endpoint(get, "/about", public)]
    async fn about() -> &'static str {
        "agents"
    }

    /// Restarts every agent: a type-wide `restart`.
    #[endpoint(post, "/restart", action = "restart")]
    async fn restart() -> StatusCode {
        StatusCode::ACCEPTED
    }

    /// Renames the agent without looking at it: the route still checks
    /// `rename` on the object before this runs.
    #[endpoint(post, "/{id}/rename", action = "rename")]
    async fn rename(Path(id): Path<Uuid>) -> String {
        format!("renamed {id}")
    }

    /// When the agent was looked at.
    #[endpoint(get, "/{id}/seen")]
    async fn seen(agent: Authorized<Agent>) -> Json<Seen> {
        Json(Seen { id: agent.id, at: Utc::now() })
    }

    /// The agent as a record.
    #[endpoint(get, "/{id}/record")]
    async fn record(agent: Authorized<Agent>) -> Json<Record<Agent>> {
        Json(agent.into_record())
    }

    /// Not an endpoint: a helper the block may hold.
    #[allow(dead_code)]
    fn helper() -> u8 {
        7
    }
}

async fn start() -> (TestClient, TestUser, TestUser, String) {
    let settings = Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Agent>()).await;
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
    assert_eq!(client.get("/agents/about").send().await.text(), "agents");

    // Ben cannot see the agent: 404 everywhere, as on generated routes.
    for response in [
        client.get(&format!("/agents/{agent}/status")).bearer(&ben.token).send().await,
        client.post(&format!("/agents/{agent}/command")).bearer(&ben.token).json(&command).send().await,
        client.delete(&format!("/agents/{agent}/cache")).bearer(&ben.token).send().await,
        client.post(&format!("/agents/{agent}/rename")).bearer(&ben.token).send().await,
        client.get(&format!("/agents/{agent}/record")).bearer(&ben.token).send().await,
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
    let root = client.sign_in("root@example.com", "root password").await;
    let check = format!("/agents/{agent}/acl/check?action=command&principal_id={}", ben.id);
    let explained: Value = client.get(&check).bearer(&root.token).send().await.json();
    assert_eq!(explained["rule"], "allow_entry");

    let deny = json!({"principal_id": ben.id, "action": "command", "effect": "deny"});
    client.post(&acl).bearer(&ann.token).json(&deny).send().await.assert_status(201);
    send_command().await.assert_status(403);
    let explained: Value = client.get(&check).bearer(&root.token).send().await.json();
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
    assert_eq!(command["operationId"], "command_agent");
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
    let seen = &doc["components"]["schemas"]["Seen"]["properties"];
    assert_eq!((seen["id"]["format"].as_str(), seen["at"]["format"].as_str()), (Some("uuid"), Some("date-time")));
    // Who may call each endpoint is in the document.
    let described =
        |path: &str, method: &str| doc["paths"][path][method]["description"].as_str().unwrap_or_default().to_owned();
    assert!(described("/agents/stats", "get").contains("anyone signed in"));
    assert!(described("/agents/about", "get").contains("Public"));
    assert!(doc["paths"]["/agents/about"]["get"]["security"].is_null());
    assert!(doc["paths"]["/agents/about"]["get"]["responses"]["401"].is_null());
    assert!(described("/agents/restart", "post").contains("type-wide `restart`"));
    assert!(doc["paths"]["/agents/restart"]["post"]["responses"]["403"].is_object());
    let problems = &command["responses"];
    for status in ["400", "413", "415"] {
        assert!(problems[status].is_object(), "{status} of a JSON body is documented: {problems}");
    }
}

#[tokio::test]
async fn an_endpoint_is_authorized_before_its_handler_whatever_it_takes() {
    let (client, ann, ben, agent) = start().await;
    // The handler takes only `Path<Uuid>`: the route checks `rename` anyway.
    let rename = format!("/agents/{agent}/rename");
    client.post(&rename).send().await.assert_status(401);
    client.post(&rename).bearer(&ben.token).send().await.assert_status(404);
    let acl = format!("/agents/{agent}/acl");
    let read = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&acl).bearer(&ann.token).json(&read).send().await.assert_status(201);
    client.post(&rename).bearer(&ben.token).send().await.assert_status(403);
    let grant = json!({"principal_id": ben.id, "action": "rename", "effect": "allow"});
    client.post(&acl).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let renamed = client.post(&rename).bearer(&ben.token).send().await;
    renamed.assert_status(200);
    assert_eq!(renamed.text(), format!("renamed {agent}"));
    client.post(&rename).bearer(&ann.token).send().await.assert_status(200);

    // A collection path checks the action type-wide: owning one agent is not enough.
    client.post("/agents/restart").send().await.assert_status(401);
    client.post("/agents/restart").bearer(&ann.token).send().await.assert_status(403);
    let admin = client.sign_in("root@example.com", "root password").await;
    let type_wide = json!({"resource": "Agent.restart", "principal_id": ann.id, "effect": "allow"});
    client.post("/acl").bearer(&admin.token).json(&type_wide).send().await.assert_status(201);
    client.post("/agents/restart").bearer(&ann.token).send().await.assert_status(202);
    client.post("/agents/restart").bearer(&ben.token).send().await.assert_status(403);

    // `signed_in` and `public` say so.
    client.get("/agents/stats").send().await.assert_status(401);
    client.get("/agents/about").send().await.assert_status(200);
}

#[tokio::test]
async fn a_record_a_handler_returns_hides_what_the_routes_hide() {
    let (client, ann, ..) = start().await;
    let body = json!({"name": "bot", "token": "s3cret-token"});
    let created: Value = client.post("/agents").bearer(&ann.token).json(&body).send().await.json();
    let id = created["id"].as_str().unwrap_or_default();
    let record = client.get(&format!("/agents/{id}/record")).bearer(&ann.token).send().await;
    record.assert_status(200);
    let generated: Value = client.get(&format!("/agents/{id}")).bearer(&ann.token).send().await.json();
    assert_eq!(record.json::<Value>(), generated, "a record serializes as the generated route answers");
    assert!(!record.text().contains("s3cret-token"), "{}", record.text());
    assert!(record.json::<Value>().get("token").is_none());
}

#[tokio::test]
async fn endpoint_bodies_speak_problem_json() {
    let (client, ann, _, agent) = start().await;
    let command = format!("/agents/{agent}/command");
    let send = |body: &'static str, content_type: &'static str| {
        client.post(&command).bearer(&ann.token).header(CONTENT_TYPE, content_type).body(body).send()
    };
    let problem = |response: &TestResponse, status: u16| {
        response.assert_status(status);
        assert_eq!(response.header("content-type"), Some("application/problem+json"), "{}", response.text());
        response.json::<Value>()
    };
    let unknown = send(r#"{"task": "echo", "tsak": 1}"#, "application/json").await;
    let unknown = problem(&unknown, 400);
    assert_eq!(unknown["errors"][0]["field"], "tsak");
    assert_eq!(unknown["errors"][0]["code"], "unknown");
    let mistyped = problem(&send(r#"{"task": 3}"#, "application/json").await, 400);
    assert_eq!(mistyped["errors"][0]["field"], "task");
    let missing = problem(&send("{}", "application/json").await, 400);
    assert_eq!(missing["errors"][0]["code"], "missing");
    problem(&send("{", "application/json").await, 400);
    problem(&send(r#"{"task": "echo"}"#, "text/plain").await, 415);
    let nul = problem(&send(r#"{"task": "a\u0000b"}"#, "application/json").await, 400);
    assert_eq!(nul["errors"][0]["field"], "task");
    let huge = format!(r#"{{"task": "{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let huge =
        client.post(&command).bearer(&ann.token).header(CONTENT_TYPE, "application/json").body(huge).send().await;
    problem(&huge, 413);
    send(r#"{"task": "echo"}"#, "application/json").await.assert_status(202);
}

/// Another tenant learns nothing from a body: the object check comes first,
/// so a malformed, unknown-field or oversized body to an object it may not
/// see is the same 404 as a good one.
#[tokio::test]
async fn a_body_sent_to_another_tenants_object_is_a_404_before_it_is_read() {
    let (client, _, ben, agent) = start().await;
    let command = format!("/agents/{agent}/command");
    let huge = format!(r#"{{"task": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    for body in [r#"{"task": "echo"}"#.to_owned(), "{".to_owned(), r#"{"tsak": 1}"#.to_owned(), huge] {
        let response =
            client.post(&command).bearer(&ben.token).header(CONTENT_TYPE, "application/json").body(body).send().await;
        response.assert_status(404);
    }
    let missing = format!("/agents/{}/command", Uuid::new_v4());
    client.post(&missing).bearer(&ben.token).json(&json!({"task": "echo"})).send().await.assert_status(404);
}
