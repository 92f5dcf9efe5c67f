//! An in-process test client: builds the app on a fresh database per test
//! and sends requests without a socket.
//!
//! ```no_run
//! use fastsaas_runtime::App;
//! use fastsaas_runtime::testing::TestClient;
//! use serde_json::json;
//!
//! # async fn demo() {
//! let client = TestClient::start(App::new(Default::default()) /* .resource::<Item>() */).await;
//! let response = client.post("/items").json(&json!({"name": "a"})).send().await;
//! response.assert_status(201);
//! # }
//! ```
//!
//! Each client gets its own database: a new SQLite file in the temporary
//! directory (removed when the client is dropped), or, when the environment
//! variable `FASTSAAS_TEST_DATABASE_URL` names a PostgreSQL database, a new
//! schema in it. Tests therefore run in parallel without sharing data.

use sea_orm::Statement;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, Database};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::app::App;

/// The variable that points tests at PostgreSQL instead of SQLite.
pub const TEST_DATABASE_URL: &str = "FASTSAAS_TEST_DATABASE_URL";

/// The variable that names the Redis server of the tests of the Redis bus.
pub const TEST_REDIS_URL: &str = "FASTSAAS_TEST_REDIS_URL";

/// The Redis server for tests of the Redis bus: the one
/// `FASTSAAS_TEST_REDIS_URL` names, else `redis://127.0.0.1:6379` if
/// something listens there. `None` (said on stderr) if the variable is not
/// set and nothing listens: the test should then return, skipped. CI sets
/// the variable, so that a missing server fails there instead.
pub fn test_redis_url() -> Option<String> {
    if let Ok(url) = std::env::var(TEST_REDIS_URL) {
        return Some(url);
    }
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
    if std::net::TcpStream::connect_timeout(&local, std::time::Duration::from_secs(1)).is_ok() {
        return Some("redis://127.0.0.1:6379".to_owned());
    }
    eprintln!("skipped: no Redis at 127.0.0.1:6379 and {TEST_REDIS_URL} is not set");
    None
}

/// A loopback address of its own, as a distinct client would have.
fn fresh_address() -> std::net::SocketAddr {
    let [a, b, c, ..] = uuid::Uuid::new_v4().into_bytes();
    std::net::SocketAddr::from(([127, a, b, c.max(1)], 40_000))
}

/// An app under test, with its own database.
#[derive(Debug)]
pub struct TestClient {
    router: Router,
    database: TestDatabase,
    settings: fastsaas_core::Settings,
    acting_as: Option<String>,
    statements: Statements,
}

/// The statements sent since the last [`Statements::take`].
#[derive(Clone, Debug, Default)]
struct Statements(Arc<Mutex<Vec<Statement>>>);

impl Statements {
    fn observer(&self) -> crate::app::StatementObserver {
        let sent = Arc::clone(&self.0);
        Arc::new(move |statement: &Statement| {
            sent.lock().unwrap_or_else(PoisonError::into_inner).push(statement.clone());
        })
    }

    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A user made by [`TestClient::sign_up`], with a fresh access token.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// The user's id.
    pub id: uuid::Uuid,
    /// The user's e-mail.
    pub email: String,
    /// An access token for the user.
    pub token: String,
}

/// The password [`TestClient::sign_up`] gives every user.
pub const TEST_PASSWORD: &str = "test password";

