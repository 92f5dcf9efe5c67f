//! Access control on resource routes (DESIGN.md section 3): ownership,
//! organizations, allow and deny entries, scope roles, 404 versus 403, the
//! ACL routes, and lists that show exactly what a read check allows.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings};
use http::Method;

/// A document.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes", acl_admins = ["auditor"], acl_allow_always = ["superadmin"])]
struct Doc {
    #[crud(filter, sort)]
    title: String,
}

struct World {
    client: TestClient,
    root: TestUser,
    ann: TestUser,
    ben: TestUser,
}

async fn world() -> World {
    let settings = Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Doc>()).await;
    let root = client.sign_in("root@example.com", "root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    World { client, root, ann, ben }
}

async fn create_doc(client: &TestClient, user: &TestUser, body: Value) -> Value {
    let response = client.post("/notes").bearer(&user.token).json(&body).send().await;
    response.assert_status(201);
    response.json()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}

async fn status(client: &TestClient, user: &TestUser, method: Method, path: &str, body: Value) -> u16 {
    client.request(method, path).bearer(&user.token).json(&body).send().await.status().as_u16()
}

async fn titles(client: &TestClient, user: &TestUser) -> Vec<String> {
    let page: Value = client.get("/notes?sort=title").bearer(&user.token).send().await.json();
    page["items"].as_array().into_iter().flatten().filter_map(|d| d["title"].as_str().map(str::to_owned)).collect()
}

async fn entry(client: &TestClient, owner: &TestUser, doc: &str, principal: &str, action: &str, effect: &str) -> Value {
    let body = json!({"principal_id": principal, "action": action, "effect": effect});
    let response = client.post(&format!("/notes/{doc}/acl")).bearer(&owner.token).json(&body).send().await;
    response.assert_status(201);
    response.json()
}

#[tokio::test]
async fn another_users_object_is_invisible_on_every_route() {
    let World { client, ann, ben, .. } = world().await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "ann's"})).await);
    let path = format!("/notes/{doc}");
    for (method, path, body) in [
        (Method::GET, path.clone(), json!(null)),
        (Method::PATCH, path.clone(), json!({"title": "x"})),
        (Method::PUT, path.clone(), json!({"title": "x"})),
        (Method::DELETE, path.clone(), json!(null)),
        (Method::GET, format!("{path}/acl"), json!(null)),
        (Method::POST, format!("{path}/acl"), json!({"principal_id": ben.id, "action": "read", "effect": "allow"})),
        (Method::DELETE, format!("{path}/acl/{}", Uuid::new_v4()), json!(null)),
        (Method::GET, format!("{path}/acl/check?action=read"), json!(null)),
    ] {
        assert_eq!(status(&client, &ben, method.clone(), &path, body).await, 404, "{method} {path}");
    }
    assert!(titles(&client, &ben).await.is_empty());
    let page: Value = client.get("/notes").bearer(&ben.token).send().await.json();
    assert_eq!(page["total"], 0, "totals count only what the caller may read");
    assert_eq!(titles(&client, &ann).await, ["ann's"]);
}

#[tokio::test]
async fn an_allow_entry_shares_and_read_only_callers_get_403() {
    let World { client, ann, ben, .. } = world().await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "shared"})).await);
    entry(&client, &ann, &doc, &ben.id.to_string(), "read", "allow").await;
    let path = format!("/notes/{doc}");
    assert_eq!(status(&client, &ben, Method::GET, &path, json!(null)).await, 200);
    assert_eq!(titles(&client, &ben).await, ["shared"]);
    assert_eq!(status(&client, &ben, Method::PATCH, &path, json!({"title": "mine now"})).await, 403);
    assert_eq!(status(&client, &ben, Method::DELETE, &path, json!(null)).await, 403);
    assert_eq!(status(&client, &ben, Method::GET, &format!("{path}/acl"), json!(null)).await, 403);
    let check: Value = client.get(&format!("{path}/acl/check?action=update")).bearer(&ben.token).send().await.json();
    assert_eq!(check["allowed"], false);
    assert_eq!(check["rule"], "no_rule");
}

