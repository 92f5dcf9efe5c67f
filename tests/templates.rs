//! Templates (API.md, "Templates"): every route and error, the merge rules,
//! cycles, the depth limit, and access control on templates and clones.

use fastsaas::axum::Json;
use fastsaas::axum::extract::Path;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};

/// A worker cloned from templates.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"])]
#[crud(templated)]
struct Agent {
    #[crud(validate(length(min = 1, max = 100)))]
    name: String,
    config: serde_json::Value,
    #[crud(default = 3)]
    retries: i32,
    #[crud(read_only, default = "idle")]
    status: String,
    #[crud(write_only)]
    webhook_secret: Option<String>,
}

async fn start() -> (TestClient, TestUser, TestUser) {
    let client = TestClient::start(App::new(Default::default()).resource::<Agent>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    (client, ann, ben)
}

async fn template(client: &TestClient, user: &TestUser, body: Value) -> Value {
    let response = client.post("/agents/templates").bearer(&user.token).json(&body).send().await;
    response.assert_status(201);
    response.json()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_chain_resolves_root_first_and_clones_take_the_create_path() {
    let (client, ann, _) = start().await;
    let base = template(
        &client,
        &ann,
        json!({"name": "base scraper", "params": {"config": {"url": "https://a", "depth": 1, "headers": {"ua": "x"}}}}),
    )
    .await;
    assert_eq!(base["parent_id"], Value::Null);
    assert_eq!(base["owner_id"], ann.id.to_string());
    let nightly = template(
        &client,
        &ann,
        json!({"name": "nightly scraper", "parent_id": id(&base),
               "params": {"name": "nightly", "config": {"depth": 3, "headers": null, "tags": ["n"]}}}),
    )
    .await;
    let resolved: Value =
        client.get(&format!("/agents/templates/{}/resolved", id(&nightly))).bearer(&ann.token).send().await.json();
    assert_eq!(resolved, json!({"name": "nightly", "config": {"url": "https://a", "depth": 3, "tags": ["n"]}}));

    let response = client
        .post(&format!("/agents/templates/{}/clone", id(&nightly)))
        .bearer(&ann.token)
        .json(&json!({"config": {"tags": ["x", "y"]}, "webhook_secret": "s3cret"}))
        .send()
        .await;
    response.assert_status(201);
    let agent: Value = response.json();
    assert_eq!(response.header("location"), Some(format!("/agents/{}", id(&agent)).as_str()));
    assert_eq!(agent["template_id"], id(&nightly));
    assert_eq!(agent["name"], "nightly");
    assert_eq!(agent["config"], json!({"url": "https://a", "depth": 3, "tags": ["x", "y"]}));
    assert_eq!(agent["retries"], 3, "defaults apply as in a create");
    assert_eq!(agent["status"], "idle");
    assert!(!response.text().contains("s3cret"));

    // Neither the name nor the params of a template may be null (found by
    // schemathesis: a null name was taken for "no change").
    for null in [json!({"name": null}), json!({"params": null}), json!({"name": null, "parent_id": null})] {
        let refused = client.patch(&format!("/agents/templates/{}", id(&nightly))).bearer(&ann.token).json(&null);
        refused.send().await.assert_status(400);
    }

    // A clone is a copy: changing the template later leaves it alone.
    let changed = json!({"params": {"name": "renamed"}});
    let patch = client.patch(&format!("/agents/templates/{}", id(&nightly))).bearer(&ann.token).json(&changed);
    patch.send().await.assert_status(200);
    let again: Value = client.get(&format!("/agents/{}", id(&agent))).bearer(&ann.token).send().await.json();
    assert_eq!(again["name"], "nightly");
    // A record created directly has no template.
    let plain: Value =
        client.post("/agents").bearer(&ann.token).json(&json!({"name": "p", "config": {}})).send().await.json();
    assert_eq!(plain["template_id"], Value::Null);
}

#[tokio::test]
async fn params_are_checked_against_the_resource_fields() {
    let (client, ann, _) = start().await;
    let bad = [
        (json!({"name": "t", "params": {"nope": 1}}), "params.nope"),
        (json!({"name": "t", "params": {"retries": "three"}}), "params.retries"),
        (json!({"name": "t", "params": {"status": "busy"}}), "params.status"),
        (json!({"name": "t", "params": {"name": ""}}), "params.name"),
        (json!({"name": "t", "params": {"webhook_secret": "x"}}), "params.webhook_secret"),
        (json!({"name": "t", "params": []}), "params"),
        (json!({"name": "", "params": {}}), "name"),
        (json!({"params": {}}), "name"),
        (json!({"name": "t", "params": {}, "id": "x"}), "id"),
    ];
    for (body, field) in bad {
        let response = client.post("/agents/templates").bearer(&ann.token).json(&body).send().await;
        response.assert_status(400);
        let problem: Value = response.json();
        assert!(
            problem["errors"].as_array().is_some_and(|errors| errors.iter().any(|e| e["field"] == field)),
            "{body} names {field}: {problem}"
        );
    }
    // `null` is how a child removes an inherited value, for any known field.
    template(&client, &ann, json!({"name": "t", "params": {"retries": null, "config": null}})).await;
    let clone_of_nothing = template(&client, &ann, json!({"name": "empty", "params": {}})).await;
    // A clone is validated as a create: `name` and `config` are missing.
    let response = client
        .post(&format!("/agents/templates/{}/clone", id(&clone_of_nothing)))
        .bearer(&ann.token)
        .json(&json!({"retries": 1}))
        .send()
        .await;
    response.assert_status(400);
    let fields: Vec<String> = response.json::<Value>()["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    assert!(fields.contains(&"name".to_owned()) && fields.contains(&"config".to_owned()), "{fields:?}");
    let clone = client.post(&format!("/agents/templates/{}/clone", id(&clone_of_nothing))).bearer(&ann.token);
    clone.json(&json!({"name": "x", "config": {}, "status": "busy"})).send().await.assert_status(400);
    let clone = client.post(&format!("/agents/templates/{}/clone", id(&clone_of_nothing))).bearer(&ann.token);
    clone.json(&json!(["not", "an", "object"])).send().await.assert_status(400);
}

#[tokio::test]
async fn cycles_depth_and_children_are_conflicts() {
    let (client, ann, _) = start().await;
    let root = template(&client, &ann, json!({"name": "0", "params": {}})).await;
    let mut chain = vec![id(&root)];
    for n in 1..fastsaas::templates::MAX_DEPTH {
        let parent = chain.last().cloned().unwrap_or_default();
        let child = template(&client, &ann, json!({"name": n.to_string(), "parent_id": parent, "params": {}})).await;
        chain.push(id(&child));
    }
    let deepest = chain.last().cloned().unwrap_or_default();
    let too_deep = json!({"name": "too deep", "parent_id": deepest, "params": {}});
    let response = client.post("/agents/templates").bearer(&ann.token).json(&too_deep).send().await;
    response.assert_status(409);
    assert!(response.text().contains("at most 32"), "{}", response.text());

    // Making the root a child of its own descendant is a cycle.
    let cycle = json!({"parent_id": chain[2]});
    let response =
        client.patch(&format!("/agents/templates/{}", chain[0])).bearer(&ann.token).json(&cycle).send().await;
    response.assert_status(409);
    let own = json!({"parent_id": chain[1]});
    client
        .patch(&format!("/agents/templates/{}", chain[1]))
        .bearer(&ann.token)
        .json(&own)
        .send()
        .await
        .assert_status(409);
    // Re-parenting a chain under a short one may still exceed the limit.
    let other = template(&client, &ann, json!({"name": "other", "params": {}})).await;
    let deep_move = json!({"parent_id": id(&other)});
    let response =
        client.patch(&format!("/agents/templates/{}", chain[0])).bearer(&ann.token).json(&deep_move).send().await;
    response.assert_status(409);
    let shallow_move = json!({"parent_id": id(&other)});
    let patch = client.patch(&format!("/agents/templates/{}", chain[31])).bearer(&ann.token).json(&shallow_move);
    patch.send().await.assert_status(200);
    let unknown = json!({"name": "orphan", "parent_id": Uuid::new_v4(), "params": {}});
    client.post("/agents/templates").bearer(&ann.token).json(&unknown).send().await.assert_status(404);

    // chain[31] now hangs under `other`; chain[30] is a leaf, chain[29] is not.
    let resolved = client.get(&format!("/agents/templates/{}/resolved", chain[31])).bearer(&ann.token).send().await;
    resolved.assert_status(200);
    let delete = |n: usize| client.delete(&format!("/agents/templates/{}", chain[n])).bearer(&ann.token).send();
    delete(29).await.assert_status(409);
    delete(30).await.assert_status(204);
    delete(30).await.assert_status(404);
    delete(29).await.assert_status(204);
    let detach = json!({"parent_id": null});
    let patch = client.patch(&format!("/agents/templates/{}", chain[28])).bearer(&ann.token).json(&detach);
    let detached: Value = patch.send().await.json();
    assert_eq!(detached["parent_id"], Value::Null);
}

#[tokio::test]
async fn templates_are_private_until_shared_and_clones_need_both_checks() {
    let (client, ann, ben) = start().await;
    let mine = template(&client, &ann, json!({"name": "mine", "params": {"name": "a", "config": {}}})).await;
    let path = format!("/agents/templates/{}", id(&mine));
    for route in [path.clone(), format!("{path}/resolved"), format!("{path}/acl")] {
        client.get(&route).bearer(&ben.token).send().await.assert_status(404);
    }
    client.post(&format!("{path}/clone")).bearer(&ben.token).json(&json!({})).send().await.assert_status(404);
    client.patch(&path).bearer(&ben.token).json(&json!({"name": "x"})).send().await.assert_status(404);
    client.delete(&path).bearer(&ben.token).send().await.assert_status(404);
    let listed: Value = client.get("/agents/templates").bearer(&ben.token).send().await.json();
    assert_eq!(listed["total"], 0);
    let under_mine = json!({"name": "child", "parent_id": id(&mine), "params": {}});
    client.post("/agents/templates").bearer(&ben.token).json(&under_mine).send().await.assert_status(404);

    // Shared for reading: Ben sees it, lists it, builds on it and clones it,
    // but may not change it.
    let share = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&format!("{path}/acl")).bearer(&ann.token).json(&share).send().await.assert_status(201);
    client.get(&path).bearer(&ben.token).send().await.assert_status(200);
    let listed: Value = client.get("/agents/templates").bearer(&ben.token).send().await.json();
    assert_eq!(listed["total"], 1);
    client.patch(&path).bearer(&ben.token).json(&json!({"name": "x"})).send().await.assert_status(403);
    template(&client, &ben, under_mine).await;
    let clone = client.post(&format!("{path}/clone")).bearer(&ben.token).send().await;
    clone.assert_status(201);
    assert_eq!(clone.json::<Value>()["owner_id"], ben.id.to_string(), "a clone belongs to whoever clones");
    // Cloning for someone else is refused like any create.
    let for_ann = json!({"owner_id": ann.id});
    client.post(&format!("{path}/clone")).bearer(&ben.token).json(&for_ann).send().await.assert_status(403);
}

#[tokio::test]
async fn a_superadmin_publishes_templates_to_everyone() {
    let settings = fastsaas::Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(fastsaas::Secret(fastsaas::testing::TEST_PASSWORD.into())),
        ..Default::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Agent>()).await;
    let root = client.sign_in("root@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let ben = client.sign_up("ben@example.com").await;
    let public = template(&client, &root, json!({"name": "public", "params": {"name": "p", "config": {}}})).await;
    let path = format!("/agents/templates/{}", id(&public));
    client.get(&path).bearer(&ben.token).send().await.assert_status(404);
    let everyone = json!({"principal_id": Uuid::nil(), "action": "read", "effect": "allow"});
    client.post(&format!("{path}/acl")).bearer(&root.token).json(&everyone).send().await.assert_status(201);
    client.get(&path).bearer(&ben.token).send().await.assert_status(200);
    client.post(&format!("{path}/clone")).bearer(&ben.token).json(&json!({})).send().await.assert_status(201);
    // Type-wide entries name the templates' own type.
    let deny = json!({"resource": "AgentTemplate.read", "principal_id": ben.id, "effect": "deny"});
    client.post("/acl").bearer(&root.token).json(&deny).send().await.assert_status(201);
    client.get(&path).bearer(&ben.token).send().await.assert_status(404);
    // A clone is a create: a type-wide deny of `create` on agents stops it.
    let cy = client.sign_up("cy@example.com").await;
    let no_agents = json!({"resource": "Agent.create", "principal_id": cy.id, "effect": "deny"});
    client.post("/acl").bearer(&root.token).json(&no_agents).send().await.assert_status(201);
    let response = client.post(&format!("{path}/clone")).bearer(&cy.token).json(&json!({})).send().await;
    response.assert_status(403);
}

/// `POST /rust-clone/{id}`: clones through the Rust API.
async fn clone_in_rust(ctx: Ctx, Path(template_id): Path<Uuid>) -> ApiResult<Json<Record<Agent>>> {
    ctx.records::<Agent>().clone_from_template(template_id, json!({"config": {"b": 2}})).await.map(Json)
}

#[tokio::test]
async fn the_rust_api_clones_as_the_caller() {
    let app = App::new(Default::default()).resource::<Agent>().route(Route::post("/rust-clone/{id}", clone_in_rust));
    let client = TestClient::start(app).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let base =
        template(&client, &ann, json!({"name": "base", "params": {"name": "from rust", "config": {"a": 1}}})).await;
    let response = client.post(&format!("/rust-clone/{}", id(&base))).bearer(&ann.token).send().await;
    response.assert_status(200);
    let record: Value = response.json();
    assert_eq!(record["name"], "from rust");
    assert_eq!(record["config"], json!({"a": 1, "b": 2}));
    assert_eq!(record["template_id"], id(&base));
    assert_eq!(record["owner_id"], ann.id.to_string());
    client.post(&format!("/rust-clone/{}", id(&base))).bearer(&ben.token).send().await.assert_status(404);
    client.post(&format!("/rust-clone/{}", id(&base))).send().await.assert_status(401);
}

#[tokio::test]
async fn template_routes_answer_like_any_resource() {
    let (client, ann, _) = start().await;
    for n in 0..3 {
        template(&client, &ann, json!({"name": format!("t{n}"), "params": {}})).await;
    }
    let page: Value = client.get("/agents/templates?page_size=2&sort=-name").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["name"], "t2");
    let filtered: Value = client.get("/agents/templates?name=t1").bearer(&ann.token).send().await.json();
    assert_eq!(filtered["total"], 1);
    client.get("/agents/templates?colour=red").bearer(&ann.token).send().await.assert_status(400);
    client.get("/agents/templates/not-a-uuid").bearer(&ann.token).send().await.assert_status(400);
    client.get(&format!("/agents/templates/{}", Uuid::new_v4())).bearer(&ann.token).send().await.assert_status(404);
    client.get("/agents/templates").send().await.assert_status(401);
    let trailing = client.post("/agents/templates/").bearer(&ann.token).json(&json!({"name": "s", "params": {}}));
    trailing.send().await.assert_status(201);
    client.post("/agents/templates").bearer(&ann.token).body("{").send().await.assert_status(415);
}

#[tokio::test]
async fn openapi_describes_the_templates_and_the_template_id() {
    let (client, _, _) = start().await;
    let doc: Value = client.get("/openapi.json").send().await.json();
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/agents/templates", &["get", "post"][..]),
        ("/agents/templates/{id}", &["get", "patch", "put", "delete"]),
        ("/agents/templates/{id}/resolved", &["get"]),
        ("/agents/templates/{id}/clone", &["post"]),
        ("/agents/templates/{id}/acl", &["get", "post"]),
    ] {
        for method in methods {
            assert!(paths[path][method].is_object(), "{method} {path} is documented");
        }
    }
    assert!(paths["/agents/templates"]["delete"].is_null(), "templates have no clear");
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Agent"]["required"].as_array().is_some_and(|r| r.contains(&json!("template_id"))));
    let template = &schemas["AgentTemplate"]["properties"];
    for property in ["id", "owner_id", "name", "parent_id", "params", "created_at", "updated_at"] {
        assert!(template[property].is_object(), "AgentTemplate.{property}");
    }
    // Params are values of the agent's fields: a client knows their shape.
    for schema in ["AgentTemplate", "AgentTemplateCreate", "AgentTemplatePatch"] {
        assert_eq!(schemas[schema]["properties"]["params"]["$ref"], "#/components/schemas/AgentTemplateParams");
    }
    let params = &schemas["AgentTemplateParams"];
    assert_eq!(params["additionalProperties"], false);
    assert!(params["properties"]["name"].is_object() && params["properties"]["webhook_secret"].is_null(), "{params}");
    let ids: Vec<&str> = paths
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|item| item.as_object())
        .flat_map(|item| item.values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "operation ids are unique: {ids:?}");
}

