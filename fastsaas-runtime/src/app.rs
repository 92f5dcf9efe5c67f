//! The application builder: settings, registered resources, router, server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;

use fastsaas_core::acl::actions_of;
use fastsaas_core::resource::FRAMEWORK_PATHS;
use fastsaas_core::{ResourceSpec, Settings};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::cache::{CacheLimits, Caches, SharedRows};
use crate::endpoints::ResourceRoutes;
use crate::error::StartupError;
use crate::identity::{self, Identity};
use crate::notify::Notifier;
use crate::notify::bus::{self, Bus, Listeners};
use crate::notify::hub::Hub;
use crate::registry::Registry;
use crate::route_table::{Route, RouteDoc, RouteTable, clashes};
use crate::seal::{self, FieldKeys};
use crate::state::{AppState, Services};
use crate::tasks::chores;
use crate::tasks::schedule::{self, Schedule};
use crate::tasks::worker::{Audience, WorkerConfig, Workers};
use crate::tasks::{Handlers, NewTask, Task, TaskResult};
use crate::telemetry::metrics::{self, Metrics};
use crate::{app_config, cors, db, metrics_routes, migrations, openapi, routes, telemetry};

type EnsureTable =
    for<'a> fn(&'a DatabaseConnection) -> Pin<Box<dyn Future<Output = Result<(), StartupError>> + Send + 'a>>;

