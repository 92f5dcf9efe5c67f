//! The query string of a list: `page`, `page_size`, `total`, `sort`,
//! `after` and `?field=value` filters, each checked against the resource's
//! fields; and the page it asks for, by offset or after a cursor.

use chrono::{DateTime, SecondsFormat, Utc};
use fastsaas_core::{ApiError, ApiResult, FieldKind, FieldSpec, Page, ResourceSpec};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, NullOrdering, Order, Query, SelectStatement, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Value,
};

use crate::cursor::{Cursor, CursorKey, list_digest};
use crate::db::counts::Tally;
use crate::db::statement::statement;
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
    /// The cursor of `?after=`, as the client sent it.
    pub(crate) after: Option<String>,
    /// What names this list for its cursors: the resource, sort, filters.
    pub(crate) list: String,
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
    let mut query = ListQuery {
        page: 1,
        page_size: DEFAULT_PAGE_SIZE,
        with_total: true,
        sort: None,
        filters: Vec::new(),
        after: None,
        list: String::new(),
    };
    let (mut sort_text, mut filter_texts) = ("", Vec::new());
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
            "sort" => {
                query.sort = Some(parse_sort(spec, value)?);
                sort_text = value;
            }
            "after" => query.after = Some(value.clone()),
            // What a page embeds, not which rows it holds (`expand`).
            "expand" => {}
            _ => {
                query.filters.push(parse_filter(spec, name, value)?);
                filter_texts.push((name.as_str(), value.as_str()));
            }
        }
    }
    if query.after.is_some() && query.page != 1 {
        return Err(ApiError::InvalidQuery(
            "`after` and `page` cannot be combined: a cursor already says where the page starts".to_owned(),
        ));
    }
    query.list = list_digest(spec.name, sort_text, &filter_texts);
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
            "unknown query parameter `{name}`; a list takes page, page_size, total, sort, after, and the filters: {}",
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

/// The rows of a list that a caller may read, in parts a page can walk
/// on indexes in list order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Readable {
    /// What every row must meet (the denied objects left out), if anything.
    pub(crate) except: Option<Condition>,
    /// Disjoint parts, one of which a row must be in (the rows of one
    /// owner, the objects shared with the caller); `None` for every row,
    /// empty for none.
    pub(crate) any_of: Option<Vec<Condition>>,
    /// How to count them from the owners' row counts, when the table keeps
    /// them (`db::counts`); otherwise a total counts the rows.
    pub(crate) tally: Option<Tally>,
}

impl Readable {
    /// The rows as one condition, `None` for every row.
    pub(crate) fn condition(&self) -> Option<Condition> {
        match (self.except.clone(), self.parts()) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one),
            (Some(except), Some(parts)) => Some(except.add(parts)),
        }
    }

    /// The parts as one condition (a constant false for none), `None` when
    /// every row is in.
    fn parts(&self) -> Option<Condition> {
        self.any_of.as_ref().map(|parts| {
            if parts.is_empty() {
                Condition::all().add(Expr::cust("1 = 0"))
            } else {
                parts.iter().cloned().fold(Condition::any(), Condition::add)
            }
        })
    }
}