#[tokio::test]
async fn deny_beats_allow_for_users_roles_organizations_and_everyone() {
    let World { mut client, root, ann, ben } = world().await;
    // A role for ben, and an organization he belongs to.
    client.act_as(&root);
    let role: Value = client.post("/roles").json(&json!({"name": "staff"})).send().await.json();
    client
        .post(&format!("/roles/{}/members", id_of(&role)))
        .json(&json!({"user_id": ben.id}))
        .send()
        .await
        .assert_status(204);
    let org = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "Acme"})).send().await.json::<Value>();
    let org_members = format!("/orgs/{}/members", id_of(&org));
    client
        .post(&org_members)
        .bearer(&ann.token)
        .json(&json!({"user_id": ben.id, "role": "member"}))
        .send()
        .await
        .assert_status(204);
    let ben = client.sign_in("ben@example.com", fastsaas::testing::TEST_PASSWORD).await;

    for (principal, label) in [
        (ben.id.to_string(), "user"),
        (id_of(&role), "role"),
        (id_of(&org), "organization"),
        (Uuid::nil().to_string(), "authenticated users"),
    ] {
        let doc = id_of(&create_doc(&client, &ann, json!({"title": label})).await);
        entry(&client, &ann, &doc, &ben.id.to_string(), "*", "allow").await;
        let path = format!("/notes/{doc}");
        assert_eq!(status(&client, &ben, Method::GET, &path, json!(null)).await, 200, "{label}: allowed first");
        let deny = entry(&client, &ann, &doc, &principal, "read", "deny").await;
        assert_eq!(status(&client, &ben, Method::GET, &path, json!(null)).await, 404, "{label}: deny beats allow");
        assert!(!titles(&client, &ben).await.contains(&label.to_owned()), "{label}: gone from lists");
        let check: Value = client
            .get(&format!("{path}/acl/check?action=read&principal_id={}", ben.id))
            .bearer(&root.token)
            .send()
            .await
            .json();
        assert_eq!((check["allowed"].clone(), check["rule"].clone()), (json!(false), json!("deny_entry")), "{label}");
        assert_eq!(check["entry"], deny["id"]);
    }
}

#[tokio::test]
async fn organization_admins_manage_and_members_read() {
    let World { client, ann, ben, .. } = world().await;
    let org: Value = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "Acme"})).send().await.json();
    let org_id = id_of(&org);
    client
        .post(&format!("/orgs/{org_id}/members"))
        .bearer(&ann.token)
        .json(&json!({"user_id": ben.id, "role": "member"}))
        .send()
        .await
        .assert_status(204);
    let doc = create_doc(&client, &ann, json!({"title": "team", "owner_id": org_id})).await;
    assert_eq!(doc["owner_id"], org["id"]);
    let path = format!("/notes/{}", id_of(&doc));
    assert_eq!(status(&client, &ben, Method::GET, &path, json!(null)).await, 200, "members read");
    assert_eq!(status(&client, &ben, Method::PATCH, &path, json!({"title": "x"})).await, 403, "members do not write");
    assert_eq!(titles(&client, &ben).await, ["team"]);
    assert_eq!(status(&client, &ann, Method::PATCH, &path, json!({"title": "renamed"})).await, 200, "admins write");

    // A plain member cannot create for the organization; nobody for a stranger.
    assert_eq!(status(&client, &ben, Method::POST, "/notes", json!({"title": "x", "owner_id": org_id})).await, 403);
    assert_eq!(status(&client, &ann, Method::POST, "/notes", json!({"title": "x", "owner_id": ben.id})).await, 403);
    assert_eq!(status(&client, &ann, Method::PUT, &path, json!({"title": "x", "owner_id": ann.id})).await, 400);
    assert_eq!(status(&client, &ann, Method::PATCH, &path, json!({"owner_id": ann.id})).await, 400);
}

