//! Tables that follow the struct: a table made by an older version of a
//! struct gets the columns of new `Option` and `default` fields at
//! start-up; every other difference stops start-up with an error naming
//! the table, each column, the difference and the SQL a migration needs.

use fastsaas::StartupError;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;

mod first {
    use fastsaas::prelude::*;

    /// A widget as first released.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/widgets")]
    pub(crate) struct Widget {
        pub(crate) name: String,
        pub(crate) weight: i32,
        pub(crate) colour: String,
        #[crud(unique)]
        pub(crate) code: Option<String>,
    }
}

mod grown {
    use fastsaas::prelude::*;

    /// The widget with fields that rows made before can do without.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/widgets")]
    pub(crate) struct Widget {
        pub(crate) name: String,
        pub(crate) weight: i32,
        // Now unique: it gets its index.
        #[crud(unique)]
        pub(crate) colour: String,
        #[crud(unique)]
        pub(crate) code: Option<String>,
        pub(crate) note: Option<String>,
        #[crud(read_only, default = "plain")]
        pub(crate) label: Option<String>,
        #[crud(default = 3)]
        pub(crate) size: i64,
        #[crud(read_only, default = "new")]
        pub(crate) stage: String,
        #[crud(unique)]
        pub(crate) serial: Option<String>,
    }
}

mod changed {
    use fastsaas::prelude::*;

    /// The widget changed in every way that needs a migration.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/widgets")]
    pub(crate) struct Widget {
        // Was required: now an `Option`.
        pub(crate) name: Option<String>,
        // Was a number: now text.
        pub(crate) weight: String,
        // `colour` is gone; this is new, required and without a default.
        pub(crate) maker: String,
        // Was unique: no longer.
        pub(crate) code: Option<String>,
    }
}

mod unique_colour {
    use fastsaas::prelude::*;

    /// The widget with a field made unique that the rows there are repeat.
    #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
    #[scope("/widgets")]
    pub(crate) struct Widget {
        pub(crate) name: String,
        pub(crate) weight: i32,
        #[crud(unique)]
        pub(crate) colour: String,
        #[crud(unique)]
        pub(crate) code: Option<String>,
    }
}

#[tokio::test]
async fn new_option_and_default_fields_become_columns() {
    let client = TestClient::start(App::new(Default::default()).resource::<first::Widget>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let old = json!({"name": "w", "weight": 2, "colour": "red"});
    let made: Value = client.post("/widgets").bearer(&ann.token).json(&old).send().await.json();
    let path = format!("/widgets/{}", made["id"].as_str().unwrap_or_default());

    let client = client.restart(App::new(Default::default()).resource::<grown::Widget>()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    let read: Value = client.get(&path).bearer(&ann.token).send().await.json();
    assert_eq!(
        (&read["name"], &read["note"], &read["label"], &read["size"], &read["stage"], &read["serial"]),
        (&json!("w"), &Value::Null, &json!("plain"), &json!(3), &json!("new"), &Value::Null),
        "a row made before the fields holds their defaults: {read}"
    );
    let new = json!({"name": "v", "weight": 1, "colour": "blue", "note": "n", "size": 9, "serial": "s-1"});
    client.post("/widgets").bearer(&ann.token).json(&new).send().await.assert_status(201);
    for (field, value) in [("serial", "s-1"), ("colour", "red")] {
        let mut again = json!({"name": "u", "weight": 1, "colour": "green", "serial": "s-2"});
        again[field] = json!(value);
        let refused = client.post("/widgets").bearer(&ann.token).json(&again).send().await;
        refused.assert_status(409);
        assert!(refused.text().contains(field), "the conflict names `{field}`: {}", refused.text());
    }
    let page: Value = client.get("/widgets").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 2);

    // Started again, nothing is left to add.
    let client = client.restart(App::new(Default::default()).resource::<grown::Widget>()).await;
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    client.get(&path).bearer(&ann.token).send().await.assert_status(200);
}

#[tokio::test]
async fn any_other_difference_stops_start_up_and_names_each_with_its_sql() {
    let client = TestClient::start(App::new(Default::default()).resource::<first::Widget>()).await;
    let postgres = client.is_postgres();
    let ann = client.sign_up("ann@example.com").await;
    let old = json!({"name": "w", "weight": 2, "colour": "red"});
    client.post("/widgets").bearer(&ann.token).json(&old).send().await.assert_status(201);

    let error = client.try_restart(App::new(Default::default()).resource::<changed::Widget>()).await.err();
    let Some(StartupError::SchemaDiffers { table, differences }) = error else {
        panic!("expected the table's differences, got {error:?}");
    };
    assert_eq!(table, "widgets");
    let find = |column: &str| {
        differences
            .iter()
            .find(|difference| difference.column == column)
            .unwrap_or_else(|| panic!("no difference on `{column}`: {differences:?}"))
    };
    assert!(find("name").difference.contains("Option"), "{:?}", find("name"));
    assert!(find("weight").difference.contains("stored as"), "{:?}", find("weight"));
    assert!(find("maker").difference.contains("without a default"), "{:?}", find("maker"));
    assert!(find("maker").sql.contains("ADD COLUMN \"maker\""), "{:?}", find("maker"));
    assert!(find("colour").sql.contains("DROP COLUMN \"colour\""), "{:?}", find("colour"));
    if postgres {
        assert!(find("name").sql.contains("DROP NOT NULL"), "{:?}", find("name"));
        assert!(find("weight").sql.contains("ALTER COLUMN \"weight\" TYPE"), "{:?}", find("weight"));
    } else {
        assert!(find("weight").sql.contains("SQLite cannot alter a column"), "{:?}", find("weight"));
    }
    assert!(find("code").difference.contains("no longer `unique`"), "{:?}", find("code"));
    assert_eq!(differences.len(), 5, "{differences:?}");
    let message = StartupError::SchemaDiffers { table, differences }.to_string();
    assert!(message.starts_with("table `widgets` does not fit its struct:"), "{message}");
}

#[tokio::test]
async fn a_field_made_unique_over_repeated_values_stops_start_up_and_changes_nothing() {
    let client = TestClient::start(App::new(Default::default()).resource::<first::Widget>()).await;
    let ann = client.sign_up("ann@example.com").await;
    for name in ["a", "b"] {
        let old = json!({"name": name, "weight": 2, "colour": "red"});
        client.post("/widgets").bearer(&ann.token).json(&old).send().await.assert_status(201);
    }
    let error = client.try_restart(App::new(Default::default()).resource::<unique_colour::Widget>()).await.err();
    let Some(StartupError::SchemaDiffers { table, differences }) = error else {
        panic!("expected the table's differences, got {error:?}");
    };
    assert_eq!((table, differences.len(), differences[0].column.as_str()), ("widgets", 1, "colour"), "{differences:?}");
    assert!(differences[0].sql.contains("CREATE UNIQUE INDEX"), "{:?}", differences[0]);
}
