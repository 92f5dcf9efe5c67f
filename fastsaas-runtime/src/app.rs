//! The application builder: settings, registered resources, router, server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;

use fastsaas_core::resource::FRAMEWORK_PATHS;
use fastsaas_core::{ResourceSpec, Settings};
use sea_orm::DatabaseConnection;

use crate::endpoints::ResourceRoutes;
use crate::endpoints::{Endpoint, EndpointDoc};
use crate::error::StartupError;
use crate::identity::{self, Identity};
use crate::registry::Registry;
use crate::seal::{self, FieldKeys};
use crate::state::{AppState, Services};
use crate::{db, migrations, openapi, routes};

type EnsureTable =
    for<'a> fn(&'a DatabaseConnection) -> Pin<Box<dyn Future<Output = Result<(), StartupError>> + Send + 'a>>;

/// One registered resource: its description and the generic functions that
/// serve it, instantiated for its type.
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    pub(crate) spec: &'static ResourceSpec,
    endpoints: fn() -> Vec<EndpointDoc>,
    pub(crate) mount: fn(Router<AppState>) -> Router<AppState>,
    ensure_table: EnsureTable,
}

/// A FastSaaS application: settings plus resources, turned into an axum
/// [`Router`] or served directly.
///
/// ```no_run
/// # use fastsaas_runtime::{App, StartupError};
/// # async fn run() -> Result<(), StartupError> {
/// App::from_env()?            // defaults < fastsaas.toml < environment
///     // .resource::<Item>()  // one line per #[derive(Crud)] type
///     .serve()                // until Ctrl-C or SIGTERM
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct App {
    settings: Settings,
    resources: Vec<Registration>,
    routes: Vec<(String, MethodRouter<AppState>)>,
    routers: Vec<UserRouter>,
    statement_observer: Option<StatementObserver>,
}

/// Makes a router of the app's own, with a state of its own, from the
/// framework's state.
type UserRouter = Arc<dyn Fn(AppState) -> Router + Send + Sync>;

/// Called with the SQL of every statement the app sends (the test client
/// counts a request's round trips with it).
pub(crate) type StatementObserver = Arc<dyn Fn(&str) + Send + Sync>;

impl App {
    /// An app with the given settings and no resources yet.
    pub fn new(settings: Settings) -> App {
        App { settings, resources: Vec::new(), routes: Vec::new(), routers: Vec::new(), statement_observer: None }
    }

    /// An app configured from defaults < `fastsaas.toml` < environment
    /// (see [`Settings::load`]).
    pub fn from_env() -> Result<App, StartupError> {
        Ok(App::new(Settings::load()?))
    }

    /// Registers a `#[derive(Crud)]` type: its table, its routes under its
    /// scope path, and its OpenAPI schemas.
    #[must_use]
    pub fn resource<T: ResourceRoutes>(mut self) -> App {
        self.resources.push(Registration {
            spec: T::SPEC,
            endpoints: || T::custom_endpoints().iter().map(Endpoint::doc).collect(),
            mount: routes::mount::<T>,
            ensure_table: |db| Box::pin(db::ensure_table::<T::Entity>(db, T::SPEC)),
        });
        self
    }

    /// Adds a route of your own (with and without a trailing slash). Its
    /// handlers may take the framework's extractors: [`Principal`](crate::Principal),
    /// [`Authorized<T>`](crate::Authorized), `State<AppState>`.
    ///
    /// ```no_run
    /// use fastsaas_runtime::axum::routing::get;
    /// use fastsaas_runtime::{App, Principal};
    ///
    /// async fn hello(principal: Principal) -> String {
    ///     format!("hello {}", principal.id)
    /// }
    ///
    /// let app = App::new(Default::default()).route("/hello", get(hello));
    /// ```
    #[must_use]
    pub fn route(mut self, path: &str, methods: MethodRouter<AppState>) -> App {
        self.routes.push((path.to_owned(), methods));
        self
    }

