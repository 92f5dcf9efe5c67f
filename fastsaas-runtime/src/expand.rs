//! `?expand=`: reads and lists of a type embed, under `expand`, the
//! objects its expandable references name (`references(Parent, expand)`),
//! as the caller may see them: a reference the caller cannot read stays an
//! id, with nothing under `expand`. One level deep; a list costs one query
//! per expanded reference, whatever the number of rows.

use std::collections::HashMap;

use fastsaas_core::{ApiError, ApiResult, FieldSpec, ResourceSpec};
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::access::{self, Subject};
use crate::db::references::references;
use crate::error::db_error;
use crate::resource::Resource;

/// Reads the records of one type, among `ids`, that a subject may read,
/// by id.
pub(crate) type Loader =
    for<'a> fn(&'a DatabaseConnection, &'a Subject, Vec<Uuid>) -> BoxFuture<'a, ApiResult<HashMap<Uuid, Value>>>;

/// The [`Loader`] of `T`.
pub(crate) fn loader<T: Resource>() -> Loader {
    |db, subject, ids| Box::pin(load::<T>(db, subject, ids))
}

async fn load<T: Resource>(
    db: &DatabaseConnection,
    subject: &Subject,
    ids: Vec<Uuid>,
) -> ApiResult<HashMap<Uuid, Value>> {
    let readable = access::permitted_rows(db, T::SPEC, subject, "read").await?;
    let mut rows = T::Entity::find().filter(T::ID.is_in(ids));
    if let Some(condition) = readable.condition() {
        rows = rows.filter(condition);
    }
    let models = rows.all(db).await.map_err(|err| db_error(T::SPEC, err))?;
    models
        .into_iter()
        .map(|model| {
            let record = serde_json::to_value(&model).map_err(|err| {
                tracing::error!(resource = T::SPEC.name, error = %err, "a record could not be written as JSON");
                ApiError::Internal
            })?;
            Ok((T::id_of(&model), record))
        })
        .collect()
}

/// One reference a request asked to expand.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expansion {
    field: &'static FieldSpec,
    target: &'static ResourceSpec,
}

/// The expansions `raw` (a query string) asks of `spec`'s records with
/// `expand=a,b`: 400 naming the expandable references for a name that is
/// none of them.
pub(crate) fn requested(spec: &'static ResourceSpec, raw: Option<&str>) -> ApiResult<Vec<Expansion>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::InvalidQuery(format!("the query string cannot be read: {err}")))?;
    let Some((_, value)) = pairs.iter().find(|(name, _)| name == "expand") else {
        return Ok(Vec::new());
    };
    if value.contains('\0') {
        return Err(ApiError::InvalidQuery(format!("`expand`: {}", crate::body::NUL_MESSAGE)));
    }
    let expandable = || references(spec).filter(|(_, reference)| reference.expand);
    let mut expansions: Vec<Expansion> = Vec::new();
    for name in value.split(',').map(str::trim) {
        let Some((field, reference)) = expandable().find(|(field, _)| field.expansion() == name) else {
            let known: Vec<&str> = expandable().map(|(field, _)| field.expansion()).collect();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            // A name is echoed, not a megabyte.
            let shown: String = name.chars().take(64).collect();
            let cut = if shown.len() < name.len() { "…" } else { "" };
            return Err(ApiError::InvalidQuery(format!(
                "`{shown}{cut}` cannot be expanded; {} can expand: {known}",
                spec.name
            )));
        };
        if !expansions.iter().any(|known| std::ptr::eq(known.field, field)) {
            expansions.push(Expansion { field, target: (reference.target)() });
        }
    }
    Ok(expansions)
}

/// Adds to each of `records` (the records of one type, as JSON) an
/// `expand` object holding, for each of `expansions`, the object its
/// reference names, when `subject` may read it.
pub(crate) async fn expand(
    db: &DatabaseConnection,
    loaders: &HashMap<&'static str, Loader>,
    subject: &Subject,
    expansions: &[Expansion],
    records: &mut [Value],
) -> ApiResult<()> {
    // Asked for, `expand` is always there, if only empty.
    for record in records.iter_mut() {
        if let Value::Object(fields) = record {
            fields.entry("expand").or_insert_with(|| Value::Object(Map::new()));
        }
    }
    for expansion in expansions {
        let name = expansion.field.name;
        let mut ids: Vec<Uuid> =
            records.iter().filter_map(|record| record[name].as_str().and_then(|id| id.parse().ok())).collect();
        ids.sort_unstable();
        ids.dedup();
        let found = match (ids.is_empty(), loaders.get(expansion.target.name)) {
            (true, _) => HashMap::new(),
            (false, Some(load)) => load(db, subject, ids).await?,
            (false, None) => {
                tracing::error!(resource = expansion.target.name, "a referenced type has no loader");
                return Err(ApiError::Internal);
            }
        };
        for record in records.iter_mut() {
            let target = record[name].as_str().and_then(|id| id.parse::<Uuid>().ok()).and_then(|id| found.get(&id));
            if let (Some(target), Some(Value::Object(embedded))) = (target, record.get_mut("expand")) {
                embedded.insert(expansion.field.expansion().to_owned(), target.clone());
            }
        }
    }
    Ok(())
}
