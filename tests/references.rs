//! References between resources (`#[crud(references = Parent)]`): a
//! reference must name an object the caller may see (404 otherwise, the
//! same whether it exists or not), deleting a parent does what its children
//! declare (restrict, cascade, set_null), on SQLite and PostgreSQL alike,
//! also when a child is created while its parent is deleted.

use std::sync::Arc;

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings, StartupError};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/projects", acl_admins = ["superadmin"])]
struct Project {
    name: String,
}

/// Needs its project (`restrict`, the default).
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/environments")]
struct Environment {
    #[crud(filter, sort)]
    name: String,
    #[crud(references(Project, expand))]
    project_id: Uuid,
}

/// Goes with its environment; cached, so a cascade must reach the cache.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/deployments")]
#[crud(cache(ttl_secs = 300))]
struct Deployment {
    version: String,
    #[crud(references(Environment, on_delete = cascade))]
    environment_id: Uuid,
}

/// Outlives its environment.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
    #[crud(references(Environment, on_delete = set_null))]
    environment_id: Option<Uuid>,
}

/// Pointing at a project needs the right to update it.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/pins")]
struct Pin {
    #[crud(references(Project, action = "update", on_delete = cascade))]
    project_id: Uuid,
}

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("the root password".into())),
        ..Settings::default()
    }
}

fn app() -> App {
    // Children before parents: the app orders the tables itself.
    App::new(settings())
        .resource::<Pin>()
        .resource::<Agent>()
        .resource::<Deployment>()
        .resource::<Environment>()
        .resource::<Project>()
}

async fn create(client: &TestClient, user: &TestUser, path: &str, body: Value) -> String {
    let created = client.post(path).bearer(&user.token).json(&body).send().await;
    created.assert_status(201);
    created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned()
}

fn detail(response: &fastsaas::testing::TestResponse) -> String {
    response.json::<Value>()["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_reference_must_name_an_object_the_caller_may_read() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let anns = create(&client, &ann, "/projects", json!({"name": "ann's"})).await;
    let bobs = create(&client, &bob, "/projects", json!({"name": "bob's"})).await;

    create(&client, &ann, "/environments", json!({"name": "prod", "project_id": anns})).await;
    // Bob's project and no project at all answer alike: nothing leaks.
    let mut answers = Vec::new();
    for target in [bobs.clone(), Uuid::new_v4().to_string()] {
        let refused = client
            .post("/environments")
            .bearer(&ann.token)
            .json(&json!({"name": "x", "project_id": target}))
            .send()
            .await;
        refused.assert_status(404);
        assert_eq!(detail(&refused), "no such Project named by `project_id`");
        answers.push(refused.json::<Value>());
    }
    assert_eq!(answers[0], answers[1], "an existing project of another answers as a missing one");

    // Once Bob lets Ann read it, she may point at it; a change of the
    // reference is checked like a create.
    let grant = json!({"principal_id": ann.id, "action": "read", "effect": "allow"});
    client.post(&format!("/projects/{bobs}/acl")).bearer(&bob.token).json(&grant).send().await.assert_status(201);
    let env = create(&client, &ann, "/environments", json!({"name": "shared", "project_id": bobs})).await;
    let carol = client.sign_up("carol@example.com").await;
    let carols = create(&client, &carol, "/projects", json!({"name": "carol's"})).await;
    let path = format!("/environments/{env}");
    let moved = client.patch(&path).bearer(&ann.token).json(&json!({"project_id": carols})).send().await;
    moved.assert_status(404);
    assert_eq!(detail(&moved), "no such Project named by `project_id`");
    let back = client.patch(&path).bearer(&ann.token).json(&json!({"project_id": anns})).send().await;
    back.assert_status(200);
    assert_eq!(back.json::<Value>()["project_id"], anns.as_str());
    let replaced = client.put(&path).bearer(&ann.token).json(&json!({"name": "n", "project_id": carols})).send().await;
    replaced.assert_status(404);
}

#[tokio::test]
async fn a_stated_action_is_needed_on_the_target() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let bobs = create(&client, &bob, "/projects", json!({"name": "bob's"})).await;
    let acl = format!("/projects/{bobs}/acl");
    let read = json!({"principal_id": ann.id, "action": "read", "effect": "allow"});
    client.post(&acl).bearer(&bob.token).json(&read).send().await.assert_status(201);

    let refused = client.post("/pins").bearer(&ann.token).json(&json!({"project_id": bobs})).send().await;
    refused.assert_status(403);
    assert!(detail(&refused).contains("`project_id`"), "{}", detail(&refused));
    let update = json!({"principal_id": ann.id, "action": "update", "effect": "allow"});
    client.post(&acl).bearer(&bob.token).json(&update).send().await.assert_status(201);
    create(&client, &ann, "/pins", json!({"project_id": bobs})).await;
}

