//! A list's `total` comes from row counts per owner that the database keeps
//! in each writing transaction (`db::counts`). These tests hold the totals
//! against the rows themselves through every kind of write: the routes, a
//! user's own SQL, a change of owner, a clear, a deleted user, writers
//! racing each other, a table made before the counters existed, and on
//! PostgreSQL a TRUNCATE.

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};
use fastsaas::{Secret, Settings};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes", acl_allow_always = ["superadmin"])]
struct Note {
    #[crud(filter)]
    pub title: String,
}

fn app() -> App {
    App::new(Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        ..Settings::default()
    })
    .resource::<Note>()
}

#[allow(clippy::expect_used, reason = "a test stops at its first failure")]
async fn database(client: &TestClient) -> DatabaseConnection {
    Database::connect(client.settings().database_url.as_str()).await.expect("the test's database")
}

/// The `total` of `user`'s list, after checking it against the rows the
/// same list holds (all of them fit on one page here).
async fn total(client: &TestClient, user: &TestUser) -> u64 {
    let listed = client.get("/notes?page_size=100").bearer(&user.token).send().await;
    let counted_by_owner = listed.statements().iter().any(|sql| sql.contains("fastsaas_row_counts"));
    assert!(counted_by_owner, "the total reads the counters:\n{}", listed.statements().join("\n"));
    let page: Value = listed.json();
    let total = page["total"].as_u64().unwrap_or(u64::MAX);
    assert_eq!(Some(total), page["items"].as_array().map(|items| items.len() as u64), "{}: {page}", user.email);
    total
}

/// Inserts a note owned by `owner` with the user's own SQL, past the routes.
#[allow(clippy::expect_used, reason = "a test stops at its first failure")]
async fn insert_by_hand(db: &DatabaseConnection, owner: Uuid) -> Uuid {
    let id = Uuid::new_v4();
    let now = Utc::now();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO notes (id, owner_id, title, created_at, updated_at) VALUES ($1, $2, 'by hand', $3, $3)",
        [id.into(), owner.into(), now.into()],
    ))
    .await
    .expect("insert");
    id
}

#[allow(clippy::expect_used, reason = "a test stops at its first failure")]
async fn run(db: &DatabaseConnection, sql: &str, values: Vec<fastsaas::sea_orm::Value>) {
    db.execute_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values)).await.expect(sql);
}

