//! `GET /metrics`: the app's metrics in the OpenMetrics text format, which
//! Prometheus reads. On the API's address it needs `metrics_token` as the
//! bearer token, or a signed-in user holding the role `metrics_role` (or a
//! superadmin); `metrics_bind` serves it on a second address to anyone who
//! reaches that one.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fastsaas_core::{ApiError, ApiResult};
use http::{HeaderMap, header};
use sea_orm::DbBackend;

use crate::error::StartupError;
use crate::identity::{Principal, bearer_token};
use crate::state::AppState;
use crate::tasks::census;
use crate::telemetry::metrics::{KindLabels, Metrics, PoolLabels, TaskLabels};

/// What Prometheus asks for and gets.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The shortest `metrics_token` accepted.
const MIN_TOKEN_BYTES: usize = 32;

/// Refuses a `metrics_token` too short to resist guessing.
pub(crate) fn check_token(settings: &fastsaas_core::Settings) -> Result<(), StartupError> {
    match &settings.metrics_token {
        Some(token) if token.expose().len() < MIN_TOKEN_BYTES => Err(StartupError::Config(format!(
            "FASTSAAS_METRICS_TOKEN is shorter than {MIN_TOKEN_BYTES} bytes (try `openssl rand -hex 32`)"
        ))),
        _ => Ok(()),
    }
}

/// `GET /metrics` on the API's address.
pub(crate) async fn guarded(
    State(app): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
) -> ApiResult<Response> {
    if let (Some(expected), Ok(Some(sent))) = (&app.settings().metrics_token, bearer_token(&headers))
        && same_secret(expected.expose(), sent)
    {
        return scrape(&app).await;
    }
    let principal = principal?;
    let role = &app.settings().metrics_role;
    if !principal.has_role(role) && !principal.is_superadmin() {
        return Err(ApiError::Forbidden(format!("`GET /metrics` needs the role `{role}`")));
    }
    scrape(&app).await
}

/// Whether `sent` is the `expected` token, compared through their digests so
/// that the time taken tells nothing of the token.
fn same_secret(expected: &str, sent: &str) -> bool {
    use sha2::{Digest, Sha256};
    Sha256::digest(expected.as_bytes()) == Sha256::digest(sent.as_bytes())
}

/// The router of the second address: `GET /metrics`, open.
pub(crate) fn open_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(|State(app): State<AppState>| async move { scrape(&app).await }))
        .with_state(app)
}

/// Sets the gauges of what others hold, then encodes every metric.
async fn scrape(app: &AppState) -> ApiResult<Response> {
    let metrics = app.metrics();
    // One scrape at a time: each clears and refills the queue's gauges.
    let _alone = metrics.scraping.lock().await;
    set_pool(app, metrics);
    metrics.sockets.set(i64::try_from(app.notifier().hub().open()).unwrap_or(i64::MAX));
    set_queue(app, metrics).await;
    let text = metrics.encode().map_err(|err| {
        tracing::error!(error = %err, "the metrics could not be encoded");
        ApiError::Internal
    })?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

fn set_pool(app: &AppState, metrics: &Metrics) {
    let db = app.db();
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    let idle = i64::try_from(idle).unwrap_or(i64::MAX);
    metrics.pool.get_or_create(&PoolLabels { state: "idle" }).set(idle);
    metrics.pool.get_or_create(&PoolLabels { state: "in_use" }).set((i64::from(size) - idle).max(0));
}

/// The queue's gauges; left empty, with a warning, when the database does
/// not answer (the rest of the scrape still tells what this process saw).
async fn set_queue(app: &AppState, metrics: &Metrics) {
    metrics.tasks.clear();
    metrics.oldest_queued.clear();
    let now = Utc::now();
    let census = match census::take(app.db(), now).await {
        Ok(census) => census,
        Err(err) => {
            tracing::warn!(error = %err, "metrics: the task queue could not be read");
            return;
        }
    };
    for (kind, status, count) in census.counts {
        metrics.tasks.get_or_create(&TaskLabels { kind, status }).set(count);
    }
    for (kind, oldest) in census.oldest_due {
        let waited = (now - oldest).num_milliseconds().max(0) as f64 / 1000.0;
        metrics.oldest_queued.get_or_create(&KindLabels { kind }).set(waited);
    }
}
