//! Roles and organizations (API.md): superadmin-only roles, organization
//! admins and members, and `/me` reflecting both on the next request.

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;
use fastsaas::{Secret, Settings};

struct People {
    client: TestClient,
    root: String,
    ann: (String, String),
    ben: (String, String),
}

/// An app with a superadmin and two users, each with an access token.
async fn people() -> People {
    let settings = Settings {
        auth_attempts_per_minute: 1000,
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    };
    let client = TestClient::start(App::new(settings)).await;
    let mut users = Vec::new();
    for name in ["ann", "ben"] {
        let email = format!("{name}@example.com");
        let user: Value =
            client.post("/users").json(&json!({"email": email, "password": "pass word"})).send().await.json();
        let token = sign_in(&client, &email, "pass word").await;
        users.push((user["id"].as_str().unwrap_or_default().to_owned(), token));
    }
    let root = sign_in(&client, "root@example.com", "root password").await;
    let ben = users.pop().unwrap_or_default();
    let ann = users.pop().unwrap_or_default();
    People { client, root, ann, ben }
}

async fn sign_in(client: &TestClient, email: &str, password: &str) -> String {
    let pair: Value = client.post("/login").json(&json!({"email": email, "password": password})).send().await.json();
    pair["access_token"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn roles_are_managed_by_superadmins_only() {
    let People { client, root, ann: (ann_id, ann), .. } = people().await;
    client.post("/roles").json(&json!({"name": "ops"})).send().await.assert_status(401);
    client.post("/roles").bearer(&ann).json(&json!({"name": "ops"})).send().await.assert_status(403);
    client.get("/roles").bearer(&ann).send().await.assert_status(403);

    let created = client.post("/roles").bearer(&root).json(&json!({"name": "ops"})).send().await;
    created.assert_status(201);
    let role: Value = created.json();
    let role_id = role["id"].as_str().unwrap_or_default().to_owned();
    client.post("/roles").bearer(&root).json(&json!({"name": "ops"})).send().await.assert_status(409);
    client.post("/roles").bearer(&root).json(&json!({"name": "no spaces"})).send().await.assert_status(400);
    let roles: Value = client.get("/roles?sort=name").bearer(&root).send().await.json();
    let names: Vec<&str> = roles["items"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["ops", "superadmin"]);

    let members = format!("/roles/{role_id}/members");
    client.post(&members).bearer(&ann).json(&json!({"user_id": ann_id})).send().await.assert_status(403);
    client.post(&members).bearer(&root).json(&json!({"user_id": ann_id})).send().await.assert_status(204);
    client.post(&members).bearer(&root).json(&json!({"user_id": ann_id})).send().await.assert_status(204);
    let me: Value = client.get("/me").bearer(&ann).send().await.json();
    assert_eq!(me["roles"], json!(["ops"]), "a new role counts on the next request");

    client.delete(&format!("{members}/{ann_id}")).bearer(&root).send().await.assert_status(204);
    let me: Value = client.get("/me").bearer(&ann).send().await.json();
    assert_eq!(me["roles"], json!([]), "a removed role stops counting on the next request");
    client.delete(&format!("{members}/{ann_id}")).bearer(&root).send().await.assert_status(404);
    client
        .post(&members)
        .bearer(&root)
        .json(&json!({"user_id": "6a1f1d44-5f4c-4b4e-9d59-9a2b7c9d0e11"}))
        .send()
        .await
        .assert_status(404);

    client.delete(&format!("/roles/{role_id}")).bearer(&root).send().await.assert_status(204);
    client.delete(&format!("/roles/{role_id}")).bearer(&root).send().await.assert_status(404);
    let superadmin = roles["items"][1]["id"].as_str().unwrap_or_default().to_owned();
    client.delete(&format!("/roles/{superadmin}")).bearer(&root).send().await.assert_status(409);
    client.delete("/roles/nope/members/also-nope").bearer(&root).send().await.assert_status(400);
}

#[tokio::test]
async fn organizations_have_admins_and_members() {
    let People { client, ann: (_, ann), ben: (ben_id, ben), .. } = people().await;
    let created = client.post("/orgs").bearer(&ann).json(&json!({"name": "Acme"})).send().await;
    created.assert_status(201);
    let org: Value = created.json();
    let org_path = format!("/orgs/{}", org["id"].as_str().unwrap_or_default());

    let me: Value = client.get("/me").bearer(&ann).send().await.json();
    assert_eq!(me["organizations"], json!([{"id": org["id"], "name": "Acme", "role": "admin"}]));
    client.get(&org_path).bearer(&ann).send().await.assert_status(200);
    client.get(&org_path).bearer(&ben).send().await.assert_status(404);
    let none: Value = client.get("/orgs").bearer(&ben).send().await.json();
    assert_eq!(none["total"], 0);

    let members = format!("{org_path}/members");
    client
        .post(&members)
        .bearer(&ben)
        .json(&json!({"user_id": ben_id, "role": "admin"}))
        .send()
        .await
        .assert_status(404);
    client
        .post(&members)
        .bearer(&ann)
        .json(&json!({"user_id": ben_id, "role": "owner"}))
        .send()
        .await
        .assert_status(400);
    client
        .post(&members)
        .bearer(&ann)
        .json(&json!({"user_id": ben_id, "role": "member"}))
        .send()
        .await
        .assert_status(204);
    client.get(&org_path).bearer(&ben).send().await.assert_status(200);
    let mine: Value = client.get("/orgs").bearer(&ben).send().await.json();
    assert_eq!(mine["total"], 1);
    // A plain member sees the organization but may not manage it.
    client
        .post(&members)
        .bearer(&ben)
        .json(&json!({"user_id": ben_id, "role": "admin"}))
        .send()
        .await
        .assert_status(403);

    let me: Value = client.get("/me").bearer(&ann).send().await.json();
    let ann_id = me["id"].as_str().unwrap_or_default().to_owned();
    client.delete(&format!("{members}/{ann_id}")).bearer(&ann).send().await.assert_status(409);
    client
        .post(&members)
        .bearer(&ann)
        .json(&json!({"user_id": ann_id, "role": "member"}))
        .send()
        .await
        .assert_status(409);

    client.delete(&format!("{members}/{ben_id}")).bearer(&ann).send().await.assert_status(204);
    client.get(&org_path).bearer(&ben).send().await.assert_status(404);
    client.delete(&format!("{members}/{ben_id}")).bearer(&ann).send().await.assert_status(404);
    client.post("/orgs").bearer(&ann).json(&json!({"name": ""})).send().await.assert_status(400);
    client.post("/orgs").json(&json!({"name": "x"})).send().await.assert_status(401);
}

/// Two admins removing or demoting each other at the same moment: one of
/// them wins, and the organization always keeps an admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_racing_to_remove_each_other_leave_one_admin() {
    let People { client, ann, ben, .. } = people().await;
    for round in 0..10 {
        let org: Value =
            client.post("/orgs").bearer(&ann.1).json(&json!({"name": format!("org {round}")})).send().await.json();
        let org = org["id"].as_str().unwrap_or_default().to_owned();
        let members = format!("/orgs/{org}/members");
        let promote = json!({"user_id": ben.0, "role": "admin"});
        client.post(&members).bearer(&ann.1).json(&promote).send().await.assert_status(204);
        // Half the rounds demote, half remove.
        let (by_ann, by_ben) = if round % 2 == 0 {
            let demote = |user: &str| json!({"user_id": user, "role": "member"});
            tokio::join!(
                client.post(&members).bearer(&ann.1).json(&demote(&ben.0)).send(),
                client.post(&members).bearer(&ben.1).json(&demote(&ann.0)).send(),
            )
        } else {
            tokio::join!(
                client.delete(&format!("{members}/{}", ben.0)).bearer(&ann.1).send(),
                client.delete(&format!("{members}/{}", ann.0)).bearer(&ben.1).send(),
            )
        };
        let statuses = [by_ann.status().as_u16(), by_ben.status().as_u16()];
        assert!(statuses.contains(&204), "round {round}: one of them wins: {statuses:?}");
        assert!(statuses.iter().all(|s| matches!(s, 204 | 403 | 404 | 409)), "round {round}: {statuses:?}");
        // Exactly one of them is still an admin.
        let mut admins = 0;
        for user in [&ann, &ben] {
            let me: Value = client.get("/me").bearer(&user.1).send().await.json();
            let memberships = me["organizations"].as_array().cloned().unwrap_or_default();
            admins += memberships.iter().filter(|m| m["id"] == org.as_str() && m["role"] == "admin").count();
        }
        assert_eq!(admins, 1, "round {round}: exactly one admin is left");
    }
}

/// An organization a team can run: members listed by admins, added by
/// e-mail, leaving on their own; renamed and deleted by admins, taking what
/// it owns along.
#[tokio::test]
async fn an_organization_is_run_by_its_admins_and_left_by_its_members() {
    let People { client, ann, ben, .. } = people().await;
    let org: Value = client.post("/orgs").bearer(&ann.1).json(&json!({"name": "acme"})).send().await.json();
    let org = org["id"].as_str().unwrap_or_default().to_owned();
    let members = format!("/orgs/{org}/members");
    let by_email = json!({"email": "Ben@Example.com", "role": "member"});
    client.post(&members).bearer(&ann.1).json(&by_email).send().await.assert_status(204);
    let both = json!({"email": "ben@example.com", "user_id": ben.0, "role": "member"});
    client.post(&members).bearer(&ann.1).json(&both).send().await.assert_status(400);
    let nobody = json!({"email": "nobody@example.com", "role": "member"});
    client.post(&members).bearer(&ann.1).json(&nobody).send().await.assert_status(404);

    let listed: Value = client.get(&members).bearer(&ann.1).send().await.json();
    assert_eq!(listed["total"], 2);
    let roles: Vec<&str> =
        listed["items"].as_array().into_iter().flatten().filter_map(|m| m["role"].as_str()).collect();
    assert!(roles.contains(&"admin") && roles.contains(&"member"), "{listed}");
    client.get(&members).bearer(&ben.1).send().await.assert_status(403);
    client.get(&format!("{members}?role=admin")).bearer(&ann.1).send().await.assert_status(200);

    let renamed = client.patch(&format!("/orgs/{org}")).bearer(&ann.1).json(&json!({"name": "acme ltd"})).send().await;
    renamed.assert_status(200);
    assert_eq!(renamed.json::<Value>()["name"], "acme ltd");
    client.patch(&format!("/orgs/{org}")).bearer(&ben.1).json(&json!({"name": "mine"})).send().await.assert_status(403);

    // Ben leaves on his own; Ann, the last admin, may not.
    client.delete(&format!("{members}/{}", ben.0)).bearer(&ben.1).send().await.assert_status(204);
    client.get(&format!("/orgs/{org}")).bearer(&ben.1).send().await.assert_status(404);
    client.delete(&format!("{members}/{}", ann.0)).bearer(&ann.1).send().await.assert_status(409);

    client.delete(&format!("/orgs/{org}")).bearer(&ann.1).send().await.assert_status(204);
    client.get(&format!("/orgs/{org}")).bearer(&ann.1).send().await.assert_status(404);
    let me: Value = client.get("/me").bearer(&ann.1).send().await.json();
    assert_eq!(me["organizations"], json!([]));
}