/// An attack on sharing: Ben reads Ann's template, hangs a child under it,
/// then loses his access. He must not keep reading her later changes
/// through his child, and Ann must not be blocked by his child.
#[tokio::test]
async fn templates_obey_revocation_and_others_children_never_block_the_owner() {
    let (client, ann, ben) = start().await;
    let shared = template(&client, &ann, json!({"name": "shared", "params": {"config": {"token": "v1"}}})).await;
    let shared_path = format!("/agents/templates/{}", id(&shared));
    let read = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    let grant = client.post(&format!("{shared_path}/acl")).bearer(&ann.token).json(&read).send().await;
    grant.assert_status(201);
    let child =
        template(&client, &ben, json!({"name": "mine", "parent_id": id(&shared), "params": {"name": "b"}})).await;
    let child_path = format!("/agents/templates/{}", id(&child));
    let resolved: Value = client.get(&format!("{child_path}/resolved")).bearer(&ben.token).send().await.json();
    assert_eq!(resolved["config"]["token"], "v1");

    // Ann revokes the grant, then changes her template.
    let entry = grant.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
    client.delete(&format!("{shared_path}/acl/{entry}")).bearer(&ann.token).send().await.assert_status(204);
    let changed = json!({"params": {"config": {"token": "v2"}}});
    client.patch(&shared_path).bearer(&ann.token).json(&changed).send().await.assert_status(200);
    for response in [
        client.get(&format!("{child_path}/resolved")).bearer(&ben.token).send().await,
        client.post(&format!("{child_path}/clone")).bearer(&ben.token).json(&json!({})).send().await,
    ] {
        response.assert_status(403);
        assert!(!response.text().contains("v2"), "{}", response.text());
    }
    // The same after an explicit deny beside a renewed allow.
    let everyone = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&format!("{shared_path}/acl")).bearer(&ann.token).json(&everyone).send().await.assert_status(201);
    client.get(&format!("{child_path}/resolved")).bearer(&ben.token).send().await.assert_status(200);
    let deny = json!({"principal_id": ben.id, "action": "read", "effect": "deny"});
    client.post(&format!("{shared_path}/acl")).bearer(&ann.token).json(&deny).send().await.assert_status(201);
    client.get(&format!("{child_path}/resolved")).bearer(&ben.token).send().await.assert_status(403);

    // Ann deletes her template despite Ben's child, which becomes a root
    // with its own params only.
    client.delete(&shared_path).bearer(&ann.token).send().await.assert_status(204);
    let orphan: Value = client.get(&child_path).bearer(&ben.token).send().await.json();
    assert_eq!(orphan["parent_id"], Value::Null);
    let resolved: Value = client.get(&format!("{child_path}/resolved")).bearer(&ben.token).send().await.json();
    assert_eq!(resolved, json!({"name": "b"}));

    // Her own children still block her (API.md: 409).
    let root = template(&client, &ann, json!({"name": "root", "params": {}})).await;
    template(&client, &ann, json!({"name": "leaf", "parent_id": id(&root), "params": {}})).await;
    let blocked = client.delete(&format!("/agents/templates/{}", id(&root))).bearer(&ann.token).send().await;
    blocked.assert_status(409);
}

/// Two moves racing: A under B and B under A at the same moment. One wins;
/// no cycle is ever stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_moves_never_make_a_cycle() {
    let (client, ann, _) = start().await;
    for round in 0..30 {
        let a = id(&template(&client, &ann, json!({"name": format!("a{round}"), "params": {}})).await);
        let b = id(&template(&client, &ann, json!({"name": format!("b{round}"), "params": {}})).await);
        let (path_a, path_b) = (format!("/agents/templates/{a}"), format!("/agents/templates/{b}"));
        let (moved_a, moved_b) = tokio::join!(
            client.patch(&path_a).bearer(&ann.token).json(&json!({"parent_id": b})).send(),
            client.patch(&path_b).bearer(&ann.token).json(&json!({"parent_id": a})).send(),
        );
        let mut statuses = [moved_a.status().as_u16(), moved_b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: exactly one move wins");
        for path in [&path_a, &path_b] {
            client.get(&format!("{path}/resolved")).bearer(&ann.token).send().await.assert_status(200);
        }
    }
}
