//! The hand-written baseline: the same `/items` contract in plain axum +
//! SeaORM, written the way a skilled engineer would write it by hand for
//! speed, without the framework's code:
//!
//! - the same security: the HS256 access token verified, the session, roles
//!   and organizations read in one statement, and the same ACL decision
//!   (owner, organizations, allow and deny entries, type-wide or per object);
//! - a read is the row and the caller's entries that could decide, joined in
//!   one statement;
//! - a list reads the caller's entries first, then, when they grant nothing
//!   type-wide, `WHERE owner_id IN (me, my organizations) ORDER BY
//!   created_at, id LIMIT 21` (one more row tells whether there is a next
//!   page) and its `COUNT(*)`, on an `(owner_id, created_at, id)` index;
//! - a write is one statement with its authorization inside: an `UPDATE ..
//!   WHERE id = $1 AND <may update> RETURNING *`, an `INSERT .. SELECT ..
//!   WHERE NOT EXISTS (<a deny>) RETURNING *`;
//! - the same checks of input (content type, size, typed JSON, lengths) and
//!   the same JSON out.
#![allow(clippy::result_large_err, reason = "a handler's early answers are responses, as one writes them by hand")]

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fastsaas::sea_orm;
use fastsaas::sea_orm::entity::prelude::*;
use fastsaas::sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SimpleExpr};
use fastsaas::sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use fastsaas::sea_orm::{
    Condition, ConnectOptions, Database, DatabaseConnection, FromQueryResult, Iterable, QueryOrder, QuerySelect,
    Statement,
};
use fastsaas::serde_json::{self, json};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "baseline_items")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub name: String,
    pub config: serde_json::Value,
    pub status: String,
    #[serde(skip)]
    pub secret: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    name: String,
    config: serde_json::Value,
    #[serde(default)]
    secret: Option<String>,
}

/// A PATCH body: absent members stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchItem {
    name: Option<String>,
    config: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    secret: Option<Option<String>>,
}

/// `null` is a value for `secret` (clear it), an absent member is not.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    page: Option<u64>,
    page_size: Option<u64>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Model>,
    page: u64,
    page_size: u64,
    total: u64,
    /// Where the next page starts: the last row's `created_at` and id,
    /// signed, as an opaque cursor (null on the last page).
    next: Option<String>,
}

const BODY_LIMIT: usize = 1024 * 1024;
const ITEMS: &str = "baseline_items";
const ACL: &str = "fastsaas_acl_entries";

/// What the handlers share.
pub(crate) struct Baseline {
    db: DatabaseConnection,
    key: DecodingKey,
    validation: Validation,
    cursor_key: Vec<u8>,
}

impl Baseline {
    /// The cursor of the page after `last`: its `created_at` and id, with
    /// an HMAC-SHA256 tag so that a client cannot move it.
    fn cursor(&self, last: &Model) -> String {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use hmac::{Hmac, Mac};
        let payload = format!("{}|{}", last.created_at.to_rfc3339(), last.id);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.cursor_key).expect("any key length");
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&tag[..16]))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
}

/// The caller, as the hand-written code needs it.
struct Caller {
    id: Uuid,
    /// Itself, the nil id (entries for everyone), its roles and organizations.
    ids: Vec<Uuid>,
    admin_of: Vec<Uuid>,
    member_of: Vec<Uuid>,
}

impl Caller {
    /// The owners whose rows the caller may `action` without an entry.
    fn owners(&self, action: &str) -> Vec<Uuid> {
        let mut owners = vec![self.id];
        owners.extend(&self.admin_of);
        if action == "read" {
            owners.extend(&self.member_of);
        }
        owners
    }

    /// `EXISTS` an entry of the caller with `effect` on `object` (or
    /// type-wide) for `action`.
    fn entry(&self, effect: &str, action: &str, object: SimpleExpr) -> SimpleExpr {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(ACL)
                .and_where(Expr::col((ACL, "resource_type")).eq("Item"))
                .and_where(Expr::col((ACL, "principal_id")).is_in(self.ids.clone()))
                .and_where(Expr::col((ACL, "action")).is_in([action, "*"]))
                .and_where(Expr::col((ACL, "effect")).eq(effect))
                .cond_where(
                    Condition::any()
                        .add(Expr::col((ACL, "object_id")).is_null())
                        .add(Expr::col((ACL, "object_id")).eq(object)),
                )
                .to_owned(),
        )
    }

    /// May the caller `action` the row `id`, as an SQL condition on it.
    fn may(&self, action: &str, id: Uuid) -> Condition {
        Condition::all().add(self.entry("deny", action, Expr::val(id)).not()).add(
            Condition::any().add(Expr::col((ITEMS, "owner_id")).is_in(self.owners(action))).add(self.entry(
                "allow",
                action,
                Expr::val(id),
            )),
        )
    }
}

