//! `#[crud(notify)]`: the owner of an object (the admins of an owning
//! organization) is told of its creation, changes and deletion, by every
//! write path (the routes, the records API), in the change's transaction;
//! a refused change tells no one, and a resource without the option tells
//! no one either.

use fastsaas::axum::extract::Path;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings};

/// A project: its owner hears of every change.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/projects")]
#[crud(notify)]
struct Project {
    #[crud(validate(length(min = 1, max = 50)))]
    name: String,
}

#[endpoints]
impl Project {
    /// Enqueues a reminder about the project named in the body, which the
    /// caller need not have been authorized for: the queue checks.
    #[endpoint(post, "/remind", signed_in)]
    async fn remind(ctx: Ctx, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
        let about = body["about"].as_str().and_then(|id| id.parse().ok()).unwrap_or_default();
        let task = NewTask::new("remind", json!({})).about("Project", about);
        let queued = ctx.tasks().enqueue(task).await?;
        Ok(Json(json!({"task_id": queued.id()})))
    }

    /// Renames through the records API.
    #[endpoint(post, "/{id}/rename", action = "update")]
    async fn rename(ctx: Ctx, Path(id): Path<Uuid>, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        let project = ctx.records::<Project>().update(id, |project| project.name = name).await?;
        Ok(Json(json!({"name": project.name})))
    }
}

/// A note: no notifications.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
struct Note {
    title: String,
}

async fn remind(_task: Task<AppState>) -> TaskResult {
    Ok(json!("reminded"))
}

async fn start() -> TestClient {
    let settings = Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        task_poll_ms: 20,
        ..Settings::default()
    };
    TestClient::start(App::new(settings).resource::<Project>().resource::<Note>().task("remind", remind)).await
}

/// `user`'s notifications, oldest first: `(kind, payload)`.
async fn told(client: &TestClient, user: &TestUser) -> Vec<(String, Value)> {
    let page: Value = client.get("/notifications?sort=seq&page_size=100").bearer(&user.token).send().await.json();
    let items = page["items"].as_array().cloned().unwrap_or_default();
    items.iter().map(|n| (n["kind"].as_str().unwrap_or_default().to_owned(), n["payload"].clone())).collect()
}

fn id_of(record: &Value) -> String {
    record["id"].as_str().unwrap_or_else(|| panic!("no id: {record}")).to_owned()
}

#[tokio::test]
async fn the_owner_hears_of_every_change_through_every_write_path() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let created = client.post("/projects").bearer(&ann.token).json(&json!({"name": "apollo"})).send().await;
    created.assert_status(201);
    let id = id_of(&created.json());
    let path = format!("/projects/{id}");
    client.patch(&path).bearer(&ann.token).json(&json!({"name": "gemini"})).send().await.assert_status(200);
    client.put(&path).bearer(&ann.token).json(&json!({"name": "mercury"})).send().await.assert_status(200);
    let renamed = client.post(&format!("{path}/rename")).bearer(&ann.token).json(&json!({"name": "artemis"})).send();
    renamed.await.assert_status(200);
    client.delete(&path).bearer(&ann.token).send().await.assert_status(204);
    let heard = told(&client, &ann).await;
    let kinds: Vec<&str> = heard.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["Project.created", "Project.updated", "Project.updated", "Project.updated", "Project.deleted"]);
    for (kind, payload) in &heard {
        let change = kind.trim_start_matches("Project.");
        assert_eq!(payload, &json!({"type": "Project", "id": id, "change": change, "by": ann.id}), "{kind}");
    }
}

#[tokio::test]
async fn an_organizations_admins_hear_of_its_objects_and_its_members_do_not() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let carl = client.sign_up("carl@example.com").await;
    let org: Value = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "acme"})).send().await.json();
    let members = format!("/orgs/{}/members", id_of(&org));
    for (user, role) in [(&bob, "admin"), (&carl, "member")] {
        let body = json!({"user_id": user.id, "role": role});
        client.post(&members).bearer(&ann.token).json(&body).send().await.assert_status(204);
    }
    let body = json!({"name": "apollo", "owner_id": org["id"]});
    let created = client.post("/projects").bearer(&ann.token).json(&body).send().await;
    created.assert_status(201);
    for admin in [&ann, &bob] {
        let heard = told(&client, admin).await;
        assert_eq!(heard.len(), 1, "{}: {heard:?}", admin.email);
        assert_eq!(heard[0].0, "Project.created");
        assert_eq!(heard[0].1["by"], json!(ann.id));
    }
    assert_eq!(told(&client, &carl).await, []);
}

