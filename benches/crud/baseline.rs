//! The hand-written baseline: the same `/items` routes in plain axum + SeaORM,
//! doing the same work as the generated ones (content-type and size checks,
//! typed JSON, validation, the same queries, the same JSON out).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fastsaas::sea_orm;
use fastsaas::sea_orm::entity::prelude::*;
use fastsaas::sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect};
use fastsaas::serde_json::{self, json};
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
}

const BODY_LIMIT: usize = 1024 * 1024;

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"type": "about:blank", "title": "error", "status": status.as_u16(), "detail": detail});
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

async fn create(State(db): State<Arc<DatabaseConnection>>, headers: HeaderMap, body: Body) -> Response {
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
    let row = ActiveModel {
        id: Set(id),
        owner_id: Set(None),
        name: Set(input.name),
        config: Set(input.config),
        status: Set("idle".to_owned()),
        secret: Set(input.secret),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(db.as_ref()).await {
        Ok(model) => (StatusCode::CREATED, [(header::LOCATION, format!("/items/{id}"))], Json(model)).into_response(),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    }
}

async fn read(State(db): State<Arc<DatabaseConnection>>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return problem(StatusCode::BAD_REQUEST, "bad id");
    };
    match Entity::find().filter(Column::Id.eq(id)).one(db.as_ref()).await {
        Ok(Some(model)) => Json(model).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such item"),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    }
}

async fn list(State(db): State<Arc<DatabaseConnection>>, Query(query): Query<PageQuery>) -> Response {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if page == 0 || !(1..=100).contains(&page_size) {
        return problem(StatusCode::BAD_REQUEST, "bad page");
    }
    let select = Entity::find();
    let Ok(total) = select.clone().count(db.as_ref()).await else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "db");
    };
    let items = select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(page_size)
        .offset((page - 1) * page_size)
        .all(db.as_ref())
        .await;
    match items {
        Ok(items) => Json(Page { items, page, page_size, total }).into_response(),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "db"),
    }
}

/// The baseline's router, with its table created.
pub(crate) async fn router(db: DatabaseConnection) -> Router {
    let schema = sea_orm::Schema::new(db.get_database_backend());
    db.execute(schema.create_table_from_entity(Entity).if_not_exists()).await.expect("baseline table");
    for mut index in schema.create_index_from_entity(Entity) {
        db.execute(index.if_not_exists()).await.expect("baseline index");
    }
    Router::new().route("/items", get(list).post(create)).route("/items/{id}", get(read)).with_state(Arc::new(db))
}