#[tokio::test]
async fn allow_always_bypasses_a_deny_and_acl_admins_do_not() {
    let World { mut client, root, ann, .. } = world().await;
    let auditor = client.sign_up("auditor@example.com").await;
    client.act_as(&root);
    let role: Value = client.post("/roles").json(&json!({"name": "auditor"})).send().await.json();
    client
        .post(&format!("/roles/{}/members", id_of(&role)))
        .json(&json!({"user_id": auditor.id}))
        .send()
        .await
        .assert_status(204);
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "guarded"})).await);
    let path = format!("/notes/{doc}");
    assert_eq!(status(&client, &auditor, Method::GET, &path, json!(null)).await, 200, "acl_admins read");
    for principal in [auditor.id, root.id] {
        entry(&client, &ann, &doc, &principal.to_string(), "*", "deny").await;
    }
    assert_eq!(status(&client, &auditor, Method::GET, &path, json!(null)).await, 404, "a deny beats acl_admins");
    assert_eq!(status(&client, &root, Method::GET, &path, json!(null)).await, 200, "allow_always beats a deny");
    assert_eq!(titles(&client, &root).await, ["guarded"]);
    let check: Value = client.get(&format!("{path}/acl/check?action=delete")).bearer(&root.token).send().await.json();
    assert_eq!(check["rule"], "allow_always");
}

#[tokio::test]
async fn type_wide_entries_are_for_acl_admins() {
    let World { client, root, ann, ben } = world().await;
    let body = json!({"resource": "Doc.read", "principal_id": ben.id, "effect": "allow"});
    client.post("/acl").bearer(&ann.token).json(&body).send().await.assert_status(403);
    client.get("/acl").bearer(&ann.token).send().await.assert_status(403);
    client
        .post("/acl")
        .bearer(&root.token)
        .json(&json!({"resource": "Nope.read", "principal_id": ben.id, "effect": "allow"}))
        .send()
        .await
        .assert_status(400);
    client
        .post("/acl")
        .bearer(&root.token)
        .json(&json!({"resource": "Doc", "principal_id": ben.id, "effect": "allow"}))
        .send()
        .await
        .assert_status(400);
    let created = client.post("/acl").bearer(&root.token).json(&body).send().await;
    created.assert_status(201);
    let type_entry: Value = created.json();
    assert_eq!((type_entry["resource"].clone(), type_entry["action"].clone()), (json!("Doc.read"), json!("read")));

    create_doc(&client, &ann, json!({"title": "readable by ben"})).await;
    assert_eq!(titles(&client, &ben).await, ["readable by ben"], "a type-wide allow shares every object");
    let listed: Value = client.get("/acl").bearer(&root.token).send().await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    client.delete(&format!("/acl/{}", id_of(&type_entry))).bearer(&ann.token).send().await.assert_status(403);
    client.delete(&format!("/acl/{}", id_of(&type_entry))).bearer(&root.token).send().await.assert_status(204);
    assert!(titles(&client, &ben).await.is_empty());
}

#[tokio::test]
async fn object_entries_are_listed_and_removed_by_the_owner() {
    let World { client, ann, ben, .. } = world().await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "d"})).await);
    let added = entry(&client, &ann, &doc, &ben.id.to_string(), "update", "allow").await;
    let listed: Value = client.get(&format!("/notes/{doc}/acl")).bearer(&ann.token).send().await.json();
    assert_eq!(listed, json!([{"id": added["id"], "principal_id": ben.id, "action": "update", "effect": "allow"}]));
    let bad = json!({"principal_id": ben.id, "action": "Not An Action", "effect": "allow"});
    client.post(&format!("/notes/{doc}/acl")).bearer(&ann.token).json(&bad).send().await.assert_status(400);
    let bad = json!({"principal_id": ben.id, "action": "read", "effect": "maybe"});
    client.post(&format!("/notes/{doc}/acl")).bearer(&ann.token).json(&bad).send().await.assert_status(400);
    let path = format!("/notes/{doc}/acl/{}", id_of(&added));
    client.delete(&path).bearer(&ann.token).send().await.assert_status(204);
    client.delete(&path).bearer(&ann.token).send().await.assert_status(404);
    let check: Value =
        client.get(&format!("/notes/{doc}/acl/check?action=update")).bearer(&ann.token).send().await.json();
    assert_eq!((check["allowed"].clone(), check["rule"].clone()), (json!(true), json!("owner")));
    client.get(&format!("/notes/{doc}/acl/check")).bearer(&ann.token).send().await.assert_status(400);
}

/// A route of the app's own that loads a `Doc` through the access check.
async fn shout(doc: fastsaas::Authorized<Doc>) -> String {
    doc.data.title.to_uppercase()
}