#[tokio::test]
async fn refused_changes_and_resources_without_the_option_tell_no_one() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let eve = client.sign_up("eve@example.com").await;
    let created = client.post("/projects").bearer(&ann.token).json(&json!({"name": "apollo"})).send().await;
    let path = format!("/projects/{}", id_of(&created.json()));
    // A stranger's attempts, and the owner's invalid change.
    client.patch(&path).bearer(&eve.token).json(&json!({"name": "mine"})).send().await.assert_status(404);
    client.delete(&path).bearer(&eve.token).send().await.assert_status(404);
    client
        .post(&format!("{path}/rename"))
        .bearer(&eve.token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_status(404);
    client.patch(&path).bearer(&ann.token).json(&json!({"name": ""})).send().await.assert_status(400);
    client
        .post(&format!("{path}/rename"))
        .bearer(&ann.token)
        .json(&json!({"name": ""}))
        .send()
        .await
        .assert_status(400);
    // Notes notify no one.
    let note = client.post("/notes").bearer(&ann.token).json(&json!({"title": "hi"})).send().await;
    note.assert_status(201);
    let note = format!("/notes/{}", id_of(&note.json()));
    client.patch(&note).bearer(&ann.token).json(&json!({"title": "ho"})).send().await.assert_status(200);
    client.delete(&note).bearer(&ann.token).send().await.assert_status(204);
    let kinds: Vec<String> = told(&client, &ann).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds, ["Project.created"]);
    assert_eq!(told(&client, &eve).await, []);
}

#[tokio::test]
async fn an_owner_denied_reading_hears_nothing_of_the_object_or_its_tasks() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let org: Value = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "acme"})).send().await.json();
    let body = json!({"user_id": bob.id, "role": "admin"});
    client
        .post(&format!("/orgs/{}/members", id_of(&org)))
        .bearer(&ann.token)
        .json(&body)
        .send()
        .await
        .assert_status(204);
    let created = client.post("/projects").bearer(&ann.token).json(&json!({"name": "apollo", "owner_id": org["id"]}));
    let project: Value = created.send().await.json();
    let path = format!("/projects/{}", id_of(&project));
    // Bob administers the owner, but this object is hidden from him.
    let deny = json!({"principal_id": bob.id, "action": "*", "effect": "deny"});
    client.post(&format!("{path}/acl")).bearer(&ann.token).json(&deny).send().await.assert_status(201);
    client.get(&path).bearer(&bob.token).send().await.assert_status(404);
    let before = told(&client, &bob).await.len();
    client.patch(&path).bearer(&ann.token).json(&json!({"name": "gemini"})).send().await.assert_status(200);
    let reminded: Value =
        client.post("/projects/remind").bearer(&ann.token).json(&json!({"about": project["id"]})).send().await.json();
    // Ann, who enqueued it, hears how it ended (after it is recorded).
    let started = std::time::Instant::now();
    while !told(&client, &ann).await.iter().any(|(_, payload)| payload["task_id"] == reminded["task_id"]) {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the reminder's ending was not told");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    client.delete(&path).bearer(&ann.token).send().await.assert_status(204);
    assert_eq!(told(&client, &bob).await.len(), before, "Bob heard of an object he may not read");
    let kinds: Vec<String> = told(&client, &ann).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds, ["Project.created", "Project.updated", "task.succeeded", "Project.deleted"]);
}

#[tokio::test]
async fn a_task_about_an_object_the_caller_cannot_read_is_refused() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let eve = client.sign_up("eve@example.com").await;
    let project: Value =
        client.post("/projects").bearer(&ann.token).json(&json!({"name": "apollo"})).send().await.json();
    let about = json!({"about": project["id"]});
    client.post("/projects/remind").bearer(&eve.token).json(&about).send().await.assert_status(404);
    let unknown = json!({"about": Uuid::new_v4()});
    client.post("/projects/remind").bearer(&ann.token).json(&unknown).send().await.assert_status(404);
    client.post("/projects/remind").bearer(&ann.token).json(&about).send().await.assert_status(200);
}

#[tokio::test]
async fn refused_writes_by_a_stranger_do_not_starve_the_pool() {
    let client = start().await;
    let ann = client.sign_up("ann@example.com").await;
    let eve = client.sign_up("eve@example.com").await;
    let project: Value =
        client.post("/projects").bearer(&ann.token).json(&json!({"name": "apollo"})).send().await.json();
    let path = format!("/projects/{}", id_of(&project));
    // More at once than the test pool (4) has connections.
    let started = std::time::Instant::now();
    let attempts = (0..12).map(|n| {
        let (client, path, token) = (&client, path.clone(), eve.token.clone());
        async move {
            if n % 2 == 0 {
                client.delete(&path).bearer(&token).send().await.status().as_u16()
            } else {
                client.patch(&path).bearer(&token).json(&json!({"name": "mine"})).send().await.status().as_u16()
            }
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(statuses.iter().all(|status| *status == 404), "{statuses:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
}