fn unauthorized() -> Response {
    problem(StatusCode::UNAUTHORIZED, "the access token is missing, invalid or expired")
}

fn database_error() -> Response {
    problem(StatusCode::INTERNAL_SERVER_ERROR, "the database failed")
}

/// Verifies the bearer token and reads the session, roles and memberships.
async fn authenticate(state: &Baseline, headers: &HeaderMap) -> Result<Caller, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let claims =
        jsonwebtoken::decode::<Claims>(token, &state.key, &state.validation).map_err(|_| unauthorized())?.claims;
    // Session, roles and memberships in one round trip.
    let sql = "SELECT 's' AS kind, t.family_id AS id, '' AS name FROM (SELECT family_id FROM fastsaas_refresh_tokens \
        WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL LIMIT 1) t \
        UNION ALL SELECT 'r', r.id, r.name FROM fastsaas_user_roles ur JOIN fastsaas_roles r ON r.id = ur.role_id \
        WHERE ur.user_id = $2 \
        UNION ALL SELECT 'o', m.organization_id, m.role FROM fastsaas_memberships m WHERE m.user_id = $2";
    let statement =
        Statement::from_sql_and_values(state.db.get_database_backend(), sql, [claims.sid.into(), claims.sub.into()]);
    let rows = state.db.query_all_raw(statement).await.map_err(|_| database_error())?;
    let mut caller = Caller { id: claims.sub, ids: vec![claims.sub, Uuid::nil()], admin_of: vec![], member_of: vec![] };
    let mut open = false;
    for row in rows {
        let (Ok(kind), Ok(id), Ok(name)) =
            (row.try_get::<String>("", "kind"), row.try_get::<Uuid>("", "id"), row.try_get::<String>("", "name"))
        else {
            return Err(database_error());
        };
        match kind.as_str() {
            "s" => open = true,
            "r" => caller.ids.push(id),
            _ => {
                caller.ids.push(id);
                if name == "admin" { caller.admin_of.push(id) } else { caller.member_of.push(id) }
            }
        }
    }
    if !open {
        return Err(unauthorized());
    }
    Ok(caller)
}

/// The row `id` if the caller may read it: the row and every entry that
/// could decide, in one statement, then the rule of DESIGN.md section 3.
async fn readable(state: &Baseline, caller: &Caller, id: Uuid) -> Result<Option<Model>, Response> {
    let on = Condition::all()
        .add(Expr::col(("e", "resource_type")).eq("Item"))
        .add(Expr::col(("e", "principal_id")).is_in(caller.ids.clone()))
        .add(Expr::col(("e", "action")).is_in(["read", "*"]))
        .add(Condition::any().add(Expr::col(("e", "object_id")).is_null()).add(Expr::col(("e", "object_id")).eq(id)));
    let mut query = Query::select();
    for column in Column::iter() {
        query.column((Alias::new(ITEMS), column));
    }
    query
        .expr_as(Expr::col(("e", "effect")), "effect")
        .from(ITEMS)
        .join_as(JoinType::LeftJoin, ACL, "e", on)
        .and_where(Expr::col((ITEMS, "id")).eq(id));
    let rows = state.db.query_all(&query).await.map_err(|_| database_error())?;
    let Some(first) = rows.first() else { return Ok(None) };
    let model = Model::from_query_result(first, "").map_err(|_| database_error())?;
    let effects: Vec<String> =
        rows.iter().filter_map(|row| row.try_get::<Option<String>>("", "effect").ok()?).collect();
    let denied = effects.iter().any(|effect| effect == "deny");
    let owns = model.owner_id.is_some_and(|owner| caller.owners("read").contains(&owner));
    Ok((!denied && (owns || effects.iter().any(|effect| effect == "allow"))).then_some(model))
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"type": "about:blank", "title": "error", "status": status.as_u16(), "detail": detail});
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

