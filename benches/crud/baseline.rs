//! The hand-written baseline: the same `/items` routes in plain axum + SeaORM,
//! doing the same work as the generated ones: content-type and size checks,
//! typed JSON, validation, the same JSON out, and the same security — the
//! same HS256 access token verified, the session and the caller's roles and
//! organizations read, and the same ACL decision (owner, organizations,
//! allow and deny entries; lists filtered in SQL).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fastsaas::sea_orm;
use fastsaas::sea_orm::entity::prelude::*;
use fastsaas::sea_orm::sea_query::{Expr, ExprTrait, Query};
use fastsaas::sea_orm::{ActiveValue::Set, Condition, DatabaseConnection, QueryOrder, QuerySelect, Statement};
use fastsaas::serde_json::{self, json};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "baseline_items")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(indexed)]
    pub owner_id: Option<Uuid>,
    pub name: String,
    pub config: serde_json::Value,
    pub status: String,
    #[serde(skip)]
    pub secret: Option<String>,
    #[sea_orm(indexed)]
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
    ids: Vec<Uuid>,
    admin_of: Vec<Uuid>,
    member_of: Vec<Uuid>,
}

fn unauthorized() -> Response {
    problem(StatusCode::UNAUTHORIZED, "the access token is missing, invalid or expired")
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
    let rows = state.db.query_all_raw(statement).await.map_err(|_| unauthorized())?;
    let mut caller = Caller { id: claims.sub, ids: vec![claims.sub, Uuid::nil()], admin_of: vec![], member_of: vec![] };
    let mut open = false;
    for row in rows {
        let (Ok(kind), Ok(id), Ok(name)) =
            (row.try_get::<String>("", "kind"), row.try_get::<Uuid>("", "id"), row.try_get::<String>("", "name"))
        else {
            return Err(unauthorized());
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

/// The effects of the caller's entries on `object` (or type-wide) for `action`.
async fn effects(state: &Baseline, caller: &Caller, action: &str, object: Uuid) -> Result<Vec<String>, Response> {
    let query = Query::select()
        .column("effect")
        .from(ACL)
        .and_where(Expr::col("resource_type").eq("Item"))
        .and_where(Expr::col("principal_id").is_in(caller.ids.clone()))
        .and_where(Expr::col("action").is_in([action, "*"]))
        .cond_where(Condition::any().add(Expr::col("object_id").is_null()).add(Expr::col("object_id").eq(object)))
        .to_owned();
    let rows = state.db.query_all(&query).await.map_err(|_| problem(StatusCode::INTERNAL_SERVER_ERROR, "db"))?;
    Ok(rows.iter().filter_map(|row| row.try_get::<String>("", "effect").ok()).collect())
}

/// DESIGN.md section 3 for one object, written out.
async fn may(
    state: &Baseline,
    caller: &Caller,
    action: &str,
    object: Uuid,
    owner: Option<Uuid>,
) -> Result<bool, Response> {
    let effects = effects(state, caller, action, object).await?;
    if effects.iter().any(|e| e == "deny") {
        return Ok(false);
    }
    let owns = owner.is_some_and(|owner| {
        owner == caller.id
            || caller.admin_of.contains(&owner)
            || (action == "read" && caller.member_of.contains(&owner))
    });
    Ok(owns || effects.iter().any(|e| e == "allow"))
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"type": "about:blank", "title": "error", "status": status.as_u16(), "detail": detail});
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

async fn create(State(state): State<Arc<Baseline>>, headers: HeaderMap, body: Body) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not json");
    }
    let bytes: Bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return problem(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
    };
    let input: CreateItem = match serde_json::from_slice(&bytes) {
        Ok(input) => input,
        Err(err) => return problem(StatusCode::BAD_REQUEST, &err.to_string()),
    };
    let length = input.name.chars().count();
    if !(1..=100).contains(&length) {
        return problem(StatusCode::BAD_REQUEST, "name: bad length");
    }
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    match may(&state, &caller, "create", id, Some(caller.id)).await {
        Ok(true) => {}
        Ok(false) => return problem(StatusCode::FORBIDDEN, "may not create"),
        Err(response) => return response,
    }
    let row = ActiveModel {
        id: Set(id),
        owner_id: Set(Some(caller.id)),
        name: Set(input.name),
        config: Set(input.config),
        status: Set("idle".to_owned()),
        secret: Set(input.secret),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(&state.db).await {
        Ok(model) => (StatusCode::CREATED, [(header::LOCATION, format!("/items/{id}"))], Json(model)).into_response(),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    }
}

async fn read(State(state): State<Arc<Baseline>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return problem(StatusCode::BAD_REQUEST, "bad id");
    };
    let model = match Entity::find().filter(Column::Id.eq(id)).one(&state.db).await {
        Ok(Some(model)) => model,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no such item"),
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    };
    match may(&state, &caller, "read", id, model.owner_id).await {
        Ok(true) => Json(model).into_response(),
        Ok(false) => problem(StatusCode::NOT_FOUND, "no such item"),
        Err(response) => response,
    }
}