#[derive(Debug)]
enum TestDatabase {
    SqliteFile(PathBuf),
    PostgresSchema,
    /// Another client's database, which that client cleans up.
    Shared {
        postgres: bool,
    },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::SqliteFile(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                // The file may not exist (no WAL written): nothing to clean.
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

/// `settings` in the test environment (cheap password hashes), unless they
/// name another than the default on purpose (production, to test its
/// checks).
fn in_test_environment(settings: fastsaas_core::Settings) -> fastsaas_core::Settings {
    match settings.env {
        fastsaas_core::Environment::Development => {
            fastsaas_core::Settings { env: fastsaas_core::Environment::Test, ..settings }
        }
        _ => settings,
    }
}

impl TestClient {
    /// Starts `app` on a fresh database, in the test environment
    /// (`Environment::Test`: cheap password hashes) unless its settings
    /// say production.
    ///
    /// # Panics
    /// If the database cannot be created or the app cannot start: a test
    /// cannot go on without them, and the message says why.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn start(app: App) -> TestClient {
        TestClient::try_start(app).await.expect("the app under test could not start")
    }

    /// Like [`TestClient::start`], returning the start-up error instead.
    pub async fn try_start(app: App) -> Result<TestClient, crate::StartupError> {
        let name = format!("fastsaas_test_{}", uuid::Uuid::new_v4().simple());
        let mut settings = app.settings().clone();
        let database = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.is_empty() => {
                let admin = Database::connect(url.as_str()).await?;
                admin.execute_unprepared(&format!("CREATE SCHEMA \"{name}\"")).await?;
                admin.close().await?;
                let separator = if url.contains('?') { '&' } else { '?' };
                settings.database_url = format!("{url}{separator}options=-c%20search_path%3D{name}");
                TestDatabase::PostgresSchema
            }
            _ => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                settings.database_url = format!("sqlite://{}?mode=rwc", path.display());
                TestDatabase::SqliteFile(path)
            }
        };
        settings.db_max_connections = settings.db_max_connections.min(4);
        let settings = in_test_environment(settings);
        let statements = Statements::default();
        let router =
            app.with_settings(settings.clone()).observe_statements(statements.observer()).into_router().await?;
        Ok(TestClient { router, database, settings, acting_as: None, statements })
    }

    /// Starts `app` on this client's database, as a new version of an app
    /// would start on the data of the old one (say after a rename, or with
    /// a new key in its settings): `app`'s settings, with this client's
    /// database. Tokens of the old app are signed with its own key: sign in
    /// again.
    ///
    /// # Panics
    /// If the app cannot start.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn restart(self, app: App) -> TestClient {
        self.try_restart(app).await.expect("the restarted app could not start")
    }

    /// Like [`TestClient::restart`], returning the start-up error instead.
    pub async fn try_restart(self, app: App) -> Result<TestClient, crate::StartupError> {
        let TestClient { database, settings: old, statements, .. } = self;
        let settings = in_test_environment(fastsaas_core::Settings {
            database_url: old.database_url,
            db_max_connections: old.db_max_connections,
            ..app.settings().clone()
        });
        let router =
            app.with_settings(settings.clone()).observe_statements(statements.observer()).into_router().await?;
        Ok(TestClient { router, database, settings, acting_as: None, statements })
    }

    /// The settings the app under test runs with (its own database's URL).
    pub fn settings(&self) -> &fastsaas_core::Settings {
        &self.settings
    }

    /// Whether this client runs on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        matches!(self.database, TestDatabase::PostgresSchema | TestDatabase::Shared { postgres: true })
    }

    /// Starts `app` as a replica of this client's app: another process's
    /// worth of state (its own pool, sockets and listener) on the same
    /// database, which stays this client's to clean up. Replicas share a
    /// database on PostgreSQL; on SQLite they share the file.
    ///
    /// # Panics
    /// If the replica cannot start.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn replica(&self, app: App) -> TestClient {
        let settings = in_test_environment(fastsaas_core::Settings {
            database_url: self.settings.database_url.clone(),
            db_max_connections: self.settings.db_max_connections,
            ..app.settings().clone()
        });
        let statements = Statements::default();
        let router = app
            .with_settings(settings.clone())
            .observe_statements(statements.observer())
            .into_router()
            .await
            .expect("the replica could not start");
        let database = TestDatabase::Shared { postgres: self.is_postgres() };
        TestClient { router, database, settings, acting_as: None, statements }
    }

    /// Serves the app under test on a loopback port, through the server
    /// `App::serve` runs, for clients that need a real connection (a
    /// WebSocket); it shares everything with this client (one app, one
    /// database). It serves until the test's runtime ends.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn listen(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("the port's address");
        let limits = crate::server::Limits::from_settings(&self.settings);
        let router = self.router.clone();
        tokio::spawn(crate::server::serve(listener, router, limits, std::future::pending()));
        address
    }

    /// Registers a user with [`TEST_PASSWORD`] and signs it in.
    ///
    /// ```
    /// # use fastsaas_runtime::{App, testing::TestClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = TestClient::start(App::new(Default::default())).await;
    /// let ann = client.sign_up("ann@example.com").await;
    /// client.get("/me").bearer(&ann.token).send().await.assert_status(200);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If registration or login fails.
    pub async fn sign_up(&self, email: &str) -> TestUser {
        let body = serde_json::json!({"email": email, "password": TEST_PASSWORD});
        let registered = self.post("/users").without_identity().from_address(fresh_address()).json(&body).send().await;
        registered.assert_status(201);
        self.sign_in(email, TEST_PASSWORD).await
    }

    /// Signs in an existing user (say the `FASTSAAS_ADMIN_EMAIL` one). Each
    /// call comes from its own client address, so attempt limits do not
    /// interfere.
    ///
    /// ```
    /// # use fastsaas_runtime::{App, testing::TestClient};
    /// # use fastsaas_core::{Secret, Settings};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let settings = Settings {
    ///     admin_email: Some("root@example.com".into()),
    ///     admin_password: Some(Secret("root password".into())),
    ///     ..Settings::default()
    /// };
    /// let client = TestClient::start(App::new(settings)).await;
    /// let root = client.sign_in("root@example.com", "root password").await;
    /// client.get("/roles").bearer(&root.token).send().await.assert_status(200);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the login fails.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn sign_in(&self, email: &str, password: &str) -> TestUser {
        let body = serde_json::json!({"email": email, "password": password});
        let login = self.post("/login").without_identity().from_address(fresh_address()).json(&body).send().await;
        login.assert_status(200);
        let token = login.json::<serde_json::Value>()["access_token"].as_str().unwrap_or_default().to_owned();
        let me = self.get("/me").bearer(&token).send().await;
        me.assert_status(200);
        let id = me.json::<serde_json::Value>()["id"].as_str().and_then(|id| id.parse().ok());
        TestUser { id: id.expect("the user has an id"), email: email.to_owned(), token }
    }

    /// Sends every later request as `user` (unless it sets its own
    /// `Authorization`, or calls [`TestRequest::without_identity`]).
    ///
    /// ```
    /// # use fastsaas_runtime::{App, testing::TestClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut client = TestClient::start(App::new(Default::default())).await;
    /// let ann = client.sign_up("ann@example.com").await;
    /// client.act_as(&ann);
    /// client.get("/me").send().await.assert_status(200);
    /// client.get("/me").without_identity().send().await.assert_status(401);
    /// # }
    /// ```
    pub fn act_as(&mut self, user: &TestUser) {
        self.acting_as = Some(user.token.clone());
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        let mut headers = HeaderMap::new();
        let bearer = self.acting_as.as_ref().and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
        if let Some(value) = bearer {
            headers.insert(header::AUTHORIZATION, value);
        }
        TestRequest { client: self, method, path: path.to_owned(), headers, body: Bytes::new(), peer: None }
    }

    /// A GET request.
    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }

    /// A POST request.
    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }

    /// A PUT request.
    pub fn put(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PUT, path)
    }

    /// A PATCH request.
    pub fn patch(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, path)
    }

    /// A DELETE request.
    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }
}