#[tokio::test]
async fn restrict_refuses_a_parent_with_children_and_names_them() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    let env = create(&client, &ann, "/environments", json!({"name": "e", "project_id": project})).await;

    let refused = client.delete(&format!("/projects/{project}")).bearer(&ann.token).send().await;
    refused.assert_status(409);
    assert!(detail(&refused).contains("Environment (by `project_id`)"), "{}", detail(&refused));
    client.get(&format!("/projects/{project}")).bearer(&ann.token).send().await.assert_status(200);
    // So is a clear, and the deletion of the owner.
    let root = client.sign_in("root@example.com", "the root password").await;
    client.delete("/projects").bearer(&root.token).send().await.assert_status(409);

    client.delete(&format!("/environments/{env}")).bearer(&ann.token).send().await.assert_status(204);
    client.delete(&format!("/projects/{project}")).bearer(&ann.token).send().await.assert_status(204);
}

#[tokio::test]
async fn an_owner_whose_objects_others_still_refer_to_is_not_deleted() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/projects/{project}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let env = create(&client, &bob, "/environments", json!({"name": "bob's", "project_id": project})).await;

    let refused = client.delete(&format!("/users/{}", ann.id)).bearer(&ann.token).send().await;
    refused.assert_status(409);
    client.get("/me").bearer(&ann.token).send().await.assert_status(200);
    client.delete(&format!("/environments/{env}")).bearer(&bob.token).send().await.assert_status(204);
    client.delete(&format!("/users/{}", ann.id)).bearer(&ann.token).send().await.assert_status(204);
}

#[tokio::test]
async fn deleting_an_owner_deletes_its_children_before_their_parents() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    create(&client, &ann, "/environments", json!({"name": "e", "project_id": project})).await;
    client.delete(&format!("/users/{}", ann.id)).bearer(&ann.token).send().await.assert_status(204);
}

#[tokio::test]
async fn cascade_deletes_children_with_their_entries_and_set_null_clears_the_reference() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    let env = create(&client, &ann, "/environments", json!({"name": "e", "project_id": project})).await;
    let deployment = create(&client, &ann, "/deployments", json!({"version": "1", "environment_id": env})).await;
    let agent = create(&client, &ann, "/agents", json!({"name": "a", "environment_id": env})).await;
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    let acl = format!("/deployments/{deployment}/acl");
    client.post(&acl).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    // Cached, for both.
    for user in [&ann, &bob] {
        client.get(&format!("/deployments/{deployment}")).bearer(&user.token).send().await.assert_status(200);
    }

    client.delete(&format!("/environments/{env}")).bearer(&ann.token).send().await.assert_status(204);
    for user in [&ann, &bob] {
        let gone = client.get(&format!("/deployments/{deployment}")).bearer(&user.token).send().await;
        gone.assert_status(404);
    }
    let db = own_connection(&client).await;
    let entries = count(&db, "SELECT COUNT(*) AS n FROM fastsaas_acl_entries WHERE object_id = $1", &deployment).await;
    assert_eq!(entries, 0, "the cascaded child's ACL entries went with it");
    let agent = client.get(&format!("/agents/{agent}")).bearer(&ann.token).send().await.json::<Value>();
    assert_eq!(agent["environment_id"], Value::Null, "set_null: {agent}");
}

#[tokio::test]
async fn the_database_keeps_the_rule_for_writes_behind_the_apps_back() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    create(&client, &ann, "/environments", json!({"name": "e", "project_id": project})).await;
    let db = own_connection(&client).await;
    let backend = db.get_database_backend();
    let by_hand =
        Statement::from_sql_and_values(backend, "DELETE FROM projects WHERE id = $1", [uuid(&project).into()]);
    assert!(db.execute_raw(by_hand).await.is_err(), "a foreign key refuses the deletion");
    let dangling =
        Statement::from_sql_and_values(backend, "UPDATE environments SET project_id = $1", [Uuid::new_v4().into()]);
    assert!(db.execute_raw(dangling).await.is_err(), "a foreign key refuses a reference to nothing");
}