/// The JSON body of a request, after its content type and size.
async fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not json"));
    }
    let bytes: Bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| problem(StatusCode::PAYLOAD_TOO_LARGE, "too large"))?;
    serde_json::from_slice(&bytes).map_err(|err| problem(StatusCode::BAD_REQUEST, &err.to_string()))
}

fn check_name(name: &str) -> Result<(), Response> {
    let length = name.chars().count();
    if (1..=100).contains(&length) { Ok(()) } else { Err(problem(StatusCode::BAD_REQUEST, "name: bad length")) }
}

/// Turns the handlers' `Result` into the response.
fn answer(result: Result<Response, Response>) -> Response {
    result.unwrap_or_else(|response| response)
}

async fn create(State(state): State<Arc<Baseline>>, headers: HeaderMap, body: Body) -> Response {
    answer(create_item(&state, &headers, body).await)
}

async fn create_item(state: &Baseline, headers: &HeaderMap, body: Body) -> Result<Response, Response> {
    let caller = authenticate(state, headers).await?;
    let input: CreateItem = json_body(headers, body).await?;
    check_name(&input.name)?;
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    // One statement: the row, unless a type-wide deny entry forbids creating.
    let values: Vec<SimpleExpr> = vec![
        Expr::val(id),
        Expr::val(caller.id),
        Expr::val(input.name),
        Expr::val(input.config),
        Expr::val("idle"),
        Expr::val(input.secret),
        Expr::val(now),
        Expr::val(now),
    ];
    let mut select = Query::select();
    select.exprs(values).and_where(caller.entry("deny", "create", Expr::val(id)).not());
    let insert = Query::insert()
        .into_table(ITEMS)
        .columns(Column::iter())
        .select_from(select)
        .map_err(|_| database_error())?
        .returning_all()
        .to_owned();
    let rows = state.db.query_all(&insert).await.map_err(|_| database_error())?;
    let Some(row) = rows.first() else {
        return Err(problem(StatusCode::FORBIDDEN, "may not create"));
    };
    let model = Model::from_query_result(row, "").map_err(|_| database_error())?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/items/{id}"))], Json(model)).into_response())
}

fn parse_id(id: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| problem(StatusCode::BAD_REQUEST, "bad id"))
}

fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such item")
}

async fn read(State(state): State<Arc<Baseline>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    answer(read_item(&state, &headers, &id).await)
}

async fn read_item(state: &Baseline, headers: &HeaderMap, id: &str) -> Result<Response, Response> {
    let caller = authenticate(state, headers).await?;
    let id = parse_id(id)?;
    let model = readable(state, &caller, id).await?.ok_or_else(not_found)?;
    Ok(Json(model).into_response())
}

async fn patch(State(state): State<Arc<Baseline>>, headers: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    answer(patch_item(&state, &headers, &id, body).await)
}

async fn patch_item(state: &Baseline, headers: &HeaderMap, id: &str, body: Body) -> Result<Response, Response> {
    let caller = authenticate(state, headers).await?;
    let id = parse_id(id)?;
    let input: PatchItem = json_body(headers, body).await?;
    let mut update = Query::update();
    update.table(ITEMS).value(Column::UpdatedAt, chrono::Utc::now());
    if let Some(name) = input.name {
        check_name(&name)?;
        update.value(Column::Name, name);
    }
    if let Some(config) = input.config {
        update.value(Column::Config, config);
    }
    if let Some(secret) = input.secret {
        update.value(Column::Secret, secret);
    }
    update.and_where(Expr::col((ITEMS, "id")).eq(id)).cond_where(caller.may("update", id)).returning_all();
    let rows = state.db.query_all(&update).await.map_err(|_| database_error())?;
    if let Some(row) = rows.first() {
        let model = Model::from_query_result(row, "").map_err(|_| database_error())?;
        return Ok(Json(model).into_response());
    }
    // Nothing updated: a row the caller cannot see is 404, one it may only see 403.
    match readable(state, &caller, id).await? {
        Some(_) => Err(problem(StatusCode::FORBIDDEN, "may not update")),
        None => Err(not_found()),
    }
}