async fn list(
    State(state): State<Arc<Baseline>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if page == 0 || !(1..=100).contains(&page_size) {
        return problem(StatusCode::BAD_REQUEST, "bad page");
    }
    let entry = |effect: &str| {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(ACL)
                .and_where(Expr::col((ACL, "resource_type")).eq("Item"))
                .and_where(Expr::col((ACL, "effect")).eq(effect))
                .and_where(Expr::col((ACL, "principal_id")).is_in(caller.ids.clone()))
                .and_where(Expr::col((ACL, "action")).is_in(["read", "*"]))
                .cond_where(
                    Condition::any()
                        .add(Expr::col((ACL, "object_id")).is_null())
                        .add(Expr::col((ACL, "object_id")).equals(("baseline_items", "id"))),
                )
                .to_owned(),
        )
    };
    // Rows owned by the caller or its organizations, or named by an allow
    // entry (both terms indexable), unless a deny entry applies. A
    // type-wide allow would grant every row: checked first, like the framework.
    let type_wide = Query::select()
        .expr(Expr::val(1))
        .from(ACL)
        .and_where(Expr::col("resource_type").eq("Item"))
        .and_where(Expr::col("effect").eq("allow"))
        .and_where(Expr::col("principal_id").is_in(caller.ids.clone()))
        .and_where(Expr::col("action").is_in(["read", "*"]))
        .and_where(Expr::col("object_id").is_null())
        .limit(1)
        .to_owned();
    let Ok(type_wide) = state.db.query_one(&type_wide).await else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "db");
    };
    let mut readable = Condition::all().add(entry("deny").not());
    if type_wide.is_none() {
        let mut owners = vec![caller.id];
        owners.extend(&caller.admin_of);
        owners.extend(&caller.member_of);
        let allowed = Query::select()
            .column((ACL, "object_id"))
            .from(ACL)
            .and_where(Expr::col((ACL, "resource_type")).eq("Item"))
            .and_where(Expr::col((ACL, "effect")).eq("allow"))
            .and_where(Expr::col((ACL, "principal_id")).is_in(caller.ids.clone()))
            .and_where(Expr::col((ACL, "action")).is_in(["read", "*"]))
            .and_where(Expr::col((ACL, "object_id")).is_not_null())
            .to_owned();
        readable =
            readable.add(Condition::any().add(Column::OwnerId.is_in(owners)).add(Column::Id.in_subquery(allowed)));
    }
    let select = Entity::find().filter(readable);
    let Ok(total) = select.clone().count(&state.db).await else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "db");
    };
    let items = select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(page_size + 1)
        .offset((page - 1) * page_size)
        .all(&state.db)
        .await;
    match items {
        Ok(mut items) => {
            let more = items.len() as u64 > page_size;
            items.truncate(page_size as usize);
            let next = items.last().filter(|_| more).map(|last| state.cursor(last));
            Json(Page { items, page, page_size, total, next }).into_response()
        }
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    }
}

/// The baseline's router, with its table created, verifying tokens signed
/// with `secret` (the framework's identity tables hold sessions, roles,
/// memberships and ACL entries).
pub(crate) async fn router(db: DatabaseConnection, secret: &str) -> Router {
    let schema = sea_orm::Schema::new(db.get_database_backend());
    db.execute(schema.create_table_from_entity(Entity).if_not_exists()).await.expect("baseline table");
    for mut index in schema.create_index_from_entity(Entity) {
        db.execute(index.if_not_exists()).await.expect("baseline index");
    }
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
        .route("/items/{id}", get(read))
        .route("/items/{id}/view", get(read))
        .with_state(Arc::new(state))
}
