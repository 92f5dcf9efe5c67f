//! An app's own routes with a state of its own (`App::with_state`): its
//! handlers take `State<Its>` beside the framework's extractors, which
//! authorize exactly as on the framework's routes.

use fastsaas::axum::extract::{FromRef, State};
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::TestClient;
use fastsaas::{AppState, Route, StartupError};

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
struct Note {
    title: String,
}

#[derive(Clone)]
struct Greeting(String);

#[derive(Clone)]
struct MyState {
    fastsaas: AppState,
    greeting: Greeting,
}

impl FromRef<MyState> for AppState {
    fn from_ref(state: &MyState) -> AppState {
        state.fastsaas.clone()
    }
}

impl FromRef<MyState> for Greeting {
    fn from_ref(state: &MyState) -> Greeting {
        state.greeting.clone()
    }
}

async fn hello(caller: Principal, State(Greeting(greeting)): State<Greeting>) -> String {
    format!("{greeting}, {}", caller.id)
}

async fn shout(note: Authorized<Note>, State(Greeting(greeting)): State<Greeting>) -> String {
    format!("{greeting}: {}!", note.title.to_uppercase())
}

async fn count(ctx: Ctx) -> ApiResult<Json<Value>> {
    let page = ctx.records::<Note>().list("").await?;
    Ok(Json(json!({"total": page.total})))
}

#[derive(Deserialize)]
struct Echo {
    said: String,
}

async fn echo(State(Greeting(greeting)): State<Greeting>, Json(echo): Json<Echo>) -> String {
    format!("{greeting}, {}", echo.said)
}

fn app() -> App {
    let greeting = Greeting("hello".into());
    App::new(Default::default()).resource::<Note>().with_state(
        move |fastsaas| MyState { fastsaas, greeting: greeting.clone() },
        [
            Route::get("/hello", hello).summary("Greets the caller"),
            Route::get("/shout/{id}", shout).operation_id("shout_note").response(200, "The note's title, shouted"),
            Route::get("/count", count),
            Route::post("/echo", echo),
        ],
    )
}

#[tokio::test]
async fn own_state_beside_the_frameworks_extractors() {
    let client = TestClient::start(app()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    client.get("/hello").send().await.assert_status(401);
    let hello = client.get("/hello").bearer(&ann.token).send().await;
    hello.assert_status(200);
    assert_eq!(hello.text(), format!("hello, {}", ann.id));

    let note: Value = client.post("/notes").bearer(&ann.token).json(&json!({"title": "mine"})).send().await.json();
    let path = format!("/shout/{}", note["id"].as_str().unwrap_or_default());
    assert_eq!(client.get(&path).bearer(&ann.token).send().await.text(), "hello: MINE!");
    client.get(&path).bearer(&bob.token).send().await.assert_status(404);
    let counted: Value = client.get("/count").bearer(&bob.token).send().await.json();
    assert_eq!(counted, json!({"total": 0}), "bob's records API sees none of ann's notes");

    // The framework's JSON rules hold with the app's state too.
    let echoed = client.post("/echo").json(&json!({"said": "hi"})).send().await;
    assert_eq!(echoed.text(), "hello, hi");
    let unknown = client.post("/echo").json(&json!({"said": "hi", "sadi": 1})).send().await;
    unknown.assert_status(400);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn an_own_route_on_a_taken_path_stops_start_up() {
    let clash = App::new(Default::default())
        .resource::<Note>()
        .with_state(|fastsaas| fastsaas, [Route::get("/notes", || async { "mine" })]);
    let error = TestClient::try_start(clash).await.err().map(|err: StartupError| err.to_string());
    assert_eq!(
        error.as_deref(),
        Some("routes clash: `GET /notes` is served twice: by `Note` and by the app (`App::with_state`)")
    );
}

#[tokio::test]
async fn own_routes_are_documented() {
    let client = TestClient::start(app()).await;
    let document: Value = client.get("/openapi.json").send().await.json();
    let hello = &document["paths"]["/hello"]["get"];
    assert_eq!(hello["summary"], "Greets the caller");
    assert_eq!(hello["operationId"], "get_hello");
    let shout = &document["paths"]["/shout/{id}"]["get"];
    assert_eq!(shout["operationId"], "shout_note");
    assert_eq!(shout["responses"]["200"]["description"], "The note's title, shouted");
    assert_eq!(shout["parameters"][0]["name"], "id");
    assert!(document["paths"]["/echo"]["post"].is_object());
}

/// Read-only notes: `POST /memos` is a disabled operation (405).
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/memos")]
#[crud(ops(read, list))]
struct Memo {
    text: String,
}

/// An app may serve a method that a resource disables on its own path, with
/// its own state too: the route replaces the 405, and the other methods of
/// the path still answer as the resource says.
#[tokio::test]
async fn an_own_route_may_take_a_disabled_operations_place() {
    let app = App::new(Default::default()).resource::<Memo>().with_state(
        |fastsaas| MyState { fastsaas, greeting: Greeting("memo".into()) },
        [Route::post("/memos", |State(Greeting(greeting)): State<Greeting>| async move { greeting })],
    );
    let client = TestClient::start(app).await;
    let ann = client.sign_up("ann@example.com").await;
    assert_eq!(client.post("/memos").bearer(&ann.token).send().await.text(), "memo");
    client.get("/memos").bearer(&ann.token).send().await.assert_status(200);
    let refused = client.delete("/memos").bearer(&ann.token).send().await;
    refused.assert_status(405);
    assert_eq!(refused.header("allow"), Some("GET"));
}
