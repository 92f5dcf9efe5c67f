//! A row as the shared cache keeps it: every column by name, with its type.
//!
//! A model's own `Serialize` is the API's record (write-only and hidden
//! fields left out), so the shared cache keeps the columns instead, read
//! and set through SeaORM's `ModelTrait::get` and `try_set`: exactly what
//! the table holds (encrypted fields still sealed), nothing more. A text
//! written by another version of the struct (a column missing, or of
//! another type) does not read back, and counts as a miss.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, IdenStatic, Iterable, ModelTrait, TryIntoModel, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A column's value, of one of the types a field is stored as.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Column {
    Bool(Option<bool>),
    Int(Option<i32>),
    BigInt(Option<i64>),
    /// Its bits: a decimal text may not read back as the same double.
    Double(Option<u64>),
    String(Option<String>),
    Uuid(Option<Uuid>),
    DateTime(Option<DateTime<Utc>>),
    Json(Option<serde_json::Value>),
}

impl Column {
    fn of(value: Value) -> Option<Column> {
        Some(match value {
            Value::Bool(value) => Column::Bool(value),
            Value::Int(value) => Column::Int(value),
            Value::BigInt(value) => Column::BigInt(value),
            Value::Double(value) => Column::Double(value.map(f64::to_bits)),
            Value::String(value) => Column::String(value),
            Value::Uuid(value) => Column::Uuid(value),
            Value::ChronoDateTimeUtc(value) => Column::DateTime(value),
            Value::Json(value) => Column::Json(value.map(|json| *json)),
            _ => return None,
        })
    }

    fn value(self) -> Value {
        match self {
            Column::Bool(value) => Value::Bool(value),
            Column::Int(value) => Value::Int(value),
            Column::BigInt(value) => Value::BigInt(value),
            Column::Double(value) => Value::Double(value.map(f64::from_bits)),
            Column::String(value) => Value::String(value),
            Column::Uuid(value) => Value::Uuid(value),
            Column::DateTime(value) => Value::ChronoDateTimeUtc(value),
            Column::Json(value) => Value::Json(value.map(Box::new)),
        }
    }
}

/// `model`'s columns as text; `None` if one has a type a field is never
/// stored as (a table the framework did not make).
pub(crate) fn encode<M: ModelTrait>(model: &M) -> Option<String> {
    let mut columns = BTreeMap::new();
    for column in <M::Entity as EntityTrait>::Column::iter() {
        columns.insert(column.as_str().to_owned(), Column::of(model.get(column))?);
    }
    serde_json::to_string(&columns).ok()
}

/// The row `text` holds, if it holds every column of this version of the
/// type, each of its type.
pub(crate) fn decode<M, A>(text: &str) -> Option<M>
where
    M: ModelTrait,
    A: ActiveModelTrait<Entity = M::Entity> + TryIntoModel<M>,
{
    let mut columns: BTreeMap<String, Column> = serde_json::from_str(text).ok()?;
    let mut row = A::default();
    for column in <M::Entity as EntityTrait>::Column::iter() {
        let value = columns.remove(column.as_str())?.value();
        row.try_set(column, value).ok()?;
    }
    row.try_into_model().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    mod thing {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "things")]
        pub(crate) struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub(crate) id: Uuid,
            pub(crate) name: String,
            pub(crate) note: Option<String>,
            pub(crate) done: bool,
            pub(crate) count: i32,
            pub(crate) total: Option<i64>,
            pub(crate) ratio: f64,
            pub(crate) config: Json,
            pub(crate) owner_id: Option<Uuid>,
            pub(crate) created_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub(crate) enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn a_thing() -> thing::Model {
        thing::Model {
            id: Uuid::new_v4(),
            name: "naïve \"quoted\" 🦀".to_owned(),
            note: None,
            done: true,
            count: -7,
            total: Some(i64::MAX),
            // Not read back from its shortest decimal text by every parser.
            ratio: 9_482_523_300.546_333,
            config: serde_json::json!({"nested": [1, null, {"a": "b"}]}),
            owner_id: Some(Uuid::new_v4()),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn every_column_reads_back_as_written() {
        let model = a_thing();
        let text = encode(&model).unwrap_or_default();
        assert_eq!(decode::<thing::Model, thing::ActiveModel>(&text), Some(model));
    }

    #[test]
    fn a_text_of_another_version_of_the_type_is_a_miss() {
        let text = encode(&a_thing()).unwrap_or_default();
        let mut columns: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        let mut missing = columns.clone();
        missing.remove("note");
        let missing = serde_json::Value::Object(missing).to_string();
        assert_eq!(decode::<thing::Model, thing::ActiveModel>(&missing), None, "a column missing");
        columns.insert("count".to_owned(), serde_json::json!({"string": "seven"}));
        let retyped = serde_json::Value::Object(columns).to_string();
        assert_eq!(decode::<thing::Model, thing::ActiveModel>(&retyped), None, "a column of another type");
        assert_eq!(decode::<thing::Model, thing::ActiveModel>("not json"), None);
    }
}
