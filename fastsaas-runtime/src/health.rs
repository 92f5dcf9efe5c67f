//! `GET /healthz` and `GET /readyz`: for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use fastsaas_core::{ApiError, ApiResult};
use serde::Serialize;

use crate::state::AppState;

/// The body of a healthy answer.
#[derive(Serialize)]
pub(crate) struct Health {
    status: &'static str,
}

/// `GET /healthz`: 200 while the process serves requests.
pub(crate) async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: 200 when the database answers and the process is not
/// shutting down, else 503, so a load balancer sends traffic only to
/// replicas that can serve it.
pub(crate) async fn ready(State(app): State<AppState>) -> ApiResult<Json<Health>> {
    if app.is_stopping() {
        return Err(ApiError::Unavailable("the process is shutting down".into()));
    }
    match app.db().ping().await {
        Ok(()) => Ok(Json(Health { status: "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: the database does not answer");
            Err(ApiError::Unavailable("the database does not answer".into()))
        }
    }
}
