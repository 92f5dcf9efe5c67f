//! What a field is comes from its type, not from how the type is spelled:
//! aliases of supported types take the options their target takes, and a
//! user's own type named like a framework type is taken for what it is.

use fastsaas::prelude::*;
use fastsaas::serde_json::json;
use fastsaas::spec::FieldKind;
use fastsaas::testing::TestClient;

/// A name, by another name.
type Name = String;
/// Labels, by another name.
type Labels = Vec<String>;

/// A user's own enum that happens to be called `Value`: a single value the
/// database compares, not JSON.
#[derive(CrudEnum, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Value {
    Low,
    High,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/gauges")]
pub(crate) struct Gauge {
    #[crud(validate(length(min = 2, max = 8)), filter, sort)]
    pub(crate) name: Name,
    #[crud(validate(length(max = 2)))]
    pub(crate) labels: Labels,
    #[crud(filter, sort)]
    pub(crate) level: Value,
}

fn kind_of(name: &str) -> Option<FieldKind> {
    Gauge::SPEC.fields.iter().find(|field| field.name == name).map(|field| field.kind)
}

#[test]
fn aliases_and_namesakes_have_the_kind_of_their_type() {
    assert_eq!(kind_of("name"), Some(FieldKind::Text));
    assert_eq!(kind_of("labels"), Some(FieldKind::Array(&FieldKind::Text)));
    assert_eq!(kind_of("level"), Some(FieldKind::Enum(&["low", "high"])));
}

#[tokio::test]
async fn options_on_aliases_are_enforced_and_namesakes_are_compared() {
    let client = TestClient::start(App::new(Default::default()).resource::<Gauge>()).await;
    let ann = client.sign_up("ann@example.com").await;
    let refused = client
        .post("/gauges")
        .bearer(&ann.token)
        .json(&json!({"name": "a", "labels": ["x", "y", "z"], "level": "low"}))
        .send()
        .await;
    refused.assert_status(400);
    let problem: serde_json::Value = refused.json();
    let fields: Vec<&str> =
        problem["errors"].as_array().into_iter().flatten().filter_map(|error| error["field"].as_str()).collect();
    assert_eq!(fields, ["name", "labels"], "both aliases' lengths are checked: {problem}");

    for (name, level) in [("low one", "low"), ("high one", "high")] {
        let body = json!({"name": name, "labels": [], "level": level});
        client.post("/gauges").bearer(&ann.token).json(&body).send().await.assert_status(201);
    }
    let page: serde_json::Value = client.get("/gauges?level=high").bearer(&ann.token).send().await.json();
    let names: Vec<&str> =
        page["items"].as_array().into_iter().flatten().filter_map(|item| item["name"].as_str()).collect();
    assert_eq!(names, ["high one"], "the enum named `Value` is filtered as a value: {page}");
}