async fn create(client: &TestClient, user: &TestUser, title: &str) -> String {
    let created = client.post("/notes").bearer(&user.token).json(&json!({"title": title})).send().await;
    created.assert_status(201);
    created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn totals_follow_every_kind_of_write() {
    let client = TestClient::start(app()).await;
    let root = client.sign_in("root@example.com", "root password").await;
    let ann = client.sign_up("ann@example.com").await;
    let ben = client.sign_up("ben@example.com").await;
    let db = database(&client).await;

    let mut notes = Vec::new();
    for n in 0..6 {
        notes.push(create(&client, &ann, &format!("note {n}")).await);
    }
    create(&client, &ben, "ben's").await;
    assert_eq!((total(&client, &ann).await, total(&client, &ben).await, total(&client, &root).await), (6, 1, 7));

    client.delete(&format!("/notes/{}", notes[0])).bearer(&ann.token).send().await.assert_status(204);
    assert_eq!(total(&client, &ann).await, 5, "a deleted note no longer counts");

    let by_hand = insert_by_hand(&db, ann.id).await;
    assert_eq!(total(&client, &ann).await, 6, "a row the user's own SQL inserted counts");

    run(&db, "UPDATE notes SET owner_id = $1 WHERE id = $2", vec![ben.id.into(), by_hand.into()]).await;
    assert_eq!((total(&client, &ann).await, total(&client, &ben).await), (5, 2), "a row changed owners");
    run(&db, "UPDATE notes SET owner_id = NULL WHERE id = $1", vec![by_hand.into()]).await;
    assert_eq!((total(&client, &ben).await, total(&client, &root).await), (1, 7), "a row without an owner");
    // The nil id counts as no owner: a move between the two moves nothing.
    for owner in [Some(Uuid::nil()), None] {
        run(&db, "UPDATE notes SET owner_id = $1 WHERE id = $2", vec![owner.into(), by_hand.into()]).await;
    }
    assert_eq!(total(&client, &root).await, 7);

    let grant = json!({"principal_id": ben.id, "action": "read", "effect": "allow"});
    client.post(&format!("/notes/{}/acl", notes[1])).bearer(&ann.token).json(&grant).send().await.assert_status(201);
    let deny = json!({"principal_id": ann.id, "action": "read", "effect": "deny"});
    client.post(&format!("/notes/{}/acl", notes[2])).bearer(&root.token).json(&deny).send().await.assert_status(201);
    assert_eq!(
        (total(&client, &ann).await, total(&client, &ben).await),
        (4, 2),
        "a denied note of one's own and a note shared by another"
    );

    client.delete(&format!("/users/{}", ben.id)).bearer(&root.token).send().await.assert_status(204);
    // Left: ann's five and the row without an owner.
    assert_eq!(total(&client, &root).await, 6, "a deleted user's notes went with it");

    let type_wide = json!({"resource": "Note.delete", "principal_id": ann.id, "effect": "allow"});
    client.post("/acl").bearer(&root.token).json(&type_wide).send().await.assert_status(201);
    let cleared = client.delete("/notes").bearer(&ann.token).send().await;
    cleared.assert_status(200);
    assert_eq!(cleared.json::<Value>()["deleted"], 6);
    assert_eq!((total(&client, &ann).await, total(&client, &root).await), (0, 0), "a clear");
}

#[tokio::test]
async fn filtered_totals_count_the_rows() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    for title in ["a", "b", "a"] {
        create(&client, &ann, title).await;
    }
    let listed = client.get("/notes?title=a").bearer(&ann.token).send().await;
    assert!(!listed.statements().iter().any(|sql| sql.contains("fastsaas_row_counts")), "counters know no filters");
    let page: Value = listed.json();
    assert_eq!(page["total"], 2, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_of_one_owner_count_exactly() {
    let client = std::sync::Arc::new(TestClient::start(app()).await);
    let ann = client.sign_up("ann@example.com").await;
    let creates = (0..32).map(|n| {
        let (client, ann) = (client.clone(), ann.clone());
        tokio::spawn(async move { create(&client, &ann, &format!("note {n}")).await })
    });
    let mut ids = Vec::new();
    for created in creates {
        ids.push(created.await.unwrap_or_default());
    }
    assert_eq!(total(&client, &ann).await, 32);
    let deletes = ids.into_iter().take(16).map(|id| {
        let (client, token) = (client.clone(), ann.token.clone());
        tokio::spawn(async move { client.delete(&format!("/notes/{id}")).bearer(&token).send().await.status() })
    });
    for deleted in deletes {
        assert_eq!(deleted.await.map(|status| status.as_u16()).unwrap_or_default(), 204);
    }
    assert_eq!(total(&client, &ann).await, 16);
}

#[tokio::test]
async fn counters_are_built_for_a_table_made_before_them() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..3 {
        create(&client, &ann, &format!("note {n}")).await;
    }
    // What a version without counters left: the rows, no triggers, no counts.
    let db = database(&client).await;
    let triggers: Vec<String> = match db.get_database_backend() {
        DbBackend::Postgres => ["added", "removed", "owner", "truncated"]
            .iter()
            .map(|event| format!("DROP TRIGGER fastsaas_count_{event} ON notes"))
            .collect(),
        _ => ["added", "removed", "owner"]
            .iter()
            .map(|event| format!("DROP TRIGGER fastsaas_count_{event}_notes"))
            .collect(),
    };
    for drop in triggers {
        run(&db, &drop, vec![]).await;
    }
    run(&db, "DELETE FROM fastsaas_row_counts", vec![]).await;
    insert_by_hand(&db, ann.id).await;

    let client = client.restart(app()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    assert_eq!(total(&client, &ann).await, 4, "the counters start from the rows");
    create(&client, &ann, "after").await;
    assert_eq!(total(&client, &ann).await, 5, "and follow the writes from then on");
}

#[tokio::test]
async fn a_truncated_table_counts_nothing() {
    let client = TestClient::start(app()).await;
    if !client.is_postgres() {
        // SQLite has no TRUNCATE; its `DELETE FROM` without a filter fires
        // the row triggers, which the first test covers.
        return;
    }
    let ann = client.sign_up("ann@example.com").await;
    create(&client, &ann, "one").await;
    let db = database(&client).await;
    run(&db, "TRUNCATE notes", vec![]).await;
    assert_eq!(total(&client, &ann).await, 0);
    create(&client, &ann, "two").await;
    assert_eq!(total(&client, &ann).await, 1);
}

mod renamed {
    use fastsaas::prelude::*;

    /// `Note`'s table under another type name, as after `#[crud(name)]` changed.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/notes", acl_allow_always = ["superadmin"])]
    #[crud(name = "Memo", table = "notes")]
    pub(crate) struct Memo {
        #[crud(filter)]
        pub(crate) title: String,
    }
}

#[tokio::test]
async fn a_type_renamed_on_its_table_counts_under_its_new_name() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..3 {
        create(&client, &ann, &format!("note {n}")).await;
    }
    let client = client.restart(App::new(Settings::default()).resource::<renamed::Memo>()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    assert_eq!(total(&client, &ann).await, 3);
    create(&client, &ann, "after").await;
    assert_eq!(total(&client, &ann).await, 4);
}

#[tokio::test]
async fn counters_that_went_wrong_are_noticed_and_rebuilt() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..3 {
        create(&client, &ann, &format!("note {n}")).await;
    }
    let db = database(&client).await;
    // Counters below zero cannot be right: the list counts its rows.
    run(&db, "UPDATE fastsaas_row_counts SET row_count = row_count - 10", vec![]).await;
    let page: Value = client.get("/notes").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 3, "{page}");

    if client.is_postgres() {
        // Triggers switched off for a load: what was written meanwhile is
        // not counted until a restart, which rebuilds the counters.
        run(&db, "ALTER TABLE notes DISABLE TRIGGER USER", vec![]).await;
        insert_by_hand(&db, ann.id).await;
        run(&db, "ALTER TABLE notes ENABLE TRIGGER USER", vec![]).await;
        run(&db, "UPDATE fastsaas_row_counts SET row_count = 3", vec![]).await;
        run(&db, "ALTER TABLE notes DISABLE TRIGGER fastsaas_count_added", vec![]).await;
    } else {
        // SQLite's REPLACE, on a connection without `recursive_triggers`
        // (the framework's own pool has it), deletes the row it replaces
        // without a trigger: counted twice until a restart recounts.
        let (id, now) = (Uuid::new_v4(), Utc::now());
        for _ in 0..2 {
            run(
                &db,
                "INSERT OR REPLACE INTO notes (id, owner_id, title, created_at, updated_at) VALUES ($1, $2, 'r', $3, $3)",
                vec![id.into(), ann.id.into(), now.into()],
            )
            .await;
        }
    }
    let client = client.restart(app()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    assert_eq!(total(&client, &ann).await, 4, "rebuilt from the rows at start-up");
    create(&client, &ann, "after").await;
    assert_eq!(total(&client, &ann).await, 5);
}

/// A burst of lists on a pool of four: each list holds two connections at
/// once (its count and its page), yet every one is answered, with the same
/// total, while writes go on beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_lists_beside_writes_answers_every_one() {
    let client = std::sync::Arc::new(TestClient::start(app()).await);
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..25 {
        create(&client, &ann, &format!("note {n}")).await;
    }
    let lists = (0..64).map(|_| {
        let (client, token) = (client.clone(), ann.token.clone());
        tokio::spawn(async move {
            let listed = client.get("/notes?page_size=5").bearer(&token).send().await;
            (listed.status().as_u16(), listed.json::<Value>()["total"].as_u64())
        })
    });
    let writes = (0..8).map(|n| {
        let (client, token) = (client.clone(), ann.token.clone());
        tokio::spawn(async move {
            let body = json!({"title": format!("beside {n}")});
            client.post("/notes").bearer(&token).json(&body).send().await.status().as_u16()
        })
    });
    let writes: Vec<_> = writes.collect();
    for list in lists {
        let (status, total) = list.await.unwrap_or_default();
        assert_eq!(status, 200);
        assert!(total.is_some_and(|total| (25..=33).contains(&total)), "{total:?}");
    }
    for write in writes {
        assert_eq!(write.await.unwrap_or_default(), 201);
    }
    assert_eq!(total(&client, &ann).await, 33);
}
