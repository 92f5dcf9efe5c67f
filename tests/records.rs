//! The Rust API for records (`ctx.records::<T>()`), called from custom
//! endpoints: the routes' authorization, rules, ownership and
//! `updated_at`, server-only fields settable by the app, and no lost
//! update when many handlers change one record at once.

use fastsaas::axum::extract::Path;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};

/// A worker whose status and run count only the server changes.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    #[crud(validate(length(min = 1, max = 20)), filter)]
    name: String,
    #[crud(read_only, default = "idle")]
    status: String,
    #[crud(hidden, default = 0)]
    runs: i64,
    #[crud(write_only)]
    token: Option<String>,
}

/// What `spawn` takes: names of agents to create, and for whom.
#[derive(Deserialize)]
struct Spawn {
    names: Vec<String>,
    owner_id: Option<Uuid>,
}

#[endpoints]
impl Agent {
    /// Starts the agent: its status and run count change, as the caller.
    #[endpoint(post, "/{id}/start", signed_in)]
    async fn start(ctx: Ctx, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
        let agent = ctx
            .records::<Agent>()
            .update(id, |agent| {
                agent.status = "busy".into();
                agent.runs += 1;
            })
            .await?;
        Ok(Json(json!({"record": agent, "runs": agent.runs})))
    }

    /// Renames the agent through the Rust API (its rules apply).
    #[endpoint(post, "/{id}/rename", signed_in)]
    async fn rename(ctx: Ctx, Path(id): Path<Uuid>, Json(name): Json<String>) -> ApiResult<Json<Record<Agent>>> {
        ctx.records::<Agent>().update(id, |agent| agent.name = name).await.map(Json)
    }

    /// Creates several agents at once.
    #[endpoint(post, "/spawn", signed_in)]
    async fn spawn(ctx: Ctx, Json(spawn): Json<Spawn>) -> ApiResult<Json<Vec<Record<Agent>>>> {
        let records = ctx.records::<Agent>();
        let mut created = Vec::new();
        for name in spawn.names {
            let agent = Agent { name, status: "new".into(), runs: 0, token: Some("secret".into()) };
            created.push(match spawn.owner_id {
                Some(owner) => records.create_owned_by(owner, agent).await?,
                None => records.create(agent).await?,
            });
        }
        Ok(Json(created))
    }

    /// The agent, read through the Rust API, with its hidden count.
    #[endpoint(get, "/{id}/peek", signed_in)]
    async fn peek(ctx: Ctx, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
        let agent = ctx.records::<Agent>().get(id).await?;
        Ok(Json(json!({"name": agent.name, "runs": agent.runs, "has_token": agent.token.is_some()})))
    }

    /// The names of the agents the caller may read that match `query`.
    #[endpoint(get, "/names", signed_in)]
    async fn names(ctx: Ctx, query: fastsaas::axum::extract::RawQuery) -> ApiResult<Json<Value>> {
        let page = ctx.records::<Agent>().list(query.0.as_deref().unwrap_or_default()).await?;
        let names: Vec<&str> = page.items.iter().map(|agent| agent.name.as_str()).collect();
        Ok(Json(json!({"names": names, "total": page.total})))
    }

    /// Deletes the agent through the Rust API.
    #[endpoint(post, "/{id}/retire", signed_in)]
    async fn retire(ctx: Ctx, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
        ctx.records::<Agent>().delete(id).await?;
        Ok(Json(json!({"deleted": id})))
    }
}

async fn start() -> (TestClient, TestUser, TestUser) {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    (client, ann, bob)
}