/// One registered resource: its description and the generic functions that
/// serve it, instantiated for its type.
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    pub(crate) spec: &'static ResourceSpec,
    /// The actions of its custom endpoints.
    custom_actions: fn() -> Vec<&'static str>,
    add_routes: fn(&mut RouteTable<AppState>, &[&'static str]),
    ensure_table: EnsureTable,
    /// Reads its records for `?expand=` of the types that refer to it.
    loader: crate::expand::Loader,
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
    routes: Vec<Route<AppState>>,
    own_state_routes: Vec<OwnStateRoutes>,
    statement_observer: Option<StatementObserver>,
    task_handlers: Handlers<AppState>,
    schedules: Vec<Schedule>,
    /// What is wrong with the registered tasks and schedules: start-up
    /// stops at the first.
    task_mistakes: Vec<String>,
    /// What adds the app's own metrics to its registry.
    own_metrics: Vec<metrics::Registration>,
    /// What reads the app's own settings (`App::config`).
    config_reader: Option<app_config::Reader>,
}

/// Routes of the app's own with a state of its own: their documentation,
/// and what makes their router from the framework's state.
#[derive(Clone)]
struct OwnStateRoutes {
    docs: Vec<RouteDoc>,
    router: Arc<dyn Fn(AppState) -> Router + Send + Sync>,
}

/// Called with the SQL of every statement the app sends (the test client
/// counts a request's round trips with it).
pub(crate) type StatementObserver = Arc<dyn Fn(&sea_orm::Statement) + Send + Sync>;

impl App {
    /// An app with the given settings and no resources yet.
    pub fn new(settings: Settings) -> App {
        App {
            settings,
            resources: Vec::new(),
            routes: Vec::new(),
            own_state_routes: Vec::new(),
            statement_observer: None,
            task_handlers: Handlers::default(),
            schedules: Vec::new(),
            task_mistakes: Vec::new(),
            own_metrics: Vec::new(),
            config_reader: None,
        }
    }

    /// An app configured from defaults < `fastsaas.toml` < environment
    /// (see [`Settings::load`]).
    pub fn from_env() -> Result<App, StartupError> {
        Ok(App::new(Settings::load()?))
    }

    /// Registers `handler` for the background tasks of `kind` (1 to 64 of
    /// `A-Za-z0-9_.:-`; a kind registered twice stops start-up). Each
    /// attempt gets a [`Task`] with its payload and the app's state, and
    /// returns the task's result or why it failed (retried while attempts
    /// are left). Enqueue with `ctx.tasks().enqueue(..)`.
    ///
    /// ```no_run
    /// use fastsaas_runtime::{App, AppState, Task, TaskResult};
    ///
    /// async fn echo(task: Task<AppState>) -> TaskResult {
    ///     Ok(task.payload.clone())
    /// }
    ///
    /// let app = App::new(Default::default()).task("echo", echo);
    /// ```
    #[must_use]
    pub fn task<F, Fut>(mut self, kind: &str, handler: F) -> App
    where
        F: Fn(Task<AppState>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = TaskResult> + Send + 'static,
    {
        if let Some(mistake) = chores::misnamed("task kind", kind) {
            self.task_mistakes.push(mistake);
        } else if !self.task_handlers.insert(kind, handler) {
            self.task_mistakes.push(format!("task kind `{kind}` has two handlers"));
        }
        self
    }

    /// Enqueues `task` at every slot of the cron `expression`, in UTC, once
    /// per slot however many processes of the app run (without a leader:
    /// see ADR 0012). The expression has five fields as in a crontab
    /// (`minute hour day-of-month month day-of-week`, weekdays 0–7 from
    /// Sunday; not both days restricted), or six or seven as the `cron`
    /// crate reads them (seconds first, a year last, weekdays 1–7 from
    /// Sunday). `name` (as a task kind) names the schedule; the task's kind
    /// needs a handler. Schedules run in the processes that run workers. A slot missed while no
    /// process ran is not made up; a task still queued or running when its
    /// next slot comes is not doubled if it has a unique key
    /// ([`NewTask::unique`]).
    ///
    /// ```no_run
    /// use fastsaas_runtime::{App, AppState, NewTask, Task, TaskResult};
    ///
    /// async fn report(task: Task<AppState>) -> TaskResult {
    ///     Ok(serde_json::json!({"built": true}))
    /// }
    ///
    /// let app = App::new(Default::default())
    ///     .task("report.build", report)
    ///     // Every day at 03:00 UTC.
    ///     .periodic("nightly-report", "0 3 * * *", NewTask::new("report.build", serde_json::json!({})));
    /// ```
    #[must_use]
    pub fn periodic(mut self, name: &str, expression: &str, task: NewTask) -> App {
        if let Some(mistake) = chores::misnamed("periodic task", name) {
            self.task_mistakes.push(mistake);
        } else if self.schedules.iter().any(|schedule| schedule.name == name) {
            self.task_mistakes.push(format!("periodic task `{name}` is scheduled twice"));
        } else {
            match schedule::parse(expression) {
                Ok(cron) => self.schedules.push(Schedule { name: name.to_owned(), cron, task }),
                Err(why) => self.task_mistakes.push(format!("periodic task `{name}`: `{expression}`: {why}")),
            }
        }
        self
    }

    /// Adds metrics of your own to the app's registry, served by
    /// `GET /metrics` beside the framework's (whose names start with
    /// `fastsaas_`). `register` is called once as the app starts; keep a
    /// clone of each metric to update it.
    ///
    /// ```no_run
    /// use fastsaas_runtime::App;
    /// use fastsaas_runtime::prometheus_client::metrics::counter::Counter;
    ///
    /// let orders = Counter::<u64>::default();
    /// let counted = orders.clone();
    /// let app = App::new(Default::default())
    ///     .metrics(move |registry| registry.register("orders_placed", "Orders placed", counted.clone()));
    /// orders.inc();
    /// ```
    #[must_use]
    pub fn metrics(
        mut self,
        register: impl Fn(&mut prometheus_client::registry::Registry) + Send + Sync + 'static,
    ) -> App {
        self.own_metrics.push(Arc::new(register));
        self
    }

    /// Reads the app's own settings into a `T` at start-up: the `[app]`
    /// table of `fastsaas.toml` (or `[<environment>.app]`) and the
    /// variables `FASTSAAS_APP__<KEY>` (see [`Settings::app`]). A value of
    /// the wrong type, a missing key (without `#[serde(default)]`) or, with
    /// `#[serde(deny_unknown_fields)]`, an unknown one stops start-up with
    /// an error naming the key and where it came from. Handlers read it
    /// with [`AppState::config`](crate::AppState::config).
    ///
    /// ```no_run
    /// use fastsaas_runtime::{App, AppState};
    /// use fastsaas_runtime::axum::extract::State;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Billing {
    ///     currency: String,
    ///     #[serde(default)]
    ///     trial_days: u32,
    /// }
    ///
    /// async fn currency(State(app): State<AppState>) -> String {
    ///     app.config::<Billing>().map(|billing| billing.currency.clone()).unwrap_or_default()
    /// }
    ///
    /// // fastsaas.toml: `[app]` then `currency = "EUR"`; or FASTSAAS_APP__CURRENCY=EUR.
    /// let app = App::from_env()?.config::<Billing>();
    /// # Ok::<(), fastsaas_runtime::StartupError>(())
    /// ```
    #[must_use]
    pub fn config<T: serde::de::DeserializeOwned + Send + Sync + 'static>(mut self) -> App {
        self.config_reader = Some(app_config::reader::<T>());
        self
    }

    /// Registers a `#[derive(Crud)]` type: its table, its routes under its
    /// scope path, and its OpenAPI schemas.
    #[must_use]
    pub fn resource<T: ResourceRoutes>(mut self) -> App {
        self.resources.push(Registration {
            spec: T::SPEC,
            custom_actions: || T::custom_endpoints().iter().filter_map(|endpoint| endpoint.spec().action()).collect(),
            add_routes: routes::add_resource::<T>,
            loader: crate::expand::loader::<T>(),
            ensure_table: |db| Box::pin(db::ensure_table::<T::Entity, _>(db, T::SPEC, T::defaults())),
        });
        self
    }

    /// Adds a route of your own (served with and without a trailing
    /// slash, and documented in `/openapi.json`). Its handler may take the
    /// framework's extractors: [`Principal`](crate::Principal),
    /// [`Authorized<T>`](crate::Authorized), [`Ctx`](crate::Ctx),
    /// `State<AppState>`. Paths under the framework's own (`/users`,
    /// `/acl`, ...) and paths already routed stop start-up with an error
    /// naming them.
    ///
    /// ```no_run
    /// use fastsaas_runtime::{App, Principal, Route};
    ///
    /// async fn hello(principal: Principal) -> String {
    ///     format!("hello {}", principal.id)
    /// }
    ///
    /// let app = App::new(Default::default())
    ///     .route(Route::get("/hello", hello).summary("Greets the caller").response(200, "A greeting"));
    /// ```
    #[must_use]
    pub fn route(mut self, route: Route<AppState>) -> App {
        self.routes.push(route);
        self
    }

    /// Adds routes of your own with a state of your own. `state` makes
    /// your state from the framework's [`AppState`] once the app starts:
    /// keep the `AppState` inside it, with `FromRef` to it, and handlers
    /// take the framework's extractors (`Principal`, `Authorized<T>`,
    /// `Ctx`, `Json`) beside `State<YourThing>`. The routes are documented
    /// and checked for clashes like every other.
    ///
    /// The guide's chapter on custom endpoints (docs/guide/05-custom-endpoints.md)
    /// has a whole example.
    #[must_use]
    pub fn with_state<S: Clone + Send + Sync + 'static>(
        mut self,
        state: impl Fn(AppState) -> S + Send + Sync + 'static,
        routes: impl IntoIterator<Item = Route<S>>,
    ) -> App {
        let mut table = RouteTable::default();
        table.extend(routes.into_iter().map(|route| route.origin("the app (`App::with_state`)")));
        let docs = table.docs().cloned().collect();
        let router = Arc::new(move |app: AppState| table.clone().into_router(&[]).with_state(state(app)));
        self.own_state_routes.push(OwnStateRoutes { docs, router });
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
        Ok(self.build().await?.0)
    }

    /// The router and the state it serves.
    async fn build(mut self) -> Result<(Router, AppState), StartupError> {
        self.check_unique()?;
        self.order_by_references()?;
        let unknown = self.schedules.iter().filter(|schedule| !self.task_handlers.knows(&schedule.task.kind));
        let unknown = unknown.map(|schedule| {
            format!("periodic task `{}`: no handler for its kind `{}` (App::task)", schedule.name, schedule.task.kind)
        });
        if let Some(mistake) = self.task_mistakes.iter().cloned().chain(unknown).next() {
            return Err(StartupError::Config(mistake));
        }
        if let Some(refused) = self.settings.unsafe_for_production() {
            return Err(StartupError::Config(refused));
        }
        if self.settings.env == fastsaas_core::Environment::Test {
            tracing::warn!("FASTSAAS_ENV=test: new passwords are hashed at a cost fit for tests only");
        }
        let own_config = match &self.config_reader {
            Some(read) => Some(read(&self.settings.app).map_err(StartupError::Config)?),
            None => {
                if !self.settings.app.is_empty() {
                    tracing::warn!("the settings have an `app` section, and the app reads none (App::config)");
                }
                None
            }
        };
        metrics_routes::check_token(&self.settings)?;
        let cors = cors::layer(&self.settings.cors_origins)?;
        let identity = Identity::from_settings(&self.settings)?;
        let field_keys = self.field_keys()?;
        // Before the database: a clash of routes is a mistake in the code,
        // reported without touching anything.
        let router = self.route_table()?;
        let mut db = db::connect(&self.settings).await?;
        // The workers' statements are not the requests': a copy taken
        // before the observer is set does not report them.
        let background_db = db.clone();
        if let Some(observer) = self.statement_observer.clone() {
            db.set_metric_callback(move |info| observer(info.statement));
        }
        // Replicas starting together take turns at the schema.
        let schema_lock = db::SchemaLock::acquire(&db, &self.settings).await?;
        migrations::run(&db).await?;
        identity::ensure_admin(&db, &self.settings).await?;
        for registration in &self.resources {
            (registration.ensure_table)(&db).await?;
        }
        schema_lock.release().await?;
        let custom_actions = self
            .resources
            .iter()
            .map(|registration| (registration.spec.name, (registration.custom_actions)()))
            .collect();
        let loaders = self.resources.iter().map(|registration| (registration.spec.name, registration.loader)).collect();
        let registry = Registry::new(self.guarded_specs(), custom_actions, loaders);
        check_reference_actions(&registry)?;
        let workers = Workers::default();
        let metrics = Arc::new(Metrics::new(&self.own_metrics));
        let notifier = notifier(&db, &self.settings, workers.waker(), &metrics)?;
        let (mut task_handlers, mut schedules) = (self.task_handlers, self.schedules);
        chores::add(&mut task_handlers, &mut schedules);
        // The workers stop when the router is dropped, not when the state
        // is: a running task holds the state.
        let router = routes::fallbacks(router, Arc::new(workers.stop_on_drop()));
        let config = WorkerConfig::from_settings(&self.settings);
        // Twice the connections: handlers whose client left still run.
        let handlers =
            crate::http::RequestHandlers::new(self.settings.request_timeout_secs, self.settings.max_connections * 2);
        let services = Services {
            db: db.clone(),
            settings: self.settings,
            identity,
            registry,
            field_keys,
            notifier,
            task_handlers: task_handlers.clone(),
            workers,
            stopping: std::sync::atomic::AtomicBool::new(false),
            metrics: Arc::clone(&metrics),
            config: own_config,
            handlers: handlers.clone(),
        };
        let state = AppState::new(services);
        let weak = state.downgrade();
        let notifier = state.notifier().clone();
        let upgrade = move || AppState::upgrade(&weak);
        let specs = self.resources.iter().map(|registration| (registration.spec.name.to_owned(), registration.spec));
        let audience = Audience { notifier, specs: Arc::new(specs.collect()) };
        state.workers().spawn(background_db, task_handlers, schedules.into(), upgrade, config, audience);
        let own = &self.own_state_routes;
        let merge = || {
            own.iter().fold(router.with_state(state.clone()), |router, own| router.merge((own.router)(state.clone())))
        };
        let router = std::panic::catch_unwind(std::panic::AssertUnwindSafe(merge))
            .map_err(|panic| StartupError::Routes(panic_text(&panic)))?;
        let router = router.layer(axum::middleware::from_fn_with_state(handlers, crate::http::within_deadline));
        let router = match cors {
            Some(cors) => router.layer(cors),
            None => router,
        };
        // Every route, the app's own included, runs in a request's span
        // and is counted.
        let router = router.layer(axum::middleware::from_fn_with_state(metrics, telemetry::requests::trace));
        Ok((router, state))
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

    /// The route table (the framework's routes, the resources', then the
    /// app's own), checked for clashes, and turned into the router and
    /// the OpenAPI document.
    fn route_table(&self) -> Result<Router<AppState>, StartupError> {
        let own_docs: Vec<&RouteDoc> = self.own_state_routes.iter().flat_map(|own| &own.docs).collect();
        for doc in self.routes.iter().map(|route| &route.doc).chain(own_docs.iter().copied()) {
            let first = doc.path.trim_start_matches('/').split('/').next().unwrap_or_default();
            if FRAMEWORK_PATHS.contains(&first) {
                return Err(StartupError::Routes(format!(
                    "`{}`: paths under `/{first}` belong to the framework; pick another path",
                    doc.path
                )));
            }
        }
        let document = routes::Document::default();
        let mut table = RouteTable::default();
        table.extend(routes::framework(&document, self.type_wide_resources()));
        for registration in &self.resources {
            (registration.add_routes)(&mut table, &(registration.custom_actions)());
        }
        table.extend(self.routes.iter().cloned());
        let docs: Vec<&RouteDoc> = table.docs().chain(own_docs.iter().copied()).collect();
        clashes(docs.iter().copied()).map_err(StartupError::Routes)?;
        let specs: Vec<&ResourceSpec> = self.resources.iter().map(|registration| registration.spec).collect();
        let json = openapi::document(&specs, docs.iter().copied());
        let served_elsewhere: Vec<(http::Method, String)> =
            own_docs.iter().map(|doc| (doc.method.clone(), doc.path.clone())).collect();
        // A document that does not serialize is a bug; serve the rest anyway.
        let _ = document.set(serde_json::to_vec(&json).unwrap_or_default().into());
        let build = || table.into_router(&served_elsewhere);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(build))
            .map_err(|panic| StartupError::Routes(panic_text(&panic)))
    }

    /// Serves the app on `settings.bind` until Ctrl-C or SIGTERM, then lets
    /// requests in flight finish.
    pub async fn serve(self) -> Result<(), StartupError> {
        crate::telemetry::init(self.settings.env);
        let bind = self.settings.bind.clone();
        let serve_error = |source| StartupError::Serve { bind: bind.clone(), source };
        let limits = crate::server::Limits::from_settings(&self.settings);
        if self.settings.worker_only {
            return self.work().await;
        }
        let metrics_bind = self.settings.metrics_bind.clone();
        let (router, state) = self.build().await?;
        let listener = tokio::net::TcpListener::bind(&bind).await.map_err(serve_error)?;
        let metrics = serve_metrics(metrics_bind, &state, limits).await?;
        tracing::info!(address = %bind, "FastSaaS listening; API description at /openapi.json");
        // At the signal: `/readyz` turns 503 and workers stop claiming while
        // the server drains its connections; then running tasks get their
        // grace, and those still running go back to the queue.
        let stopping = async {
            shutdown_signal().await;
            tracing::info!("shutting down");
            state.begin_shutdown();
        };
        let served = crate::server::serve(listener, router, limits, stopping).await;
        // Handlers whose client left, or whose answer came too late, end
        // their work (and its invalidations) before the process does.
        state.handlers().drained(HANDLERS_DRAIN).await;
        state.workers().finished().await;
        drop(metrics);
        served.map_err(serve_error)
    }

    /// A worker-only process: the workers run until the signal, then stop
    /// as in [`App::serve`]; no HTTP is served but `/metrics` on
    /// `metrics_bind`, if set.
    async fn work(self) -> Result<(), StartupError> {
        if self.settings.task_workers == 0 {
            return Err(StartupError::Config(
                "FASTSAAS_WORKER_ONLY with FASTSAAS_TASK_WORKERS=0 would do nothing".into(),
            ));
        }
        let metrics_bind = self.settings.metrics_bind.clone();
        let limits = crate::server::Limits::from_settings(&self.settings);
        let (_router, state) = self.build().await?;
        let metrics = serve_metrics(metrics_bind, &state, limits).await?;
        tracing::info!("FastSaaS task workers running; no HTTP is served (FASTSAAS_WORKER_ONLY)");
        shutdown_signal().await;
        tracing::info!("shutting down");
        state.begin_shutdown();
        state.workers().finished().await;
        drop(metrics);
        Ok(())
    }

    /// What type-wide entries may name: `Type.action` for every action of
    /// every type.
    fn type_wide_resources(&self) -> Vec<String> {
        let mut resources = Vec::new();
        for registration in &self.resources {
            let spec = registration.spec;
            let own = actions_of(&(registration.custom_actions)()).into_iter().map(|action| (spec.name, action));
            let templates = spec
                .templates
                .into_iter()
                .flat_map(|templates| actions_of(&[]).into_iter().map(move |action| (templates.name, action)));
            resources.extend(own.chain(templates).map(|(name, action)| format!("{name}.{action}")));
        }
        resources
    }

    /// Every type ACL entries can name: the resources and their templates.
    /// Puts the resources in the order their tables are created in:
    /// parents before the types whose references name them.
    fn order_by_references(&mut self) -> Result<(), StartupError> {
        let specs: Vec<&'static ResourceSpec> = self.resources.iter().map(|registration| registration.spec).collect();
        let order = crate::references::creation_order(&specs).map_err(StartupError::Config)?;
        let mut slots: Vec<Option<Registration>> = self.resources.drain(..).map(Some).collect();
        self.resources = order.into_iter().filter_map(|index| slots.get_mut(index).and_then(Option::take)).collect();
        Ok(())
    }

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

/// How long shutdown waits for handlers still running after the server
/// drained its connections.
const HANDLERS_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `GET /metrics` openly on `bind`, if set, until the returned
/// sender is dropped.
async fn serve_metrics(
    bind: Option<String>,
    state: &AppState,
    limits: crate::server::Limits,
) -> Result<Option<tokio::sync::oneshot::Sender<()>>, StartupError> {
    let Some(bind) = bind else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|source| StartupError::Serve { bind: bind.clone(), source })?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = metrics_routes::open_router(state.clone());
    tracing::info!(address = %bind, "metrics served openly at /metrics (FASTSAAS_METRICS_BIND)");
    tokio::spawn(async move {
        if let Err(err) = crate::server::serve(listener, router, limits, async { stopped.await.unwrap_or(()) }).await {
            tracing::error!(error = %err, address = %bind, "the metrics address stopped serving");
        }
    });
    Ok(Some(stop))
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

/// Refuses a reference whose action its target's type does not have.
fn check_reference_actions(registry: &Registry) -> Result<(), StartupError> {
    for spec in registry.specs() {
        for (field, reference) in db::references::references(spec) {
            if let Some(why) = registry.unknown_action((reference.target)(), reference.action) {
                return Err(StartupError::Config(format!(
                    "`{}.{}` references(action = ..): {why}",
                    spec.name, field.name
                )));
            }
        }
    }
    Ok(())
}

/// The shared second level of the rows cache on the Redis server at `url`,
/// its keys under `prefix`.
fn shared_rows(url: &str, prefix: &str) -> Result<SharedRows, StartupError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:".contains(c);
    if prefix.is_empty() || !prefix.chars().all(allowed) {
        return Err(StartupError::Config(
            "FASTSAAS_CACHE_REDIS_PREFIX: letters, digits, `_`, `-`, `.` and `:`, at least one".to_owned(),
        ));
    }
    let client = redis::Client::open(url).map_err(|err| StartupError::Config(format!("REDIS_URL: {err}")))?;
    Ok(SharedRows::new(client, prefix))
}