async fn list(
    State(state): State<Arc<Baseline>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Response {
    answer(list_items(&state, &headers, query).await)
}

async fn list_items(state: &Baseline, headers: &HeaderMap, query: PageQuery) -> Result<Response, Response> {
    let caller = authenticate(state, headers).await?;
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(problem(StatusCode::BAD_REQUEST, "bad page"));
    }
    // The caller's read entries decide which rows the list may hold.
    let entries = Query::select()
        .columns(["object_id", "effect"])
        .from(ACL)
        .and_where(Expr::col("resource_type").eq("Item"))
        .and_where(Expr::col("principal_id").is_in(caller.ids.clone()))
        .and_where(Expr::col("action").is_in(["read", "*"]))
        .to_owned();
    let rows = state.db.query_all(&entries).await.map_err(|_| database_error())?;
    let (mut allowed, mut denied, mut everything) = (Vec::new(), Vec::new(), false);
    for row in &rows {
        let object = row.try_get::<Option<Uuid>>("", "object_id").map_err(|_| database_error())?;
        let effect = row.try_get::<String>("", "effect").map_err(|_| database_error())?;
        match (object, effect.as_str()) {
            (None, "deny") => {
                return Ok(Json(Page { items: vec![], page, page_size, total: 0, next: None }).into_response());
            }
            (None, _) => everything = true,
            (Some(id), "deny") => denied.push(id),
            (Some(id), _) => allowed.push(id),
        }
    }
    let mut readable = Condition::all();
    if !denied.is_empty() {
        readable = readable.add(Column::Id.is_not_in(denied));
    }
    if !everything {
        let mut any = Condition::any().add(Column::OwnerId.is_in(caller.owners("read")));
        if !allowed.is_empty() {
            any = any.add(Column::Id.is_in(allowed));
        }
        readable = readable.add(any);
    }
    let select = Entity::find().filter(readable);
    let total = select.clone().count(&state.db).await.map_err(|_| database_error())?;
    let mut items = select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(page_size + 1)
        .offset((page - 1) * page_size)
        .all(&state.db)
        .await
        .map_err(|_| database_error())?;
    let more = items.len() as u64 > page_size;
    items.truncate(page_size as usize);
    let next = items.last().filter(|_| more).map(|last| state.cursor(last));
    Ok(Json(Page { items, page, page_size, total, next }).into_response())
}

/// Opens a pool of `max_connections` on the database of `settings` as one
/// would by hand: SQLite in WAL mode with the same `synchronous` mode as
/// the other side, a busy timeout and foreign keys.
pub(crate) async fn connect(settings: &fastsaas::Settings, max_connections: u32) -> DatabaseConnection {
    let synchronous = match settings.sqlite_synchronous {
        fastsaas::SqliteSynchronous::Full => SqliteSynchronous::Full,
        _ => SqliteSynchronous::Normal,
    };
    let mut options = ConnectOptions::new(settings.database_url.clone());
    options.max_connections(max_connections).sqlx_logging(false).map_sqlx_sqlite_opts(move |opts| {
        opts.journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
    });
    Database::connect(options).await.expect("the baseline's database")
}

/// Creates the baseline's table and the index its lists walk.
pub(crate) async fn create_table(db: &DatabaseConnection) {
    let schema = sea_orm::Schema::new(db.get_database_backend());
    db.execute(schema.create_table_from_entity(Entity).if_not_exists()).await.expect("baseline table");
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS baseline_items_owner_created ON baseline_items (owner_id, created_at, id)",
    )
    .await
    .expect("baseline index");
}

/// The baseline's router on `db` (its table made by [`create_table`]),
/// verifying tokens signed with `secret` (the framework's identity tables
/// hold sessions, roles, memberships and ACL entries).
pub(crate) fn router(db: DatabaseConnection, secret: &str) -> Router {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["fastsaas"]);
    validation.set_audience(&["fastsaas-api"]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    let state = Baseline {
        db,
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
        cursor_key: format!("cursors:{secret}").into_bytes(),
    };
    // `/view` is what a hand-written custom endpoint doing a checked read is:
    // the same handler on another path.
    Router::new()
        .route("/items", get(list).post(create))
        .route("/items/{id}", get(read).patch(patch))
        .route("/items/{id}/view", get(read))
        .with_state(Arc::new(state))
}