/// A request being built; [`TestRequest::send`] sends it.
#[derive(Debug)]
pub struct TestRequest<'a> {
    client: &'a TestClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    peer: Option<std::net::SocketAddr>,
}

impl TestRequest<'_> {
    /// Sets a JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.header(header::CONTENT_TYPE, "application/json").body(bytes)
    }

    /// Sets the raw body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a header.
    ///
    /// # Panics
    /// If `value` is not a valid header value.
    #[must_use]
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.insert(name, HeaderValue::from_str(value).expect("invalid header value"));
        self
    }

    /// Sends the request without credentials, even from a client that
    /// [acts as](TestClient::act_as) a user.
    #[must_use]
    pub fn without_identity(mut self) -> Self {
        self.headers.remove(header::AUTHORIZATION);
        self
    }

    /// Sets `Authorization: Bearer <token>` (an access token, or an API key
    /// of an authenticated resource).
    ///
    /// ```
    /// # use fastsaas_runtime::{App, testing::TestClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = TestClient::start(App::new(Default::default())).await;
    /// client.get("/me").bearer("not a token").send().await.assert_status(401);
    /// # }
    /// ```
    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// Makes the request come from `address`, as a socket peer would (the
    /// key of per-address limits). Without it the address is unknown.
    #[must_use]
    pub fn from_address(mut self, address: std::net::SocketAddr) -> Self {
        self.peer = Some(address);
        self
    }

    /// Sends the request through the app and collects the response.
    ///
    /// # Panics
    /// If the path is not a valid URI.
    #[allow(clippy::expect_used, reason = "a test helper reports failure by panicking")]
    pub async fn send(self) -> TestResponse {
        let mut request = Request::builder().method(self.method.clone()).uri(&self.path);
        if let Some(headers) = request.headers_mut() {
            headers.extend(self.headers);
        }
        let mut request = request.body(Body::from(self.body)).expect("invalid request");
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        self.client.statements.take();
        let response = match self.client.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
        let sent = self.client.statements.take();
        TestResponse {
            method: self.method,
            path: self.path,
            status: parts.status,
            headers: parts.headers,
            body,
            statements: sent.iter().map(|statement| statement.sql.clone()).collect(),
            sent,
        }
    }
}

/// A collected response, with assertions that print the body on failure.
#[derive(Debug)]
pub struct TestResponse {
    method: Method,
    path: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    statements: Vec<String>,
    sent: Vec<Statement>,
}

impl TestResponse {
    /// The SQL of every statement the app sent to the database while it
    /// served this request, in order: its round trips. A transaction's
    /// `BEGIN` and `COMMIT` are not listed, and requests sent at the same
    /// time through one client share one list.
    ///
    /// ```
    /// # use fastsaas_runtime::{App, testing::TestClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = TestClient::start(App::new(Default::default())).await;
    /// let ann = client.sign_up("ann@example.com").await;
    /// let me = client.get("/me").bearer(&ann.token).send().await;
    /// assert!(!me.statements().is_empty());
    /// # }
    /// ```
    pub fn statements(&self) -> &[String] {
        &self.statements
    }

    /// The statements of [`TestResponse::statements`] with the values they
    /// were sent with, e.g. to `EXPLAIN` what a route asked the database.
    pub fn sent(&self) -> &[Statement] {
        &self.sent
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The raw body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(err) => panic!("{} {}: body is not the expected JSON ({err}): {}", self.method, self.path, self.text()),
        }
    }

    /// Asserts the status, printing the request and body if it differs.
    ///
    /// # Panics
    /// If the status is not `expected`.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "{} {} answered {} with body {}",
            self.method,
            self.path,
            self.status,
            self.text()
        );
        self
    }
}