/// Creating a child while its parent is deleted, 20 times over: either
/// the child exists and the parent's deletion was refused, or the parent
/// is gone and the create was refused; never a child of nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_created_while_its_parent_is_deleted_ends_consistent() {
    let client = Arc::new(TestClient::start(app()).await);
    let ann = client.sign_up("ann@example.com").await;
    for round in 0..20 {
        let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
        let (creating, deleting) = (Arc::clone(&client), Arc::clone(&client));
        let (token, again) = (ann.token.clone(), ann.token.clone());
        let body = json!({"name": "racer", "project_id": project});
        let child = tokio::spawn(async move {
            let created = creating.post("/environments").bearer(&token).json(&body).send().await;
            created.status().as_u16()
        });
        let path = format!("/projects/{project}");
        let parent = tokio::spawn(async move { deleting.delete(&path).bearer(&again).send().await.status().as_u16() });
        let (child, parent) = (child.await.unwrap(), parent.await.unwrap());
        assert!(
            matches!((child, parent), (201, 409) | (404, 204)),
            "round {round}: the create answered {child}, the deletion {parent}"
        );
        let listed: Value = client.get("/environments").bearer(&ann.token).send().await.json();
        for env in listed["items"].as_array().into_iter().flatten() {
            let parent = env["project_id"].as_str().unwrap_or_default();
            client.get(&format!("/projects/{parent}")).bearer(&ann.token).send().await.assert_status(200);
        }
    }
}

#[tokio::test]
async fn a_target_the_app_does_not_serve_or_an_unknown_action_stops_start_up() {
    let missing = TestClient::try_start(App::new(settings()).resource::<Environment>()).await;
    let error = missing.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(error.contains("`Environment.project_id` references `Project`, which the app does not serve"), "{error}");

    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/tags")]
    struct Tag {
        #[crud(references(Project, action = "attach"))]
        project_id: Uuid,
    }
    let unknown = TestClient::try_start(App::new(settings()).resource::<Project>().resource::<Tag>()).await;
    assert!(
        matches!(&unknown, Err(StartupError::Config(why)) if why.contains("`Tag.project_id`") && why.contains("attach")),
        "{unknown:?}"
    );
}

async fn own_connection(client: &TestClient) -> DatabaseConnection {
    Database::connect(client.settings().database_url.as_str())
        .await
        .unwrap_or_else(|err| panic!("a connection of the test's own: {err}"))
}

fn uuid(text: &str) -> Uuid {
    text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
}

async fn count(db: &DatabaseConnection, sql: &str, id: &str) -> i64 {
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [uuid(id).into()]);
    let row = db.query_one_raw(statement).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    row.and_then(|row| row.try_get::<i64>("", "n").ok()).unwrap_or_else(|| panic!("{sql}: no count"))
}

#[tokio::test]
async fn nested_routes_list_and_create_a_parents_children() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    let other = create(&client, &ann, "/projects", json!({"name": "other"})).await;
    let nested = format!("/projects/{project}/environments");

    let created = client.post(&nested).bearer(&ann.token).json(&json!({"name": "b-prod"})).send().await;
    created.assert_status(201);
    let record = created.json::<Value>();
    assert_eq!(record["project_id"], project.as_str(), "the reference comes from the path");
    let location = created.header("location").unwrap_or_default();
    assert_eq!(location, format!("/environments/{}", record["id"].as_str().unwrap_or_default()));
    client
        .post(&nested)
        .bearer(&ann.token)
        .json(&json!({"name": "a-dev", "project_id": project}))
        .send()
        .await
        .assert_status(201);
    create(&client, &ann, "/environments", json!({"name": "elsewhere", "project_id": other})).await;
    let elsewhere =
        client.post(&nested).bearer(&ann.token).json(&json!({"name": "x", "project_id": other})).send().await;
    elsewhere.assert_status(400);
    assert_eq!(elsewhere.json::<Value>()["errors"][0]["field"], "project_id");

    // The same page, filter and sort rules as the type's own list.
    let page: Value = client.get(&format!("{nested}?sort=name&page_size=1")).bearer(&ann.token).send().await.json();
    let names: Vec<&str> = page["items"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["a-dev"]);
    let after = page["next"].as_str().unwrap_or_default().to_owned();
    let next: Value =
        client.get(&format!("{nested}?sort=name&page_size=1&after={after}")).bearer(&ann.token).send().await.json();
    assert_eq!(next["items"][0]["name"], "b-prod", "{next}");
    assert_eq!(next["next"], Value::Null, "only this project's children: {next}");
    let filtered: Value = client.get(&format!("{nested}?name=b-prod")).bearer(&ann.token).send().await.json();
    assert_eq!(filtered["total"], 1, "{filtered}");

    // Bob may not read the project: 404 for it, on both routes, as for a
    // project that does not exist.
    for path in [nested.clone(), format!("/projects/{}/environments", Uuid::new_v4())] {
        let listed = client.get(&path).bearer(&bob.token).send().await;
        listed.assert_status(404);
        assert_eq!(detail(&listed), "no such Project");
        let posted = client.post(&path).bearer(&bob.token).json(&json!({"name": "x"})).send().await;
        posted.assert_status(404);
    }
    // A child Bob may not read is not listed to him even under a parent he may.
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/projects/{project}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let his: Value = client.get(&nested).bearer(&bob.token).send().await.json();
    assert_eq!(his["items"], json!([]), "{his}");

    let document: Value = client.get("/openapi.json").send().await.json();
    let paths = &document["paths"]["/projects/{id}/environments"];
    assert!(paths["get"].is_object() && paths["post"].is_object(), "{paths}");
    let field = &document["components"]["schemas"]["Environment"]["properties"]["project_id"];
    assert!(field["description"].as_str().unwrap_or_default().contains("The id of a Project"), "{field}");
}