/// The notifier, on the bus the settings choose: Redis if `REDIS_URL` is
/// set, else `LISTEN`/`NOTIFY` on PostgreSQL, else this process alone.
fn notifier(
    db: &DatabaseConnection,
    settings: &Settings,
    tasks: Arc<tokio::sync::Notify>,
    metrics: &Metrics,
) -> Result<Notifier, StartupError> {
    let hub = Arc::new(Hub::default());
    let limits = CacheLimits::from_settings(settings);
    // A bus of one process reaches every cache at once; the others, once
    // they listen.
    let alone = settings.redis_url.is_none() && db.get_database_backend() != DbBackend::Postgres;
    let shared = match &settings.redis_url {
        Some(url) => Some(shared_rows(url, &settings.cache_redis_prefix)?),
        None => None,
    };
    let caches = Arc::new(Caches::new(limits, alone, shared, metrics.cache_lookups.clone()));
    let listeners = Listeners { hub: Arc::clone(&hub), tasks, caches };
    let bus: Arc<dyn Bus> = match (&settings.redis_url, db.get_database_backend()) {
        (Some(url), _) => Arc::new(
            bus::Redis::start(url, listeners.clone())
                .map_err(|err| StartupError::Config(format!("REDIS_URL: {err}")))?,
        ),
        (None, DbBackend::Postgres) => Arc::new(bus::Postgres::start(settings.database_url.clone(), listeners.clone())),
        (None, _) => Arc::new(bus::InProcess(hub)),
    };
    Ok(Notifier::new(bus, listeners, settings.notifications_kept, metrics.notifications_sent.clone()))
}