    /// Adds routes of your own with a state of your own. `routes` gets the
    /// framework's [`AppState`] once the app starts and answers a router
    /// whose state is already given (`.with_state(..)`). Put the
    /// `AppState` inside your state, with `FromRef` to it, and handlers
    /// take the framework's extractors (`Principal`, `Authorized<T>`,
    /// `Ctx`, `Json`) beside `State<YourThing>`. A path that is already
    /// routed stops start-up with an error naming it.
    ///
    /// The `fastsaas` README ("Your own state") has a whole example.
    #[must_use]
    pub fn with_router(mut self, routes: impl Fn(AppState) -> Router + Send + Sync + 'static) -> App {
        self.routers.push(Arc::new(routes));
        self
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Changes the settings, e.g. to point a test at another database.
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> App {
        self.settings = settings;
        self
    }

    /// Has `observer` called with every statement the app sends.
    #[cfg(feature = "testing")]
    #[must_use]
    pub(crate) fn observe_statements(mut self, observer: StatementObserver) -> App {
        self.statement_observer = Some(observer);
        self
    }

    /// Connects to the database, creates missing tables, and returns the
    /// router, ready to be served or nested in a larger axum app (add tower
    /// layers to it as to any router).
    pub async fn into_router(self) -> Result<Router, StartupError> {
        self.check_unique()?;
        let identity = Identity::from_settings(&self.settings)?;
        let field_keys = self.field_keys()?;
        let endpoints: Vec<(&'static ResourceSpec, Vec<EndpointDoc>)> =
            self.resources.iter().map(|r| (r.spec, (r.endpoints)())).collect();
        let document = openapi::document(&endpoints);
        let custom_actions = endpoints
            .iter()
            .map(|(spec, endpoints)| {
                (spec.name, endpoints.iter().filter_map(|endpoint| endpoint.spec.action()).collect())
            })
            .collect();
        // Before the database: a clash of routes is a mistake in the code,
        // reported without touching anything.
        let router = self.route_table(document)?;
        let mut db = db::connect(&self.settings).await?;
        if let Some(observer) = self.statement_observer.clone() {
            db.set_metric_callback(move |info| observer(&info.statement.sql));
        }
        // Replicas starting together take turns at the schema.
        let schema_lock = db::SchemaLock::acquire(&db, &self.settings).await?;
        migrations::run(&db).await?;
        identity::ensure_admin(&db, &self.settings).await?;
        for registration in &self.resources {
            (registration.ensure_table)(&db).await?;
        }
        schema_lock.release().await?;
        let resources = self.guarded_specs();
        let registry = Registry::new(resources, custom_actions);
        let state = AppState::new(Services { db, settings: self.settings, identity, registry, field_keys });
        let routers = &self.routers;
        let merge =
            || routers.iter().fold(router.with_state(state.clone()), |router, own| router.merge(own(state.clone())));
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(merge))
            .map_err(|panic| StartupError::Routes(panic_text(&panic)))
    }

    /// The keys of encrypted fields: required as soon as one registered
    /// resource has such a field.
    fn field_keys(&self) -> Result<Option<FieldKeys>, StartupError> {
        let keys = FieldKeys::from_settings(&self.settings)?;
        let encrypted = self.resources.iter().find_map(|r| seal::encrypted_fields(r.spec).next().map(|f| (r.spec, f)));
        match (&keys, encrypted) {
            (None, Some((spec, field))) => Err(StartupError::Config(format!(
                "`{}.{}` is encrypted at rest: set FASTSAAS_FIELD_KEYS to `<id>:<32 bytes in base64>` \
                 (for example `1:$(openssl rand -base64 32)`)",
                spec.name, field.name
            ))),
            _ => Ok(keys),
        }
    }

    /// Every route: the framework's, the resources', then the app's own.
    /// axum refuses two handlers for one method and path (say an app route
    /// or an endpoint on a path a resource serves) by panicking; that
    /// becomes a start-up error naming the route.
    fn route_table(&self, document: serde_json::Value) -> Result<Router<AppState>, StartupError> {
        for (path, _) in &self.routes {
            let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
            if FRAMEWORK_PATHS.contains(&first) {
                return Err(StartupError::Routes(format!(
                    "`{path}`: paths under `/{first}` belong to the framework; pick another path"
                )));
            }
        }
        let build = || {
            let framework = routes::framework(Router::new(), document);
            let router = self.resources.iter().fold(framework, |router, r| (r.mount)(router));
            let router = self
                .routes
                .iter()
                .fold(router, |router, (path, methods)| crate::http::route_both(router, path, methods.clone()));
            routes::fallbacks(router)
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(build))
            .map_err(|panic| StartupError::Routes(panic_text(&panic)))
    }

    /// Serves the app on `settings.bind` until Ctrl-C or SIGTERM, then lets
    /// requests in flight finish.
    pub async fn serve(self) -> Result<(), StartupError> {
        crate::telemetry::init();
        let bind = self.settings.bind.clone();
        let serve_error = |source| StartupError::Serve { bind: bind.clone(), source };
        let limits = crate::server::Limits::from_settings(&self.settings);
        let router = self.into_router().await?;
        let listener = tokio::net::TcpListener::bind(&bind).await.map_err(serve_error)?;
        tracing::info!(address = %bind, "FastSaaS listening; API description at /openapi.json");
        crate::server::serve(listener, router, limits, shutdown_signal()).await.map_err(serve_error)
    }

    /// Every type ACL entries can name: the resources and their templates.
    fn guarded_specs(&self) -> Vec<&'static ResourceSpec> {
        self.resources.iter().flat_map(|r| std::iter::once(r.spec).chain(r.spec.templates)).collect()
    }

    fn check_unique(&self) -> Result<(), StartupError> {
        let specs = self.guarded_specs();
        for (index, later) in specs.iter().enumerate() {
            for earlier in &specs[..index] {
                // The framework's tables (`fastsaas_`, which the derive
                // refuses for resources) are shared by the templates of all types.
                let shared = earlier.table.starts_with("fastsaas_");
                let clash = if earlier.name == later.name {
                    Some(("type name", later.name))
                } else if earlier.path == later.path {
                    Some(("scope path", later.path))
                } else if earlier.table == later.table && !shared {
                    Some(("table", later.table))
                } else {
                    None
                };
                if let Some((what, value)) = clash {
                    return Err(StartupError::Duplicate { what, value, first: earlier.name, second: later.name });
                }
            }
        }
        Ok(())
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// What axum said when it refused a route (it panics on a clash).
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("two routes clash")
        .to_owned()
}
