//! Replicas start safely: several processes started at the same moment on
//! one empty PostgreSQL database all come up (migrations, the admin user,
//! the resource tables and their triggers are made once, in turn).
//!
//! The replicas are real processes: this test binary started again, each
//! running only `replica_process`.

use std::process::{Command, Stdio};

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database};
use fastsaas::testing::TEST_DATABASE_URL;
use fastsaas::{Secret, Settings};

/// The database a replica process starts on.
const REPLICA_DATABASE_URL: &str = "FASTSAAS_REPLICA_DATABASE_URL";

/// A note.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
struct Note {
    title: String,
}

/// One replica: starts the app on the database it is given, then exits.
#[tokio::test]
#[ignore = "a replica process of `replicas_started_together_all_come_up`"]
async fn replica_process() {
    let Ok(url) = std::env::var(REPLICA_DATABASE_URL) else {
        return;
    };
    let settings = Settings {
        database_url: url,
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        db_max_connections: 2,
        ..Settings::default()
    };
    if let Err(err) = App::new(settings).resource::<Note>().into_router().await {
        panic!("a replica did not start: {err}");
    }
}

#[tokio::test]
async fn replicas_started_together_all_come_up() {
    let Ok(base) = std::env::var(TEST_DATABASE_URL) else {
        // SQLite is one process's file: replicas share PostgreSQL only.
        return;
    };
    let Ok(admin) = Database::connect(base.as_str()).await else {
        panic!("the test database");
    };
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary: {err}"));
    // Each try on an empty schema of its own: three replicas at once.
    for _ in 0..3 {
        let schema = format!("fastsaas_replicas_{}", Uuid::new_v4().simple());
        if let Err(err) = admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await {
            panic!("a schema for the replicas: {err}");
        }
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let replicas: Vec<_> = (0..3)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "replica_process", "--ignored", "--test-threads=1"])
                    .env(REPLICA_DATABASE_URL, &url)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|err| panic!("a replica process: {err}"))
            })
            .collect();
        for replica in replicas {
            let output = replica.wait_with_output().unwrap_or_else(|err| panic!("a replica process: {err}"));
            assert!(
                output.status.success(),
                "a replica failed to start:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let _ = admin.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    }
    let _ = admin.close().await;
}