#[tokio::test]
async fn authorized_loads_only_after_the_check() {
    let settings = Settings::default();
    let app = App::new(settings)
        .resource::<Doc>()
        .route(Route::get("/notes/{id}/shout", shout))
        .route(Route::post("/notes/{id}/shout", shout));
    let client = TestClient::start(app).await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "quiet"})).await);
    let path = format!("/notes/{doc}/shout");
    let loud = client.get(&path).bearer(&ann.token).send().await;
    loud.assert_status(200);
    assert_eq!(loud.text(), "QUIET");
    client.get(&path).bearer(&ben.token).send().await.assert_status(404);
    client.get(&path).send().await.assert_status(401);
    client.get("/notes/not-a-uuid/shout").bearer(&ann.token).send().await.assert_status(400);
    entry(&client, &ann, &doc, &ben.id.to_string(), "read", "allow").await;
    client.get(&path).bearer(&ben.token).send().await.assert_status(200);
    client.post(&path).bearer(&ben.token).send().await.assert_status(403);
}

#[tokio::test]
async fn ownership_is_never_chosen_freely() {
    let World { client, root, ann, ben } = world().await;
    // A type-wide `create` lets Ben create, but only for himself or an
    // organization he administers.
    let grant = json!({"resource": "Doc.create", "principal_id": ben.id, "effect": "allow"});
    client.post("/acl").bearer(&root.token).json(&grant).send().await.assert_status(201);
    let org: Value = client.post("/orgs").bearer(&ann.token).json(&json!({"name": "ann's org"})).send().await.json();
    let roles: Value = client.get("/roles").bearer(&root.token).send().await.json();
    let role = roles["items"][0]["id"].clone();
    for owner in [json!(ann.id), org["id"].clone(), role, json!(Uuid::new_v4())] {
        let body = json!({"title": "planted", "owner_id": owner});
        assert_eq!(status(&client, &ben, Method::POST, "/notes", body).await, 403, "owner {owner}");
    }
    let own = create_doc(&client, &ben, json!({"title": "mine", "owner_id": ben.id})).await;
    assert_eq!(own["owner_id"], ben.id.to_string());
    // A role in `acl_allow_always` may create for anyone.
    let for_ann = create_doc(&client, &root, json!({"title": "for ann", "owner_id": ann.id})).await;
    assert_eq!(for_ann["owner_id"], ann.id.to_string());
}

#[tokio::test]
async fn entries_naming_list_or_clear_are_refused_since_nothing_consults_them() {
    let World { client, root, ann, ben } = world().await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "d"})).await);
    for action in ["list", "clear"] {
        let body = json!({"principal_id": ben.id, "action": action, "effect": "allow"});
        let refused = client.post(&format!("/notes/{doc}/acl")).bearer(&ann.token).json(&body).send().await;
        refused.assert_status(400);
        assert!(refused.text().contains("read") && refused.text().contains("delete"), "{}", refused.text());
        let type_wide = json!({"resource": format!("Doc.{action}"), "principal_id": ben.id, "effect": "allow"});
        client.post("/acl").bearer(&root.token).json(&type_wide).send().await.assert_status(400);
        let check = format!("/notes/{doc}/acl/check?action={action}&principal_id={}", ann.id);
        client.get(&check).bearer(&ann.token).send().await.assert_status(400);
    }
}

/// Rows of `table` that mention `id`, read from the test's database.
async fn rows_naming(client: &TestClient, sql: &str, id: &str) -> usize {
    use fastsaas::sea_orm::{ConnectionTrait, Database, Statement};
    let Ok(db) = Database::connect(client.settings().database_url.as_str()).await else {
        panic!("the test database");
    };
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [id.parse::<Uuid>().unwrap_or_default().into()]);
    let rows = db.query_all_raw(statement).await.unwrap_or_default().len();
    let _ = db.close().await;
    rows
}

