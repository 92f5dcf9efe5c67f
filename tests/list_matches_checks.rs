//! Lists are where deny bugs hide: for random owners and random entry sets,
//! `GET /notes` returns exactly the objects a single read check allows, and
//! `DELETE /notes` deletes exactly those a delete check allows.

use std::collections::BTreeSet;

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings};
use proptest::prelude::*;

/// A document.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes", acl_admins = ["auditor"], acl_allow_always = ["superadmin"])]
struct Doc {
    title: String,
}

/// Who owns each document: 0 = ann, 1 = ben, 2 = the organization (ann
/// administers it, ben is a member; cy holds the role `staff`, dee the
/// scope's `acl_admins` role `auditor`).
#[derive(Clone, Debug)]
struct Plan {
    owners: Vec<usize>,
    /// (principal, action, allow?, object: index or type-wide)
    entries: Vec<(usize, usize, bool, Option<usize>)>,
    clearer: usize,
}

const ACTIONS: [&str; 4] = ["read", "update", "delete", "*"];

fn plan() -> impl Strategy<Value = Plan> {
    (prop::collection::vec(0..3_usize, 1..7), 0..4_usize).prop_flat_map(|(owners, clearer)| {
        let docs = owners.len();
        let entry = (0..7_usize, 0..ACTIONS.len(), any::<bool>(), prop::option::of(0..docs));
        prop::collection::vec(entry, 0..8).prop_map(move |entries| Plan { owners: owners.clone(), entries, clearer })
    })
}

async fn ids_listed(client: &TestClient, user: &TestUser) -> BTreeSet<String> {
    let page: Value = client.get("/notes?page_size=100").bearer(&user.token).send().await.json();
    assert_eq!(page["total"].as_u64(), page["items"].as_array().map(|items| items.len() as u64));
    page["items"].as_array().into_iter().flatten().filter_map(|d| d["id"].as_str().map(str::to_owned)).collect()
}

async fn allowed(client: &TestClient, root: &TestUser, doc: &str, user: &TestUser, action: &str) -> bool {
    let path = format!("/notes/{doc}/acl/check?action={action}&principal_id={}", user.id);
    let check: Value = client.get(&path).bearer(&root.token).send().await.json();
    check["allowed"] == json!(true)
}

