//! The identity routes of API.md, "Users and sessions".

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::ProblemKind;
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{Access, ApiError, ApiResult, FieldSpec, Page};
use http::{HeaderMap, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bodies::{EMAIL, PASSWORD, USER_FIELDS, USER_NAME, USERS, rejected, text};
use super::bootstrap::normalize_email;
use super::client_address::ClientAddress;
use super::entities::{organization, refresh_token, user};
use super::principal::{OrgRole, Principal};
use super::{Identity, password, rate_limit, tokens};
use crate::body::{BodyShape, BodySpec, read_json};
use crate::cache::Forget;
use crate::error::db_error;
use crate::error::internal;
use crate::http::ObjectId;
use crate::http::created;
use crate::openapi::{IdentityDoc, identity_operation, problem, rate_limited};
use crate::query;
use crate::query::{Readable, page_of};
use crate::route_table::Route;
use crate::state::AppState;
use crate::validate::check;

static USER_CHANGE_FIELDS: [FieldSpec; 4] =
    [EMAIL, USER_NAME, PASSWORD, text("current_password", Access::WriteOnly, false, &[])];
const USER_CHANGES_BODY: BodySpec = BodySpec { name: "User", fields: &USER_CHANGE_FIELDS };

const USER_BODY: BodySpec = BodySpec { name: "User", fields: &USER_FIELDS };
static LOGIN_FIELDS: [FieldSpec; 2] =
    [text("email", Access::ReadWrite, false, &[]), text("password", Access::WriteOnly, false, &[])];
const LOGIN_BODY: BodySpec = BodySpec { name: "Login", fields: &LOGIN_FIELDS };
static REFRESH_FIELDS: [FieldSpec; 1] = [text("refresh_token", Access::WriteOnly, false, &[])];
const REFRESH_BODY: BodySpec = BodySpec { name: "Refresh", fields: &REFRESH_FIELDS };

/// The identity routes, each with its documentation.
pub(crate) fn routes() -> Vec<Route<AppState>> {
    let not_found = || ("404", problem("No such user, or not yours to see", &[ProblemKind::NotFound]));
    let email_taken = || ("409", problem("The e-mail is registered", &[ProblemKind::Conflict]));
    let doc = |id, summary, body, success, signed_in, problems| {
        identity_operation(IdentityDoc { id, summary, body, success, signed_in, list: None, problems })
    };
    vec![
        Route::post("/users", register).documented(doc(
            "register_user",
            "Register a user",
            Some("UserCreate"),
            ("201", Some("User")),
            false,
            vec![email_taken(), ("429", rate_limited())],
        )),
        Route::get("/users", list_users).documented(identity_operation(IdentityDoc {
            id: "list_users",
            summary: "List users (superadmins: all; others: themselves)",
            body: None,
            success: ("200", Some("UserPage")),
            signed_in: true,
            list: Some(&USERS),
            problems: vec![("400", problem("The query is invalid", &[ProblemKind::InvalidQuery]))],
        })),
        Route::get("/users/{id}", read_user).documented(doc(
            "read_user",
            "Read a user (itself or a superadmin)",
            None,
            ("200", Some("User")),
            true,
            vec![not_found()],
        )),
        Route::patch("/users/{id}", patch_user).documented(doc(
            "update_user",
            "Change a user; a new password ends its other sessions",
            Some("UserPatch"),
            ("200", Some("User")),
            true,
            vec![not_found(), email_taken()],
        )),
        Route::delete("/users/{id}", delete_user).documented(doc(
            "delete_user",
            "Delete a user",
            None,
            ("204", None),
            true,
            vec![not_found()],
        )),
        Route::post("/login", login).documented(doc(
            "login",
            "Start a session",
            Some("Login"),
            ("200", Some("TokenPair")),
            false,
            vec![
                ("401", problem("Unknown e-mail or wrong password", &[ProblemKind::Unauthorized])),
                ("429", rate_limited()),
            ],
        )),
        Route::post("/refresh", refresh).documented(doc(
            "refresh",
            "Trade a refresh token for a new pair; reuse ends the session",
            Some("Refresh"),
            ("200", Some("TokenPair")),
            false,
            vec![("401", problem("The refresh token is invalid, expired or used", &[ProblemKind::Unauthorized]))],
        )),
        Route::post("/logout", logout).documented(doc(
            "logout",
            "End every session of the caller",
            None,
            ("204", None),
            true,
            vec![],
        )),
        Route::get("/me", me).documented(doc(
            "me",
            "The caller, with its roles and organizations",
            None,
            ("200", Some("Me")),
            true,
            vec![],
        )),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChanges {
    #[serde(default, deserialize_with = "crate::field::present")]
    email: Option<String>,
    #[serde(default, deserialize_with = "crate::field::present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::field::present")]
    password: Option<String>,
    #[serde(default)]
    current_password: Option<String>,
}

/// A user as the API shows it: never the password or its hash.
#[derive(Serialize)]
struct UserView {
    id: Uuid,
    email: String,
    name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        UserView {
            id: user.id,
            email: user.email,
            name: user.name,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    user: UserView,
    roles: Vec<String>,
    organizations: Vec<MyOrganization>,
}

#[derive(Serialize)]
struct MyOrganization {
    id: Uuid,
    name: String,
    role: OrgRole,
}

#[derive(Serialize)]
struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

impl axum::response::IntoResponse for TokenPair {
    /// Credentials are never kept by a cache (RFC 6749, section 5.1).
    fn into_response(self) -> Response {
        ([(http::header::CACHE_CONTROL, "no-store"), (http::header::PRAGMA, "no-cache")], Json(self)).into_response()
    }
}

impl Identity {
    /// Counts an attempt of `address` at `email` (already normalized and
    /// checked, so that no key is larger than an e-mail address): per
    /// address, then per address and e-mail. Answers the address's group.
    fn attempt(&self, address: &ClientAddress, email: &str) -> Result<String, ApiError> {
        let group = rate_limit::address_group(address.0);
        self.attempts_by_address.attempt(&group)?;
        self.attempts_by_address_and_email.attempt(&format!("{group} {email}"))?;
        Ok(group)
    }
}

/// `POST /users`: open registration.
async fn register(
    State(app): State<AppState>,
    address: ClientAddress,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let input: Registration = read_json(USER_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let email = normalize_email(&input.email);
    let mut errors = Vec::new();
    check(&EMAIL, &email, &mut errors);
    check(&PASSWORD, &input.password, &mut errors);
    check(&USER_NAME, &input.name, &mut errors);
    rejected(errors)?;
    app.identity().attempt(&address, &email)?;
    let now = Utc::now();
    let row = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(email),
        name: Set(input.name),
        password_hash: Set(password::hash(input.password, app.identity().hash_cost()).await?),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let user = row.insert(app.db()).await.map_err(email_taken)?;
    Ok(created(uri.path(), user.id, UserView::from(user)))
}

fn email_taken(err: sea_orm::DbErr) -> ApiError {
    match db_error(&USERS, err) {
        ApiError::Conflict(_) => ApiError::Conflict("this e-mail is already registered".into()),
        other => other,
    }
}

/// `POST /login`: the same 401 for an unknown e-mail and a wrong password,
/// after the same amount of hashing work.
async fn login(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<TokenPair> {
    let input: Credentials = read_json(LOGIN_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let identity = app.identity();
    let email = normalize_email(&input.email);
    let mut malformed = Vec::new();
    check(&EMAIL, &email, &mut malformed);
    if !malformed.is_empty() || input.password.len() > MAX_PASSWORD_BYTES {
        // No such account can exist: refused before it is counted or hashed.
        identity.attempts_by_address.attempt(&rate_limit::address_group(address.0))?;
        return Err(bad_login());
    }
    let group = identity.attempt(&address, &email)?;
    identity.accounts.admit(&email, &group)?;
    let found = user::Entity::find().filter(user::Column::Email.eq(&email)).one(app.db()).await.map_err(internal)?;
    let (user_id, stored) = match found {
        Some(user) => (Some(user.id), Some(user.password_hash)),
        None => (None, None),
    };
    let weak = stored.as_deref().is_some_and(|stored| password::weaker_than(stored, identity.hash_cost()));
    let given = weak.then(|| input.password.clone());
    match (user_id, password::verify(input.password, stored, identity.hash_cost()).await?) {
        (Some(user_id), true) => {
            identity.accounts.succeeded(&email, &group);
            if let Some(given) = given {
                rehash(&app, user_id, given).await;
            }
            start_session(&app, user_id, Uuid::new_v4()).await
        }
        _ => {
            identity.accounts.failed(&email);
            Err(bad_login())
        }
    }
}

/// Stores `password` of `user` again at the environment's cost: a hash
/// made at a lower one (in the test environment, or before a raise) is
/// upgraded at the first login that proves the password. A failure leaves
/// the old hash, which still works.
async fn rehash(app: &AppState, user: Uuid, password: String) {
    let stored = match password::hash(password, app.identity().hash_cost()).await {
        Ok(stored) => stored,
        Err(_) => return,
    };
    let updated = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(stored))
        .filter(user::Column::Id.eq(user))
        .exec(app.db())
        .await;
    if let Err(err) = updated {
        tracing::warn!(error = %err, "a weak password hash could not be upgraded");
    }
}

/// The one answer for an unknown e-mail and a wrong password.
fn bad_login() -> ApiError {
    ApiError::Unauthorized("invalid e-mail or password".into())
}

/// The longest password a login hashes: the longest one registration
/// accepts (longer ones cannot match, and would cost hashing work).
const MAX_PASSWORD_BYTES: usize = 4 * 1024;

/// Issues a refresh token in `family` and an access token for that session.
async fn start_session(app: &AppState, user_id: Uuid, family: Uuid) -> ApiResult<TokenPair> {
    let keys = &app.identity().keys;
    let (refresh_token, token_hash) = tokens::new_refresh_token()?;
    let now = Utc::now();
    let lifetime = chrono::Duration::from_std(keys.refresh_ttl).unwrap_or(chrono::Duration::MAX);
    refresh_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        family_id: Set(family),
        token_hash: Set(token_hash),
        created_at: Set(now),
        expires_at: Set(now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC)),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(app.db())
    .await
    .map_err(internal)?;
    Ok(TokenPair {
        access_token: keys.access_token(user_id, family)?,
        token_type: "bearer",
        expires_in: keys.access_ttl.as_secs(),
        refresh_token,
    })
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("the refresh token is invalid, expired or already used".into())
}

/// `POST /refresh`: rotates the token. A token used twice means it leaked:
/// its whole family (the session) is revoked.
async fn refresh(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<TokenPair> {
    let input: RefreshRequest = read_json(REFRESH_BODY, BodyShape::Whole, &headers, body, app.body_limit()).await?;
    let db = app.db();
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(tokens::token_hash(&input.refresh_token)))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_refresh)?;
    let now = Utc::now();
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(invalid_refresh());
    }
    // Marking the token used only if nobody did first makes two concurrent
    // uses of one token count as reuse.
    let marked = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    if marked.rows_affected == 0 {
        tracing::warn!(user = %stored.user_id, session = %stored.family_id, "refresh token reused: session revoked");
        revoke(&app, stored.user_id, refresh_token::Column::FamilyId.eq(stored.family_id)).await?;
        return Err(invalid_refresh());
    }
    start_session(&app, stored.user_id, stored.family_id).await
}

/// Revokes every open refresh token of `user` matching `which`; the
/// cached callers of `user` are forgotten on every replica.
async fn revoke(app: &AppState, user: Uuid, which: impl Into<Condition>) -> ApiResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(which.into())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(app.db())
        .await
        .map_err(internal)?;
    app.notifier().forget(app.db(), Forget::Caller(user)).await;
    Ok(())
}

/// `POST /logout`: ends every session of the caller; their access tokens
/// stop working on the next request.
async fn logout(State(app): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    let user = principal.require_user()?;
    revoke(&app, user, refresh_token::Column::UserId.eq(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`: the caller, its roles and its organizations.
async fn me(State(app): State<AppState>, principal: Principal) -> ApiResult<Json<Me>> {
    let user = find_user(app.db(), principal.require_user()?).await?;
    let ids: Vec<Uuid> = principal.organizations.iter().map(|m| m.organization_id).collect();
    let mut organizations: Vec<MyOrganization> = organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids))
        .all(app.db())
        .await
        .map_err(internal)?
        .into_iter()
        .filter_map(|org| {
            let role = principal.role_in(org.id)?;
            Some(MyOrganization { id: org.id, name: org.name, role })
        })
        .collect();
    organizations.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(Json(Me { user: user.into(), roles: principal.roles, organizations }))
}

async fn find_user(db: &DatabaseConnection, id: Uuid) -> ApiResult<user::Model> {
    user::Entity::find_by_id(id).one(db).await.map_err(internal)?.ok_or_else(|| ApiError::not_found("User"))
}

/// The user `id`, if the caller may manage it (itself, or a superadmin);
/// anyone else gets the same 404 as for a missing user.
async fn managed_user(db: &DatabaseConnection, principal: &Principal, id: Uuid) -> ApiResult<user::Model> {
    if id != principal.id && !principal.is_superadmin() {
        return Err(ApiError::not_found("User"));
    }
    find_user(db, id).await
}

/// `GET /users/{id}`: self or superadmin.
async fn read_user(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<Json<UserView>> {
    Ok(Json(managed_user(app.db(), &principal, id).await?.into()))
}

/// `PATCH /users/{id}`: self or superadmin. Changing one's own e-mail
/// address or password needs `current_password` (a stolen access token
/// cannot take the account over), and either change ends the user's other
/// sessions.
async fn patch_user(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UserView>> {
    let existing = managed_user(app.db(), &principal, id).await?;
    let mut changes: UserChanges =
        read_json(USER_CHANGES_BODY, BodyShape::Partial, &headers, body, app.body_limit()).await?;
    changes.email = changes.email.as_deref().map(normalize_email);
    let mut errors = Vec::new();
    if let Some(email) = &changes.email {
        check(&EMAIL, email, &mut errors);
    }
    if let Some(name) = &changes.name {
        check(&USER_NAME, name, &mut errors);
    }
    if let Some(password) = &changes.password {
        check(&PASSWORD, password, &mut errors);
    }
    rejected(errors)?;
    let sensitive = changes.email.is_some() || changes.password.is_some();
    if sensitive && id == principal.id {
        let Some(current) = changes.current_password.take() else {
            return Err(ApiError::field(
                "current_password",
                FieldErrorCode::Missing,
                "changing your e-mail address or password needs your current password",
            ));
        };
        if !password::verify(current, Some(existing.password_hash.clone()), app.identity().hash_cost()).await? {
            return Err(ApiError::field("current_password", FieldErrorCode::Invalid, "this is not your password"));
        }
    }
    let mut row = existing.into_active_model();
    if let Some(email) = changes.email {
        row.email = Set(email);
    }
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(password) = changes.password {
        row.password_hash = Set(password::hash(password, app.identity().hash_cost()).await?);
    }
    row.updated_at = Set(Utc::now());
    let updated = row.update(app.db()).await.map_err(email_taken)?;
    if sensitive {
        // The caller's own session survives its own change.
        let mut sessions = Condition::all().add(refresh_token::Column::UserId.eq(id));
        if id == principal.id {
            sessions = sessions.add(refresh_token::Column::FamilyId.ne(principal.session_id));
        }
        revoke(&app, id, sessions).await?;
    }
    Ok(Json(updated.into()))
}

/// `DELETE /users/{id}`: self or superadmin; sessions and roles go with it.
async fn delete_user(
    State(app): State<AppState>,
    principal: Principal,
    ObjectId(id): ObjectId,
) -> ApiResult<StatusCode> {
    managed_user(app.db(), &principal, id).await?;
    let transaction = crate::db::begin_write(app.db()).await.map_err(internal)?;
    let (mut stale, told) =
        crate::store::delete_owned(&transaction, app.store(), (id, "the user"), principal.id).await?;
    user::Entity::delete_by_id(id).exec(&transaction).await.map_err(internal)?;
    transaction.commit().await.map_err(internal)?;
    told.committed(app.notifier());
    // The user's sessions, and what it owned, from every cache.
    stale.push(Forget::Caller(id));
    for forget in stale {
        app.notifier().forget(app.db(), forget).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users`: a superadmin sees everyone, anyone else only themselves.
async fn list_users(
    State(app): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<UserView>>> {
    let query = query::parse(&USERS, raw.as_deref())?;
    let mut select = user::Entity::find();
    if !principal.is_superadmin() {
        select = select.filter(user::Column::Id.eq(principal.id));
    }
    let page = page_of(
        app.db(),
        app.cursors(),
        &USERS,
        &query,
        select,
        Readable::default(),
        (user::Column::Id, user::Column::CreatedAt),
    )
    .await?;
    Ok(Json(page.map(UserView::from)))
}