#[tokio::test]
async fn deleting_takes_entries_and_owned_objects_along() {
    let World { client, ann, ben, .. } = world().await;
    let entries_on = "SELECT id FROM fastsaas_acl_entries WHERE object_id = $1";
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "d"})).await);
    entry(&client, &ann, &doc, &ben.id.to_string(), "read", "allow").await;
    assert_eq!(rows_naming(&client, entries_on, &doc).await, 1);
    client.delete(&format!("/notes/{doc}")).bearer(&ann.token).send().await.assert_status(204);
    assert_eq!(rows_naming(&client, entries_on, &doc).await, 0, "a deleted object's entries go with it");

    let cleared = id_of(&create_doc(&client, &ann, json!({"title": "c"})).await);
    entry(&client, &ann, &cleared, &ben.id.to_string(), "read", "allow").await;

    // A deleted user's objects go, with their entries, and so do entries naming the user.
    let kept = id_of(&create_doc(&client, &ben, json!({"title": "ben's"})).await);
    entry(&client, &ben, &kept, &ann.id.to_string(), "read", "allow").await;
    client.delete(&format!("/users/{}", ann.id)).bearer(&ann.token).send().await.assert_status(204);
    assert_eq!(rows_naming(&client, "SELECT id FROM docs WHERE owner_id = $1", &ann.id.to_string()).await, 0);
    assert_eq!(rows_naming(&client, entries_on, &cleared).await, 0);
    let naming_ann = "SELECT id FROM fastsaas_acl_entries WHERE principal_id = $1";
    assert_eq!(rows_naming(&client, naming_ann, &ann.id.to_string()).await, 0);
    client.get(&format!("/notes/{kept}")).bearer(&ben.token).send().await.assert_status(200);
}

#[tokio::test]
async fn an_owner_cannot_learn_another_principals_roles_through_acl_check() {
    let World { client, ann, ben, .. } = world().await;
    let doc = id_of(&create_doc(&client, &ann, json!({"title": "d"})).await);
    let about_ben = format!("/notes/{doc}/acl/check?action=read&principal_id={}", ben.id);
    client.get(&about_ben).bearer(&ann.token).send().await.assert_status(403);
    let about_self: Value =
        client.get(&format!("/notes/{doc}/acl/check?action=read")).bearer(&ann.token).send().await.json();
    assert_eq!(about_self["rule"], "owner");
    // Ben may not read the doc: asking about himself does not reveal it exists.
    client.get(&format!("/notes/{doc}/acl/check?action=read")).bearer(&ben.token).send().await.assert_status(404);
}

/// A caller shared more objects than a query may bind as values: the list
/// still holds exactly those shared and not denied, its total agrees, and a
/// deny on one of many allowed objects still hides it.
#[tokio::test]
async fn lists_hold_every_shared_object_past_the_listed_ids() {
    let World { client, ann, ben, .. } = world().await;
    let shared = 1_010;
    let mut docs = Vec::with_capacity(shared);
    for n in 0..shared {
        let doc = id_of(&create_doc(&client, &ben, json!({"title": format!("shared {n:04}")})).await);
        entry(&client, &ben, &doc, &ann.id.to_string(), "read", "allow").await;
        docs.push(doc);
    }
    let own = id_of(&create_doc(&client, &ann, json!({"title": "own"})).await);
    entry(&client, &ben, &docs[7], &ann.id.to_string(), "*", "deny").await;
    let mut listed = std::collections::BTreeSet::new();
    let mut page = 1;
    loop {
        let body: Value =
            client.get(&format!("/notes?page_size=100&page={page}")).bearer(&ann.token).send().await.json();
        assert_eq!(body["total"], shared, "{shared} shared, one denied, one own: {}", body["total"]);
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        listed.extend(items.iter().map(id_of));
        page += 1;
    }
    let mut expected: std::collections::BTreeSet<String> = docs.iter().cloned().collect();
    expected.remove(&docs[7]);
    expected.insert(own);
    assert_eq!(listed, expected);
}

