//! [`AppState`]: the services every handler shares, behind one `Arc`.
//!
//! The state sits above the domain services (which never see it) and
//! below the HTTP surfaces and the builder: handlers and extractors reach
//! the services through it.

use std::sync::Arc;

use fastsaas_core::Settings;
use sea_orm::DatabaseConnection;

use axum::extract::FromRef;

use crate::app_config::AppConfig;
use crate::cursor::CursorKey;
use crate::http::{BodyLimit, RequestHandlers};
use crate::identity::Identity;
use crate::notify::Notifier;
use crate::registry::Registry;
use crate::seal::{FieldKeys, Resealed};
use crate::store::Store;
use crate::tasks::Handlers;
use crate::tasks::worker::Workers;
use crate::telemetry::metrics::Metrics;

/// What the handlers share: the database pool, the settings and the
/// framework's services.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

/// The services of one app.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) db: DatabaseConnection,
    pub(crate) settings: Settings,
    pub(crate) identity: Identity,
    pub(crate) registry: Registry,
    /// The keys of encrypted fields, when configured.
    pub(crate) field_keys: Option<FieldKeys>,
    /// Sends notifications and wakes the sockets that wait for them.
    pub(crate) notifier: Notifier,
    /// The task handlers, by kind.
    pub(crate) task_handlers: Handlers<AppState>,
    /// This process's workers (stopped when the app is dropped).
    pub(crate) workers: Workers,
    /// Set when the process begins to shut down.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// The app's metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The app's own settings, read at start-up (`App::config`).
    pub(crate) config: Option<AppConfig>,
    /// How requests' handlers run.
    pub(crate) handlers: RequestHandlers,
}

impl AppState {
    /// The state of an app made of `services`.
    pub(crate) fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }

    /// The database pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// The settings the app started with.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The app's own settings, as `App::config::<T>()` read them at
    /// start-up; `None` if the app read them as another type, or not at all.
    pub fn config<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.config.as_ref().and_then(|config| config.downcast_ref::<T>())
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.0.settings.body_limit
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.0.identity
    }

    pub(crate) fn field_keys(&self) -> Option<&FieldKeys> {
        self.0.field_keys.as_ref()
    }

    /// The database and field keys, for reading and writing records.
    pub(crate) fn store(&self) -> Store<'_> {
        Store {
            db: self.db(),
            keys: self.field_keys(),
            cursors: self.cursors(),
            notifier: self.notifier(),
            specs: self.registry().specs(),
        }
    }

    /// The key that signs list cursors.
    pub(crate) fn cursors(&self) -> &CursorKey {
        self.0.identity.cursors()
    }

    /// The task handlers, by kind.
    pub(crate) fn task_handlers(&self) -> &Handlers<AppState> {
        &self.0.task_handlers
    }

    /// Marks the process as shutting down (`/readyz` answers 503), stops
    /// the workers claiming, and closes the WebSockets (1001), which would
    /// otherwise hold the server's drain until its end.
    pub(crate) fn begin_shutdown(&self) {
        self.0.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        self.0.workers.stop();
        self.0.notifier.hub().close_all();
    }

    /// Whether the process is shutting down.
    pub(crate) fn is_stopping(&self) -> bool {
        self.0.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This process's workers.
    pub(crate) fn workers(&self) -> &Workers {
        &self.0.workers
    }

    /// The state without keeping the app alive: for what runs beside the
    /// app (its workers) and must end with it.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Services> {
        Arc::downgrade(&self.0)
    }

    /// The state of `weak`, if the app still lives.
    pub(crate) fn upgrade(weak: &std::sync::Weak<Services>) -> Option<AppState> {
        weak.upgrade().map(AppState)
    }

    /// Sends notifications.
    pub(crate) fn notifier(&self) -> &Notifier {
        &self.0.notifier
    }

    /// The registered resource types.
    pub(crate) fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// How requests' handlers run.
    pub(crate) fn handlers(&self) -> &RequestHandlers {
        &self.0.handlers
    }

    /// The app's metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }
}

impl<S> FromRef<S> for BodyLimit
where
    AppState: FromRef<S>,
{
    fn from_ref(state: &S) -> BodyLimit {
        BodyLimit(AppState::from_ref(state).body_limit())
    }
}

/// Seals with the current key every value of `T`'s encrypted fields that
/// another key sealed, and every value stored in plain text before the
/// field was encrypted.
///
/// Rotation, with replicas: list the new key *second* on every replica
/// (it opens, it does not seal yet), then first on every replica, then
/// run `reseal` for each type with encrypted fields, then drop the old key
/// once `unopened` is 0. Encrypting an existing field: deploy it with
/// `#[crud(encrypted)]`, then run `reseal` (until it has, the plain values
/// do not open). It walks the table in batches; a value a request changed
/// meanwhile is left as that request sealed it.
///
/// ```no_run
/// # use fastsaas_runtime::{AppState, Resource};
/// # async fn rotate<Agent: Resource>(state: &AppState) -> fastsaas_core::ApiResult<()> {
/// let done = fastsaas_runtime::reseal::<Agent>(state).await?;
/// tracing::info!(sealed = done.sealed, unopened = done.unopened, "agents' secrets use the current key");
/// # Ok(())
/// # }
/// ```
pub async fn reseal<T: crate::Resource>(state: &AppState) -> fastsaas_core::ApiResult<Resealed> {
    crate::seal::reseal::<T>(state.db(), state.field_keys()).await
}
