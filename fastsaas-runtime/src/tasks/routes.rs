//! `GET /tasks/{id}` (API.md): a task, for whom it was enqueued for (an
//! API key's tasks are its resource owner's), for whoever may read the
//! object it is about, and for superadmins. Anyone else gets the 404 of a
//! task that does not exist.

use axum::Json;
use axum::extract::State;
use fastsaas_core::{ApiError, ApiResult, ProblemKind};
use sea_orm::EntityTrait;

use super::TaskView;
use super::entity;
use crate::access;
use crate::error::internal;
use crate::http::ObjectId;
use crate::identity::Principal;
use crate::openapi::{IdentityDoc, problem, tagged_operation};
use crate::route_table::Route;
use crate::state::AppState;

/// The task routes, each with its documentation.
pub(crate) fn routes() -> Vec<Route<AppState>> {
    let doc = IdentityDoc {
        id: "get_task",
        summary: "Read a task: its status, attempts, result and last error",
        body: None,
        success: ("200", Some("Task")),
        signed_in: true,
        list: None,
        problems: vec![("404", problem("No such task, or not yours to read", &[ProblemKind::NotFound]))],
    };
    vec![Route::get("/tasks/{id}", read).documented(tagged_operation("Tasks", doc, Vec::new()))]
}

/// `GET /tasks/{id}`.
async fn read(State(app): State<AppState>, principal: Principal, ObjectId(id): ObjectId) -> ApiResult<Json<TaskView>> {
    let not_found = || ApiError::not_found("Task");
    let row = entity::Entity::find_by_id(id).one(app.db()).await.map_err(internal)?.ok_or_else(not_found)?;
    if !may_read(&app, &principal, &row).await? {
        return Err(not_found());
    }
    Ok(Json(TaskView::from(row)))
}

/// Whether `principal` may read the task `row`.
pub(crate) async fn may_read(app: &AppState, principal: &Principal, row: &entity::Model) -> ApiResult<bool> {
    if principal.is_superadmin() || row.principal_id.is_some_and(|id| id == principal.acts_for()) {
        return Ok(true);
    }
    let (Some(type_name), Some(object)) = (&row.subject_type, row.subject_id) else {
        return Ok(false);
    };
    // A type no longer registered has no readers but superadmins.
    let Some(spec) = app.registry().spec(type_name) else { return Ok(false) };
    let db = app.db();
    let Some(owner) = access::owner_of(db, spec, object).await.map_err(internal)? else { return Ok(false) };
    let decision = access::decision(db, spec, &principal.subject(), "read", Some((object, owner))).await?;
    Ok(decision.allowed)
}
