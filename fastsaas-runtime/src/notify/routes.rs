//! `POST /notify`, `GET /notifications` and `POST /notifications/{id}/read`
//! (API.md, "Agents, tasks, notifications"), and `GET /ws` (`socket`).

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use fastsaas_core::{ApiError, ApiResult, FieldKind, Page, ProblemKind};
use http::{HeaderMap, StatusCode};
use sea_orm::{ColumnTrait, Condition, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::bodies::{NOTIFICATIONS, NOTIFY_BODY};
use super::entity::notification;
use super::socket;
use super::store::{self, Draft, View};
use crate::body::{BodyShape, read_json};
use crate::error::internal;
use crate::http::ObjectId;
use crate::identity::Principal;
use crate::openapi::{IdentityDoc, forbidden, problem, query_parameter, tagged_operation};
use crate::query::{self, Readable, page_of};
use crate::route_table::Route;
use crate::state::AppState;

/// The notification routes, each with its documentation.
pub(crate) fn routes() -> Vec<Route<AppState>> {
    let doc = |id, summary, body, success, list, problems| IdentityDoc {
        id,
        summary,
        body,
        success,
        signed_in: true,
        list,
        problems,
    };
    let not_found = |what| ("404", problem(what, &[ProblemKind::NotFound]));
    let bad_query = || ("400", problem("The query is invalid", &[ProblemKind::InvalidQuery]));
    vec![
        Route::post("/notify", send).documented(tagged_operation(
            "Notifications",
            doc(
                "notify",
                "Send a notification to a user: yourself, or anyone for a superadmin",
                Some("Notify"),
                ("202", Some("NotificationRef")),
                None,
                vec![
                    ("400", problem("The body is invalid", &[ProblemKind::Validation])),
                    forbidden(),
                    not_found("No such user"),
                ],
            ),
            Vec::new(),
        )),
        Route::get("/notifications", list).documented(tagged_operation(
            "Notifications",
            doc(
                "list_notifications",
                "List your notifications, oldest first",
                None,
                ("200", Some("NotificationPage")),
                Some(&NOTIFICATIONS),
                vec![bad_query(), forbidden()],
            ),
            vec![query_parameter("unread", FieldKind::Bool, "`true`: only those not marked read")],
        )),
        Route::post("/notifications/{id}/read", mark_read).documented(tagged_operation(
            "Notifications",
            doc(
                "read_notification",
                "Mark one of your notifications read",
                None,
                ("204", None),
                None,
                vec![forbidden(), not_found("No such notification of yours")],
            ),
            Vec::new(),
        )),
        Route::get("/ws", socket::connect).documented(tagged_operation(
            "Notifications",
            doc(
                "notifications_socket",
                "Your notifications, live, over a WebSocket (frames `{id, seq, kind, message, payload, \
                 created_at}`; close codes 4001 token expired, 4002 ping unanswered, 4008 reading too slowly)",
                None,
                ("101", None),
                None,
                vec![
                    ("400", problem("Not a WebSocket upgrade, or the query is invalid", &[ProblemKind::InvalidQuery])),
                    forbidden(),
                    ("429", problem("You hold as many sockets as you may", &[ProblemKind::RateLimited])),
                ],
            ),
            vec![
                query_parameter("token", FieldKind::Text, "An access token, for clients that cannot send headers"),
                query_parameter(
                    "after",
                    FieldKind::Uuid,
                    "The id of the last notification received: the newer ones are sent first, in order \
                     (a first frame of kind `resync` if it is no longer kept)",
                ),
            ],
        )),
    ]
}

/// The body of `POST /notify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notify {
    user_id: Uuid,
    message: String,
    #[serde(default = "default_kind")]
    kind: String,
    #[serde(default = "empty_object")]
    payload: Value,
}

fn default_kind() -> String {
    "message".to_owned()
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The answer of `POST /notify`.
#[derive(Serialize)]
struct NotificationRef {
    id: Uuid,
}

/// `POST /notify`: to oneself, or by a superadmin (the framework's
/// `acl_admins`) to anyone.
async fn send(
    State(app): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<NotificationRef>)> {
    let input: Notify = read_json(NOTIFY_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let me = principal.require_user()?;
    if input.user_id != me && !principal.is_superadmin() {
        return Err(ApiError::Forbidden("you may notify yourself; notifying others needs the superadmin role".into()));
    }
    let draft = Draft { recipient: input.user_id, kind: input.kind, message: input.message, payload: input.payload };
    let view = app.notifier().send(app.db(), draft).await?;
    Ok((StatusCode::ACCEPTED, Json(NotificationRef { id: view.id })))
}

/// `GET /notifications[?unread=true]`: the caller's own, paged like every
/// list.
async fn list(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<View>>> {
    let me = principal.require_user()?;
    let (unread, rest) = take_unread(raw.as_deref())?;
    let mut query = query::parse(&NOTIFICATIONS, rest.as_deref())?;
    let mut mine = Condition::all().add(notification::Column::RecipientId.eq(me));
    if unread {
        mine = mine.add(notification::Column::ReadAt.is_null());
        // A cursor of the unread list is not one of the whole list.
        query.list.push_str(":unread");
    }
    let readable = Readable { except: Some(mine), any_of: None, tally: None };
    let page = page_of(
        app.db(),
        app.cursors(),
        &NOTIFICATIONS,
        &query,
        notification::Entity::find(),
        readable,
        (notification::Column::Id, notification::Column::CreatedAt),
    )
    .await?;
    Ok(Json(page.map(View::from)))
}

/// `?unread=` apart from the list's own parameters.
fn take_unread(raw: Option<&str>) -> ApiResult<(bool, Option<String>)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::InvalidQuery(format!("the query string cannot be read: {err}")))?;
    let (unread, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(name, _)| name == "unread");
    let unread = match unread.as_slice() {
        [] => false,
        [(_, value)] => match value.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(ApiError::InvalidQuery(format!("`unread` must be `true` or `false`, not `{value}`"))),
        },
        _ => return Err(ApiError::InvalidQuery("`unread` is given more than once".to_owned())),
    };
    let rest = serde_urlencoded::to_string(&rest).map_err(|_| ApiError::Internal)?;
    Ok((unread, Some(rest)))
}

/// `POST /notifications/{id}/read`: idempotent; 404 for a notification of
/// someone else.
async fn mark_read(State(app): State<AppState>, principal: Principal, ObjectId(id): ObjectId) -> ApiResult<StatusCode> {
    let me = principal.require_user()?;
    if store::mark_read(app.db(), me, id).await.map_err(internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("Notification"))
    }
}
