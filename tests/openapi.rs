//! `/openapi.json` describes every route, schema and problem type.

use fastsaas::Settings;
use fastsaas::axum::extract::Path;
use fastsaas::error::ProblemKind;
use fastsaas::prelude::*;
use fastsaas::serde_json::Value;
use fastsaas::testing::TestClient;

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

/// Lists and maps of fields.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/bags")]
struct Bag {
    #[crud(validate(length(min = 1, max = 3)))]
    tags: Vec<String>,
    scores: std::collections::BTreeMap<String, i64>,
    grid: Option<Vec<Vec<i32>>>,
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
    assert_eq!(parameters, ["page", "page_size", "total", "after", "sort", "name"]);
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

/// A templated resource with API keys and custom endpoints, so that every
/// kind of route is in the document.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/robots")]
#[crud(templated, authenticated)]
struct Robot {
    name: String,
}

#[endpoints]
impl Robot {
    /// Wakes the robot.
    #[endpoint(post, "/{id}/wake", action = "wake")]
    async fn wake(robot: Authorized<Robot>) -> String {
        robot.name.clone()
    }

    #[endpoint(get, "/{id}/files/{name}")]
    async fn file(_robot: Authorized<Robot>, Path((_, name)): Path<(Uuid, String)>) -> String {
        name
    }
}

async fn hello() -> &'static str {
    "hello"
}

/// The router answers every operation of the document: none reaches the
/// fallback for unknown paths (404 "no such route") or unknown methods
/// (405). Together with the route table, from which both the router and
/// the document are built, no route is served undocumented.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = App::new(Settings::default())
        .resource::<Thing>()
        .resource::<Log>()
        .resource::<Robot>()
        .route(Route::get("/hello", hello));
    let client = TestClient::start(app).await;
    let doc: Value = client.get("/openapi.json").send().await.json();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut walked = 0;
    for (path, operations) in &paths {
        let concrete: Vec<String> = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { Uuid::new_v4().to_string() } else { segment.to_owned() })
            .collect();
        let concrete = concrete.join("/");
        for method in operations.as_object().into_iter().flat_map(|operations| operations.keys()) {
            let method = fastsaas::axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = client.request(method.clone(), &concrete).send().await;
            let problem: Value = fastsaas::serde_json::from_str(&response.text()).unwrap_or_default();
            let fallback = (response.status() == 404 && problem["detail"] == "no such route")
                || (response.status() == 405 && problem["detail"] == "this method is not allowed on this path");
            assert!(!fallback, "{method} {path} is documented but not routed");
            walked += 1;
        }
    }
    assert!(paths.contains_key("/hello") && paths.contains_key("/robots/{id}/files/{name}"), "{:?}", paths.keys());
    assert!(walked > 60, "only {walked} operations");
    // An undocumented path reaches the fallback, so the check above can fail.
    let unknown = client.get("/nowhere").send().await;
    let problem: Value = unknown.json();
    assert_eq!((unknown.status().as_u16(), &problem["detail"]), (404, &Value::from("no such route")));
}

/// A list's items and a map's values have schemas, so generated clients
/// keep the models that hold them (a generator once dropped every model
/// with a list field, and with them create, update, list and clone).
#[tokio::test]
async fn lists_and_maps_describe_their_elements() {
    let client = TestClient::start(App::new(Settings::default()).resource::<Bag>()).await;
    let doc: Value = client.get("/openapi.json").send().await.json();
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["BagCreate"]["properties"];
    assert_eq!(create["tags"]["type"], "array");
    assert_eq!(create["tags"]["items"]["type"], "string");
    assert_eq!((create["tags"]["minItems"].as_u64(), create["tags"]["maxItems"].as_u64()), (Some(1), Some(3)));
    assert_eq!(create["scores"]["additionalProperties"]["type"], "integer");
    assert_eq!(create["grid"]["type"], fastsaas::serde_json::json!(["array", "null"]));
    assert_eq!(create["grid"]["items"]["items"]["format"], "int32");
    let record = &schemas["Bag"]["properties"];
    assert_eq!(record["tags"]["items"]["type"], "string");
    assert!(record["tags"]["minItems"].is_null(), "rules are for bodies");
}

/// Every operation has an `operationId`, and no two share one.
#[tokio::test]
async fn operation_ids_are_unique() {
    let app = App::new(Settings::default()).resource::<Thing>().resource::<Log>().resource::<Robot>();
    let client = TestClient::start(app).await;
    let doc: Value = client.get("/openapi.json").send().await.json();
    let mut ids = Vec::new();
    for (path, operations) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            ids.push(id.to_owned());
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operationIds");
}