#[tokio::test]
async fn expand_embeds_what_the_caller_may_read_with_one_query_per_reference() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let project = create(&client, &ann, "/projects", json!({"name": "p"})).await;
    let env = create(&client, &ann, "/environments", json!({"name": "e", "project_id": project})).await;
    let project_record: Value = client.get(&format!("/projects/{project}")).bearer(&ann.token).send().await.json();

    let read: Value = client.get(&format!("/environments/{env}?expand=project")).bearer(&ann.token).send().await.json();
    assert_eq!(read["expand"]["project"], project_record, "{read}");
    assert_eq!(read["project_id"], project.as_str());
    let plain: Value = client.get(&format!("/environments/{env}")).bearer(&ann.token).send().await.json();
    assert!(plain.get("expand").is_none(), "only when asked: {plain}");

    // Bob may read the environment, not its project: the reference stays an id.
    let grant = json!({"principal_id": bob.id, "action": "read", "effect": "allow"});
    client.post(&format!("/environments/{env}/acl")).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let his: Value = client.get(&format!("/environments/{env}?expand=project")).bearer(&bob.token).send().await.json();
    assert_eq!(his["expand"], json!({}), "{his}");
    assert_eq!(his["project_id"], project.as_str());

    // A list costs the same statements for one row as for many.
    let statements = |count: usize| {
        let client = &client;
        let token = ann.token.clone();
        async move {
            let listed = client.get("/environments?expand=project").bearer(&token).send().await;
            listed.assert_status(200);
            let page = listed.json::<Value>();
            assert_eq!(page["items"].as_array().map(Vec::len), Some(count), "{page}");
            for item in page["items"].as_array().into_iter().flatten() {
                assert_eq!(item["expand"]["project"]["id"], item["project_id"], "{item}");
            }
            listed.statements().len()
        }
    };
    let one = statements(1).await;
    for name in ["two", "three", "four"] {
        let other = create(&client, &ann, "/projects", json!({"name": name})).await;
        create(&client, &ann, "/environments", json!({"name": name, "project_id": other})).await;
    }
    assert_eq!(statements(4).await, one, "one query per expanded reference, not per row");
    let nested: Value =
        client.get(&format!("/projects/{project}/environments?expand=project")).bearer(&ann.token).send().await.json();
    assert_eq!(nested["items"][0]["expand"]["project"], project_record, "{nested}");

    for (path, known) in [
        ("/environments?expand=owner", "project"),
        (&*format!("/environments/{env}?expand=projects"), "project"),
        ("/deployments?expand=environment", "none"),
    ] {
        let refused = client.get(path).bearer(&ann.token).send().await;
        refused.assert_status(400);
        assert!(detail(&refused).ends_with(known), "{path}: {}", detail(&refused));
    }
    let document: Value = client.get("/openapi.json").send().await.json();
    let parameters = document["paths"]["/environments/{id}"]["get"]["parameters"].to_string();
    assert!(parameters.contains("\"expand\""), "{parameters}");
}