/// One page of `select`, limited to the `readable` rows, filtered and
/// sorted as `query` says, in `created_at`, `id` order unless a sort is
/// asked for, with `total` unless the client declined it, and the cursor
/// of the next page unless it is the last. A page `after` a cursor starts
/// past the row the cursor names, by the sort key and id, so it costs what
/// page 1 costs at any depth.
///
/// When the readable rows come in several parts (several owners, objects
/// shared by others), each part is read on its own index in list order, up
/// to the end of the page, and the parts are merged: a page reads about
/// `offset + page_size` entries per part and never sorts every readable row.
pub(crate) async fn page_of<E>(
    db: &DatabaseConnection,
    cursors: &CursorKey,
    spec: &'static ResourceSpec,
    query: &ListQuery,
    mut select: Select<E>,
    readable: Readable,
    (id, created_at): (E::Column, E::Column),
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
    if let Some(except) = &readable.except {
        select = select.filter(except.clone());
    }
    let mut counted = select.clone();
    if let Some(parts) = readable.parts() {
        counted = counted.filter(parts);
    }
    let total = async {
        if !query.with_total {
            return Ok(None);
        }
        match (&readable.tally, readable.any_of.as_deref()) {
            (_, Some([])) => Ok(Some(0)),
            // The counters know nothing of filters.
            (Some(tally), _) if query.filters.is_empty() => {
                let row = db.query_one(&tally.statement(spec.table)).await?;
                let total = row.map(|row| row.try_get::<i64>("", "total")).transpose()?.unwrap_or_default();
                match u64::try_from(total) {
                    Ok(total) => Ok(Some(total)),
                    // Counters that went wrong (triggers off during a load):
                    // the rows still answer; a restart rebuilds the counters.
                    Err(_) => {
                        tracing::error!(resource = spec.name, total, "the row counters are wrong; counting the rows");
                        counted.count(db).await.map(Some)
                    }
                }
            }
            _ => counted.count(db).await.map(Some),
        }
    };
    let key = match query.sort {
        Some((field, direction)) => {
            SortKey { column: column(field.name)?, kind: field.kind, nullable: field.nullable, direction }
        }
        None => {
            SortKey { column: created_at, kind: FieldKind::DateTime, nullable: false, direction: Direction::Ascending }
        }
    };
    let mut offset = query.offset();
    if let Some(text) = &query.after {
        let cursor = cursors.open(text, &query.list)?;
        select = select.filter(key.after(id, &cursor)?);
        offset = 0;
    }
    // One row past the page says whether another page follows.
    let window = query.page_size + 1;
    let items = async {
        let query = match readable.any_of.as_deref() {
            Some([]) => return Ok(Vec::new()),
            Some([part]) => key.ordered(select.filter(part.clone()), id).limit(window).offset(offset).into_query(),
            None => key.ordered(select, id).limit(window).offset(offset).into_query(),
            Some(parts) => key.merged(select, id, parts, offset, window),
        };
        E::find().from_raw_sql(statement(db.get_database_backend(), &query)).all(db).await
    };
    // The count and the page go to the database together, on two pooled
    // connections: a list waits for one round trip, not two.
    let (total, mut items) = tokio::try_join!(total, items).map_err(|err| db_error(spec, err))?;
    let more = items.len() as u64 > query.page_size;
    items.truncate(query.page_size as usize);
    let next = match items.last().filter(|_| more) {
        Some(last) => {
            let key = value_text(spec, &last.get(key.column))?;
            Some(cursors.seal(&Cursor { list: query.list.clone(), key, id: row_id(spec, &last.get(id))? }))
        }
        None => None,
    };
    Ok(Page::new(items, query.page, query.page_size, total).with_next(next))
}

/// The column a list is ordered by, and how.
struct SortKey<C> {
    column: C,
    kind: FieldKind,
    nullable: bool,
    direction: Direction,
}

impl Direction {
    fn order(self) -> Order {
        match self {
            Direction::Ascending => Order::Asc,
            Direction::Descending => Order::Desc,
        }
    }
}

impl<C: ColumnTrait> SortKey<C> {
    /// Ties go by `id` in the sort's direction, so that one index
    /// (`field, id`, see `db::indexes`) read forwards or backwards yields
    /// the page in order; nulls come last ascending, first descending, on
    /// both databases.
    fn nulls(&self) -> Option<NullOrdering> {
        let nulls = match self.direction {
            Direction::Ascending => NullOrdering::Last,
            Direction::Descending => NullOrdering::First,
        };
        self.nullable.then_some(nulls)
    }

    /// `select` in this order.
    fn ordered<E: EntityTrait<Column = C>>(&self, select: Select<E>, id: C) -> Select<E> {
        let order = self.direction.order();
        let select = match self.nulls() {
            Some(nulls) => select.order_by_with_nulls(self.column, order.clone(), nulls),
            None => select.order_by(self.column, order.clone()),
        };
        select.order_by(id, order)
    }