/// A caller holding more object entries than a list reads of them (past
/// twice the ids named by value): the list still holds exactly the shared
/// objects that are not denied, and its total agrees.
#[tokio::test]
async fn a_caller_with_more_entries_than_a_list_reads_still_lists_exactly() {
    use fastsaas::sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let World { client, ann, ben, .. } = world().await;
    let own = id_of(&create_doc(&client, &ann, json!({"title": "own"})).await);
    let (shared, denied) = (2_150_usize, 3_usize);
    let db = Database::connect(client.settings().database_url.as_str()).await.unwrap_or_else(|err| panic!("{err}"));
    let table = <Doc as Resource>::SPEC.table;
    let backend = db.get_database_backend();
    let transaction = db.begin().await.unwrap_or_else(|err| panic!("{err}"));
    let now = Utc::now();
    let mut docs = Vec::new();
    for n in 0..shared {
        let doc = Uuid::new_v4();
        let created = now + chrono::Duration::microseconds(n as i64);
        let rows = [
            Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO {table} (id, owner_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
                ),
                [doc.into(), ben.id.into(), format!("shared {n:04}").into(), created.into()],
            ),
            Statement::from_sql_and_values(
                backend,
                "INSERT INTO fastsaas_acl_entries (id, resource_type, object_id, principal_id, action, effect, created_at) \
                 VALUES ($1, 'Doc', $2, $3, 'read', $4, $5)",
                [Uuid::new_v4().into(), doc.into(), ann.id.into(), "allow".into(), now.into()],
            ),
        ];
        for row in rows {
            transaction.execute_raw(row).await.unwrap_or_else(|err| panic!("{err}"));
        }
        docs.push(doc.to_string());
    }
    // Written last, past what a list reads: denials of objects also allowed.
    for doc in docs.iter().take(denied) {
        let deny = Statement::from_sql_and_values(
            backend,
            "INSERT INTO fastsaas_acl_entries (id, resource_type, object_id, principal_id, action, effect, created_at) \
             VALUES ($1, 'Doc', $2, $3, 'read', 'deny', $4)",
            [Uuid::new_v4().into(), Uuid::parse_str(doc).unwrap_or_default().into(), ann.id.into(), now.into()],
        );
        transaction.execute_raw(deny).await.unwrap_or_else(|err| panic!("{err}"));
    }
    transaction.commit().await.unwrap_or_else(|err| panic!("{err}"));

    let mut listed = std::collections::BTreeSet::new();
    let mut path = "/notes?page_size=100".to_owned();
    loop {
        let body: Value = client.get(&path).bearer(&ann.token).send().await.json();
        assert_eq!(body["total"], shared - denied + 1, "{}", body["total"]);
        listed.extend(body["items"].as_array().into_iter().flatten().map(id_of));
        match body["next"].as_str() {
            Some(next) => path = format!("/notes?page_size=100&after={next}"),
            None => break,
        }
    }
    let mut expected: std::collections::BTreeSet<String> = docs.into_iter().skip(denied).collect();
    expected.insert(own);
    assert_eq!(listed.len(), expected.len());
    assert_eq!(listed, expected);
}

/// Two writes racing on one object, and another tenant's write racing the
/// owner's: a PATCH beside a DELETE gets 200 or 404, never a 500 nor a
/// row written back; a PATCH by someone who may only read gets 403 or 404,
/// whichever way the race goes, and never changes the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_racing_on_one_object_end_in_a_state_the_rules_allow() {
    let World { client, ann, ben, .. } = world().await;
    let client = std::sync::Arc::new(client);
    for round in 0..8 {
        let doc = id_of(&create_doc(&client, &ann, json!({"title": format!("race {round}")})).await);
        entry(&client, &ann, &doc, &ben.id.to_string(), "read", "allow").await;
        let path = format!("/notes/{doc}");
        let send = |method: Method, token: String, body: Value| {
            let (client, path) = (client.clone(), path.clone());
            tokio::spawn(async move { client.request(method, &path).bearer(&token).json(&body).send().await.status() })
        };
        let patch = send(Method::PATCH, ann.token.clone(), json!({"title": "patched"}));
        let intruder = send(Method::PATCH, ben.token.clone(), json!({"title": "by ben"}));
        let delete = send(Method::DELETE, ann.token.clone(), json!({}));
        let (patch, intruder, delete) = (patch.await, intruder.await, delete.await);
        let status = |joined: Result<http::StatusCode, tokio::task::JoinError>| joined.map(|s| s.as_u16()).unwrap_or(0);
        let (patch, intruder, delete) = (status(patch), status(intruder), status(delete));
        assert!(matches!(patch, 200 | 404), "the owner's PATCH: {patch}");
        assert!(matches!(intruder, 403 | 404), "a reader's PATCH: {intruder}");
        assert_eq!(delete, 204);
        client.get(&path).bearer(&ann.token).send().await.assert_status(404);
    }
}
