//! The query string of a list: `page`, `page_size`, `total`, `sort` and
//! `?field=value` filters, each checked against the resource's fields.

use chrono::{DateTime, Utc};
use fastsaas_core::{ApiError, ApiResult, FieldKind, FieldSpec, Page, ResourceSpec};
use sea_orm::sea_query::Order;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Value,
};

use crate::error::db_error;

/// The largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The highest page number a client may ask for (far past any real table).
pub const MAX_PAGE: u64 = 1_000_000_000;
/// The page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The sort direction of `?sort=field` (ascending) or `?sort=-field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Ascending,
    Descending,
}

/// A checked list query.
#[derive(Debug)]
pub(crate) struct ListQuery {
    pub(crate) page: u64,
    pub(crate) page_size: u64,
    pub(crate) with_total: bool,
    pub(crate) sort: Option<(&'static FieldSpec, Direction)>,
    pub(crate) filters: Vec<(&'static FieldSpec, Value)>,
}

impl ListQuery {
    /// The number of rows before this page.
    pub(crate) fn offset(&self) -> u64 {
        // `parse` bounds `page` so that this cannot overflow.
        (self.page - 1) * self.page_size
    }
}

/// Parses and checks the raw query string of a list of `spec`.
pub(crate) fn parse(spec: &'static ResourceSpec, raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::InvalidQuery(format!("the query string cannot be read: {err}")))?;
    let mut query =
        ListQuery { page: 1, page_size: DEFAULT_PAGE_SIZE, with_total: true, sort: None, filters: Vec::new() };
    let mut seen: Vec<&str> = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        if name.contains('\0') || value.contains('\0') {
            return Err(ApiError::InvalidQuery(format!(
                "`{}`: {}",
                name.replace('\0', "%00"),
                crate::body::NUL_MESSAGE
            )));
        }
        if seen.contains(&name.as_str()) {
            return Err(ApiError::InvalidQuery(format!("`{name}` is given more than once")));
        }
        seen.push(name);
        match name.as_str() {
            "page" => query.page = parse_bounded(name, value, 1, MAX_PAGE)?,
            "page_size" => query.page_size = parse_bounded(name, value, 1, MAX_PAGE_SIZE)?,
            "total" => query.with_total = parse_bool(name, value)?,
            "sort" => query.sort = Some(parse_sort(spec, value)?),
            _ => query.filters.push(parse_filter(spec, name, value)?),
        }
    }
    Ok(query)
}

fn parse_bounded(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    value.parse::<u64>().ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        ApiError::InvalidQuery(format!("`{name}` must be an integer from {min} to {max}, not `{value}`"))
    })
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::InvalidQuery(format!("`{name}` must be `true` or `false`, not `{value}`"))),
    }
}

fn parse_sort(spec: &'static ResourceSpec, value: &str) -> Result<(&'static FieldSpec, Direction), ApiError> {
    let (name, direction) = match value.strip_prefix('-') {
        Some(name) => (name, Direction::Descending),
        None => (value, Direction::Ascending),
    };
    let field = spec.field(name).filter(|field| field.sort).ok_or_else(|| {
        ApiError::InvalidQuery(format!("cannot sort by `{name}`; sortable fields: {}", names(spec, |f| f.sort)))
    })?;
    Ok((field, direction))
}

fn parse_filter(spec: &'static ResourceSpec, name: &str, value: &str) -> Result<(&'static FieldSpec, Value), ApiError> {
    let field = spec.field(name).filter(|field| field.filter).ok_or_else(|| {
        ApiError::InvalidQuery(format!(
            "unknown query parameter `{name}`; a list takes page, page_size, total, sort, and the filters: {}",
            names(spec, |f| f.filter)
        ))
    })?;
    let parsed = filter_value(field.kind, value).ok_or_else(|| {
        ApiError::InvalidQuery(format!("`{name}` must be {}, not `{value}`", crate::body::describe(field.kind)))
    })?;
    Ok((field, parsed))
}

/// The database value of a filter, if `text` is a value of `kind`.
fn filter_value(kind: FieldKind, text: &str) -> Option<Value> {
    Some(match kind {
        FieldKind::Text => text.to_owned().into(),
        FieldKind::Enum(variants) => variants.contains(&text).then(|| text.to_owned())?.into(),
        FieldKind::Bool => match text {
            "true" => true.into(),
            "false" => false.into(),
            _ => return None,
        },
        FieldKind::Int32 => text.parse::<i32>().ok()?.into(),
        FieldKind::Int64 => text.parse::<i64>().ok()?.into(),
        FieldKind::Float => text.parse::<f64>().ok()?.into(),
        FieldKind::Uuid => uuid::Uuid::parse_str(text).ok()?.into(),
        FieldKind::DateTime => text.parse::<DateTime<Utc>>().ok()?.into(),
        FieldKind::Json | FieldKind::Array(_) | FieldKind::Object(_) => return None,
    })
}

fn names(spec: &ResourceSpec, keep: impl Fn(&FieldSpec) -> bool) -> String {
    let names: Vec<&str> = spec.fields.iter().filter(|field| keep(field)).map(|field| field.name).collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

/// One page of `select`, filtered and sorted as `query` says, in
/// `created_at`, `id` order unless a sort is asked for, with `total` unless
/// the client declined it.
pub(crate) async fn page_of<E>(
    db: &DatabaseConnection,
    spec: &'static ResourceSpec,
    query: &ListQuery,
    mut select: Select<E>,
    id: E::Column,
    created_at: E::Column,
) -> ApiResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let column = |name: &str| {
        name.parse::<E::Column>().map_err(|_| {
            tracing::error!(resource = spec.name, field = name, "a field has no column");
            ApiError::Internal
        })
    };
    for (field, value) in &query.filters {
        select = select.filter(column(field.name)?.eq(value.clone()));
    }
    // Ties go by `id` in the sort's direction, so that one index
    // (`field, id`, see `db::indexes`) read forwards or backwards yields
    // the page in order.
    let (key, order) = match query.sort {
        Some((field, Direction::Ascending)) => (column(field.name)?, Order::Asc),
        Some((field, Direction::Descending)) => (column(field.name)?, Order::Desc),
        None => (created_at, Order::Asc),
    };
    let counted = select.clone();
    let total = async { if query.with_total { counted.count(db).await.map(Some) } else { Ok(None) } };
    let items =
        select.order_by(key, order.clone()).order_by(id, order).limit(query.page_size).offset(query.offset()).all(db);
    // The count and the page go to the database together, on two pooled
    // connections: a list waits for one round trip, not two.
    let (total, items) = tokio::try_join!(total, items).map_err(|err| db_error(spec, err))?;
    Ok(Page::new(items, query.page, query.page_size, total))
}
