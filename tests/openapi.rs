//! `/openapi.json` describes every route, schema and problem type.

use fastsaas::prelude::*;
use fastsaas::serde_json::Value;
use fastsaas::testing::TestClient;
use fastsaas::{ProblemKind, Settings};

/// A thing with a secret.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/things")]
struct Thing {
    /// Its name.
    #[crud(validate(length(min = 1, max = 20)), filter, sort)]
    name: String,
    #[crud(read_only, default = 0)]
    count: i64,
    #[crud(write_only)]
    password: Option<String>,
    #[crud(hidden, default = "x")]
    internal_note: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/logs")]
#[crud(ops(read, list))]
struct Log {
    line: String,
}

async fn document() -> Value {
    let client = TestClient::start(App::new(Settings::default()).resource::<Thing>().resource::<Log>()).await;
    let response = client.get("/openapi.json").send().await;
    response.assert_status(200);
    response.json()
}

#[tokio::test]
async fn every_enabled_route_is_listed_and_no_disabled_one() {
    let doc = document().await;
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/things", &["get", "post", "delete"][..]),
        ("/things/{id}", &["get", "patch", "put", "delete"][..]),
        ("/logs", &["get"][..]),
        ("/logs/{id}", &["get"][..]),
    ] {
        let listed: Vec<&str> =
            paths[path].as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        let mut listed = listed;
        listed.sort_unstable();
        let mut expected = methods.to_vec();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{path}");
    }
    let create = &paths["/things"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ThingCreate"
    );
    assert!(create["responses"]["201"].is_object());
    let problems = create["responses"]["400"]["description"].as_str().unwrap_or_default();
    assert!(problems.contains(ProblemKind::Validation.type_uri()), "{problems}");
    let list = &paths["/things"]["get"];
    let parameters: Vec<&str> =
        list["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(parameters, ["page", "page_size", "total", "sort", "name"]);
}

#[tokio::test]
async fn identity_routes_are_described_with_their_security() {
    let doc = document().await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/users", "post"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/login", "post"),
        ("/refresh", "post"),
        ("/logout", "post"),
        ("/me", "get"),
        ("/roles", "post"),
        ("/roles/{id}/members/{user_id}", "delete"),
        ("/orgs", "post"),
        ("/orgs/{id}/members", "post"),
        ("/acl", "post"),
        ("/acl/{id}", "delete"),
        ("/things/{id}/acl", "get"),
        ("/things/{id}/acl", "post"),
        ("/things/{id}/acl/{entry_id}", "delete"),
        ("/things/{id}/acl/check", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(paths["/me"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    assert!(paths["/login"]["post"].get("security").is_none());
    assert_eq!(paths["/things/{id}"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    assert!(paths["/things"]["delete"]["responses"]["403"].is_object(), "clear can be refused");
    let registration = &doc["components"]["schemas"]["UserCreate"];
    assert_eq!(registration["required"], serde_json::json!(["email", "password"]));
    assert_eq!(registration["properties"]["password"]["minLength"], 8);
    let user = doc["components"]["schemas"]["User"]["properties"].as_object().map(|o| o.len());
    assert_eq!(user, Some(5), "a user shows id, email, name and timestamps, never a password");
    assert!(!doc.to_string().contains("password_hash"));
}

#[tokio::test]
async fn schemas_follow_field_access() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    let record = &schemas["Thing"];
    assert_eq!(record["description"], "A thing with a secret.");
    let properties: Vec<&str> =
        record["properties"].as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    for present in ["id", "owner_id", "name", "count", "created_at", "updated_at"] {
        assert!(properties.contains(&present), "{present} in {properties:?}");
    }
    for absent in ["password", "internal_note"] {
        assert!(!properties.contains(&absent), "{absent} must not be in the record schema");
    }
    assert_eq!(record["properties"]["count"]["readOnly"], true);
    let create = &schemas["ThingCreate"];
    assert_eq!(create["required"], serde_json::json!(["name"]));
    assert_eq!(create["properties"]["name"]["maxLength"], 20);
    assert_eq!(create["properties"]["password"]["writeOnly"], true);
    assert!(create["properties"].get("count").is_none() && create["properties"].get("internal_note").is_none());
    assert_eq!(create["additionalProperties"], false);
    assert!(schemas["ThingPatch"].get("required").is_none());
    let types = schemas["Problem"]["properties"]["type"]["enum"].as_array().map(Vec::len);
    assert_eq!(types, Some(ProblemKind::ALL.len()));
}

use fastsaas::serde_json;