async fn spawn(client: &TestClient, user: &TestUser, names: &[&str]) -> Vec<String> {
    let created = client.post("/agents/spawn").bearer(&user.token).json(&json!({"names": names})).send().await;
    created.assert_status(200);
    created.json::<Vec<Value>>().iter().map(|agent| agent["id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn creates_as_the_caller_with_rules_and_ownership() {
    let (client, ann, bob) = start().await;
    let created = client.post("/agents/spawn").bearer(&ann.token).json(&json!({"names": ["a"]})).send().await;
    created.assert_status(200);
    let agent = &created.json::<Vec<Value>>()[0];
    assert_eq!(agent["owner_id"], json!(ann.id), "owned by the caller");
    assert_eq!(agent["status"], "new", "the app sets a read-only field");
    assert!(agent.get("token").is_none() && agent.get("runs").is_none(), "secrets stay out of the record: {agent}");
    assert_eq!(agent["created_at"], agent["updated_at"]);

    let too_long =
        client.post("/agents/spawn").bearer(&ann.token).json(&json!({"names": ["x".repeat(21)]})).send().await;
    too_long.assert_status(400);
    assert_eq!(too_long.json::<Value>()["errors"][0]["field"], "name");

    let foreign = json!({"names": ["b"], "owner_id": bob.id});
    client.post("/agents/spawn").bearer(&ann.token).json(&foreign).send().await.assert_status(403);
    let listed: Value = client.get("/agents").bearer(&bob.token).send().await.json();
    assert_eq!(listed["items"], json!([]), "nothing was planted on bob");
}

#[tokio::test]
async fn changes_server_fields_under_the_callers_permissions() {
    let (client, ann, bob) = start().await;
    let id = &spawn(&client, &ann, &["a"]).await[0];
    let before: Value = client.get(&format!("/agents/{id}")).bearer(&ann.token).send().await.json();

    let started = client.post(&format!("/agents/{id}/start")).bearer(&ann.token).send().await;
    started.assert_status(200);
    let body: Value = started.json();
    assert_eq!(body["record"]["status"], "busy");
    assert_eq!(body["runs"], 1);
    assert_ne!(body["record"]["updated_at"], before["updated_at"], "updated_at moves");
    let peek: Value = client.get(&format!("/agents/{id}/peek")).bearer(&ann.token).send().await.json();
    assert_eq!(peek, json!({"name": "a", "runs": 1, "has_token": true}), "the write-only value is kept");

    // bob may not read ann's agent: the API hides it as the routes do.
    client.post(&format!("/agents/{id}/start")).bearer(&bob.token).send().await.assert_status(404);
    client.get(&format!("/agents/{id}/peek")).bearer(&bob.token).send().await.assert_status(404);
    client.post(&format!("/agents/{id}/retire")).bearer(&bob.token).send().await.assert_status(404);
    // Once bob may read it, changing it is still refused.
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/agents/{id}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    client.post(&format!("/agents/{id}/start")).bearer(&bob.token).send().await.assert_status(403);
    client.get(&format!("/agents/{id}/peek")).bearer(&bob.token).send().await.assert_status(200);

    let bad = client.post(&format!("/agents/{id}/rename")).bearer(&ann.token).json(&"").send().await;
    bad.assert_status(400);
    let after: Value = client.get(&format!("/agents/{id}")).bearer(&ann.token).send().await.json();
    assert_eq!(after["name"], "a", "a refused change writes nothing");

    client.post(&format!("/agents/{id}/retire")).bearer(&ann.token).send().await.assert_status(200);
    client.get(&format!("/agents/{id}")).bearer(&ann.token).send().await.assert_status(404);
}

#[tokio::test]
async fn lists_what_the_caller_may_read_with_the_routes_query() {
    let (client, ann, bob) = start().await;
    spawn(&client, &ann, &["a", "b"]).await;
    spawn(&client, &bob, &["b"]).await;
    let all: Value = client.get("/agents/names").bearer(&ann.token).send().await.json();
    assert_eq!(all, json!({"names": ["a", "b"], "total": 2}));
    let filtered: Value = client.get("/agents/names?name=b").bearer(&ann.token).send().await.json();
    assert_eq!(filtered, json!({"names": ["b"], "total": 1}));
    let bad = client.get("/agents/names?colour=red").bearer(&ann.token).send().await;
    bad.assert_status(400);
}

/// Many handlers change one record at once, on threads of their own: each
/// change reads the value the previous one wrote, so none is lost, and none
/// fails (on SQLite a transaction that read before it wrote would fail when
/// another commit came in between; it takes the write lock first).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_are_never_lost() {
    let (client, ann, _) = start().await;
    let id = &spawn(&client, &ann, &["a"]).await[0];
    let path = format!("/agents/{id}/start");
    let starts = (0..32).map(|_| client.post(&path).bearer(&ann.token).send());
    for response in futures_util::future::join_all(starts).await {
        response.assert_status(200);
    }
    let peek: Value = client.get(&format!("/agents/{id}/peek")).bearer(&ann.token).send().await.json();
    assert_eq!(peek["runs"], 32, "every start counted");
}