    /// The rows `offset .. offset + window` of `select` limited to any of
    /// `parts`, each part read in this order up to the window's end, then
    /// merged: `SELECT * FROM (part 1) UNION ALL ... ORDER BY ... LIMIT`.
    fn merged<E: EntityTrait<Column = C>>(
        &self,
        select: Select<E>,
        id: C,
        parts: &[Condition],
        offset: u64,
        window: u64,
    ) -> SelectStatement {
        let mut union: Option<SelectStatement> = None;
        for (n, part) in parts.iter().enumerate() {
            let read = self.ordered(select.clone().filter(part.clone()), id).limit(offset + window).into_query();
            let wrapped = Query::select().column(Asterisk).from_subquery(read, format!("fastsaas_part{n}")).to_owned();
            union = Some(match union {
                None => wrapped,
                Some(mut all) => {
                    all.union(UnionType::All, wrapped);
                    all
                }
            });
        }
        let mut merged = Query::select();
        merged.column(Asterisk);
        if let Some(union) = union {
            merged.from_subquery(union, "fastsaas_parts");
        }
        let order = self.direction.order();
        let (key, id) = (self.column.as_str(), id.as_str());
        match self.nulls() {
            Some(nulls) => merged.order_by_with_nulls(key, order.clone(), nulls),
            None => merged.order_by(key, order.clone()),
        };
        merged.order_by(id, order).limit(window).offset(offset).to_owned()
    }

    /// The rows past `cursor` in this order (`key, id`; nulls last
    /// ascending, first descending): a row-value comparison that walks the
    /// list's index from the cursor on.
    fn after(&self, id: C, cursor: &Cursor) -> ApiResult<Condition> {
        let stale = || ApiError::InvalidQuery("`after` is not a cursor this list gave out".to_owned());
        let ascending = self.direction == Direction::Ascending;
        let past = |left: Expr, right: Expr| if ascending { left.gt(right) } else { left.lt(right) };
        let id_value: Value = cursor.id.into();
        let key = || Expr::col(self.column);
        Ok(match &cursor.key {
            Some(text) => {
                let value = filter_value(self.kind, text).ok_or_else(stale)?;
                let beyond =
                    past(Expr::tuple([key(), Expr::col(id)]), Expr::tuple([Expr::val(value), Expr::val(id_value)]));
                let condition = Condition::any().add(beyond);
                if self.nullable && ascending { condition.add(key().is_null()) } else { condition }
            }
            // Only a nullable key is null in a cursor.
            None if !self.nullable => return Err(stale()),
            None => {
                let among_nulls = Condition::all().add(key().is_null()).add(past(Expr::col(id), Expr::val(id_value)));
                let condition = Condition::any().add(among_nulls);
                if ascending { condition } else { condition.add(key().is_not_null()) }
            }
        })
    }
}

/// A sort key as its filter text (what [`filter_value`] reads back), or
/// `None` for a null.
fn value_text(spec: &ResourceSpec, value: &Value) -> ApiResult<Option<String>> {
    Ok(match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.map(|flag| flag.to_string()),
        Value::Int(number) => number.map(|number| number.to_string()),
        Value::BigInt(number) => number.map(|number| number.to_string()),
        Value::Double(number) => number.map(|number| number.to_string()),
        Value::Uuid(id) => id.map(|id| id.to_string()),
        Value::ChronoDateTimeUtc(time) => time.map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        other => {
            tracing::error!(resource = spec.name, value = ?other, "a sort key of a kind a cursor cannot hold");
            return Err(ApiError::Internal);
        }
    })
}

/// A row's id.
fn row_id(spec: &ResourceSpec, value: &Value) -> ApiResult<uuid::Uuid> {
    match value {
        Value::Uuid(Some(id)) => Ok(*id),
        other => {
            tracing::error!(resource = spec.name, value = ?other, "a row's id is not a UUID");
            Err(ApiError::Internal)
        }
    }
}