async fn run(plan: Plan) {
    let settings = Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings).resource::<Doc>()).await;
    let root = client.sign_in("root@example.com", "root password").await;
    let users = [
        client.sign_up("ann@example.com").await,
        client.sign_up("ben@example.com").await,
        client.sign_up("cy@example.com").await,
        client.sign_up("dee@example.com").await,
    ];
    let org: Value = client.post("/orgs").bearer(&users[0].token).json(&json!({"name": "Acme"})).send().await.json();
    let org_id = org["id"].as_str().unwrap_or_default().to_owned();
    let members = format!("/orgs/{org_id}/members");
    client
        .post(&members)
        .bearer(&users[0].token)
        .json(&json!({"user_id": users[1].id, "role": "member"}))
        .send()
        .await
        .assert_status(204);
    let role: Value = client.post("/roles").bearer(&root.token).json(&json!({"name": "staff"})).send().await.json();
    let role_id = role["id"].as_str().unwrap_or_default().to_owned();
    client
        .post(&format!("/roles/{role_id}/members"))
        .bearer(&root.token)
        .json(&json!({"user_id": users[2].id}))
        .send()
        .await
        .assert_status(204);
    // Dee holds the scope's `acl_admins` role: every object but the denied.
    let auditor: Value =
        client.post("/roles").bearer(&root.token).json(&json!({"name": "auditor"})).send().await.json();
    let auditor_id = auditor["id"].as_str().unwrap_or_default().to_owned();
    client
        .post(&format!("/roles/{auditor_id}/members"))
        .bearer(&root.token)
        .json(&json!({"user_id": users[3].id}))
        .send()
        .await
        .assert_status(204);
    // Memberships count from the next token's request on; sign in again.
    let users = [
        client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await,
        client.sign_in("ben@example.com", fastsaas::testing::TEST_PASSWORD).await,
        client.sign_in("cy@example.com", fastsaas::testing::TEST_PASSWORD).await,
        client.sign_in("dee@example.com", fastsaas::testing::TEST_PASSWORD).await,
    ];

    let mut docs = Vec::new();
    for (n, owner) in plan.owners.iter().enumerate() {
        let (creator, owner_id) = match owner {
            0 => (&users[0], users[0].id.to_string()),
            1 => (&users[1], users[1].id.to_string()),
            _ => (&users[0], org_id.clone()),
        };
        let body = json!({"title": format!("doc {n}"), "owner_id": owner_id});
        let created = client.post("/notes").bearer(&creator.token).json(&body).send().await;
        created.assert_status(201);
        docs.push(created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned());
    }
    let principals = [
        users[0].id.to_string(),
        users[1].id.to_string(),
        users[2].id.to_string(),
        org_id.clone(),
        role_id,
        auditor_id,
        Uuid::nil().to_string(),
    ];
    for (principal, action, allow, object) in &plan.entries {
        let effect = if *allow { "allow" } else { "deny" };
        let response = match object {
            Some(doc) => {
                let body =
                    json!({"principal_id": principals[*principal], "action": ACTIONS[*action], "effect": effect});
                client.post(&format!("/notes/{}/acl", docs[*doc])).bearer(&root.token).json(&body).send().await
            }
            None => {
                let body = json!({"resource": format!("Doc.{}", ACTIONS[*action]), "principal_id": principals[*principal], "effect": effect});
                client.post("/acl").bearer(&root.token).json(&body).send().await
            }
        };
        response.assert_status(201);
    }

    for user in &users {
        let mut readable = BTreeSet::new();
        for doc in &docs {
            let single = client.get(&format!("/notes/{doc}")).bearer(&user.token).send().await.status().as_u16();
            assert!(single == 200 || single == 404, "{single}");
            if single == 200 {
                readable.insert(doc.clone());
            }
            assert_eq!(single == 200, allowed(&client, &root, doc, user, "read").await, "check agrees with GET");
            // A write checks as it writes: the same rule, in SQL.
            let patched = client.patch(&format!("/notes/{doc}")).bearer(&user.token).json(&json!({})).send().await;
            let expected = match (single == 200, allowed(&client, &root, doc, user, "update").await) {
                (_, true) => 200,
                (true, false) => 403,
                (false, false) => 404,
            };
            assert_eq!(patched.status().as_u16(), expected, "{}: PATCH agrees with the update check", user.email);
            // And the checking statement wrote it: the load that tells 404
            // from 403 would hide a statement that refused wrongly.
            let loaded = patched.statements().iter().any(|sql| sql.contains("fastsaas_joined_acl"));
            assert!(!(expected == 200 && loaded), "{}: allowed, yet refused by its statement", user.email);
        }
        assert_eq!(ids_listed(&client, user).await, readable, "{}: the list is exactly what reads allow", user.email);
    }

    let clearer = &users[plan.clearer];
    let type_wide = json!({"resource": "Doc.delete", "principal_id": clearer.id, "effect": "allow"});
    client.post("/acl").bearer(&root.token).json(&type_wide).send().await.assert_status(201);
    let mut deletable = BTreeSet::new();
    for doc in &docs {
        if allowed(&client, &root, doc, clearer, "delete").await {
            deletable.insert(doc.clone());
        }
    }
    let cleared = client.delete("/notes").bearer(&clearer.token).send().await;
    let type_denied = plan.entries.iter().any(|(p, a, allow, o)| {
        !allow && o.is_none() && matches!(ACTIONS[*a], "delete" | "*") && grants_to(*p, plan.clearer)
    });
    if type_denied {
        cleared.assert_status(403);
    } else {
        cleared.assert_status(200);
        assert_eq!(cleared.json::<Value>()["deleted"], deletable.len());
        let left: BTreeSet<String> = ids_listed(&client, &root).await;
        let expected: BTreeSet<String> = docs.iter().filter(|d| !deletable.contains(*d)).cloned().collect();
        assert_eq!(left, expected, "clear deletes exactly what delete checks allow");
    }

    // A single delete checks as it deletes: the same rule, in SQL.
    for user in &users {
        for doc in &docs {
            let readable = client.get(&format!("/notes/{doc}")).bearer(&user.token).send().await.status() == 200;
            let expected = match (readable, allowed(&client, &root, doc, user, "delete").await) {
                (_, true) => 204,
                (true, false) => 403,
                (false, false) => 404,
            };
            let deleted = client.delete(&format!("/notes/{doc}")).bearer(&user.token).send().await;
            assert_eq!(deleted.status().as_u16(), expected, "{}: DELETE agrees with the delete check", user.email);
        }
    }
}

/// Whether principal index `p` names user `u` (directly, through the
/// organization, one of the roles, or "authenticated users").
fn grants_to(p: usize, u: usize) -> bool {
    match p {
        0..=2 => p == u,
        3 => u <= 1,
        4 => u == 2,
        5 => u == 3,
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lists_and_clears_match_single_checks(plan in plan()) {
        #[allow(clippy::expect_used, reason = "a test stops at its first failure")]
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(plan));
    }
}
