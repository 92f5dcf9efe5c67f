//! Which Rust types can be fields of a resource, and how they are stored.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use fastsaas_core::FieldKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub mod options;

/// A stored value that could not be turned back into the field's Rust type
/// (the database holds something the type no longer accepts).
#[derive(Debug, thiserror::Error)]
#[error("a stored value does not fit its field type: {0}")]
pub struct DecodeError(String);

/// A type that can be a field of a `#[derive(Crud)]` resource.
///
/// Each type names the column type it is stored as (`Stored`) and the JSON
/// shape it has in the API (`KIND`). Implemented for `String`, `bool`, `i32`,
/// `i64`, `f64`, `Uuid`, `DateTime<Utc>`, `serde_json::Value`, `Vec<T>` and
/// string-keyed maps (stored as JSON), `Option` of each, and string-backed
/// enums through `#[derive(CrudEnum)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `#[derive(Crud)]` resource",
    label = "unsupported field type",
    note = "supported: String, bool, i32, i64, f64, Uuid, DateTime<Utc>, serde_json::Value, Vec<T>, HashMap<String, T>, BTreeMap<String, T>, enums with `#[derive(CrudEnum)]`, and Option of each"
)]
pub trait Field: Sized + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The type of the database column.
    type Stored: Serialize + Send + Sync;
    /// The JSON shape in the API.
    const KIND: FieldKind;
    /// Whether `null` is a value.
    const NULLABLE: bool = false;
    /// Converts to the stored form.
    fn into_stored(self) -> Self::Stored;
    /// Converts back from the stored form.
    fn from_stored(stored: Self::Stored) -> Result<Self, DecodeError>;
}

macro_rules! stored_as_itself {
    ($($ty:ty => $kind:expr),* $(,)?) => {$(
        // The trait's note lists the supported types; rustc's list of
        // impls would point into this file instead.
        #[diagnostic::do_not_recommend]
        impl Field for $ty {
            type Stored = $ty;
            const KIND: FieldKind = $kind;
            fn into_stored(self) -> Self::Stored {
                self
            }
            fn from_stored(stored: Self::Stored) -> Result<Self, DecodeError> {
                Ok(stored)
            }
        }
    )*};
}

stored_as_itself! {
    String => FieldKind::Text,
    bool => FieldKind::Bool,
    i32 => FieldKind::Int32,
    i64 => FieldKind::Int64,
    f64 => FieldKind::Float,
    Uuid => FieldKind::Uuid,
    DateTime<Utc> => FieldKind::DateTime,
    serde_json::Value => FieldKind::Json,
}

fn to_json<T: Serialize>(value: T) -> serde_json::Value {
    // Serializing plain data (sequences and string-keyed maps of serializable
    // values) into a `Value` cannot fail; `Null` is a safe fallback.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, DecodeError> {
    serde_json::from_value(value).map_err(|err| DecodeError(err.to_string()))
}

macro_rules! stored_as_json {
    ($kind:expr => $($ty:ty $([$($gen:tt)*])?),* $(,)?) => {$(
        // The elements' kind documents the items (`Vec<String>` is an array
        // of strings): elements are fields too.
        #[diagnostic::do_not_recommend]
        impl<$($($gen)*)?> Field for $ty {
            type Stored = serde_json::Value;
            const KIND: FieldKind = $kind;
            fn into_stored(self) -> Self::Stored {
                to_json(self)
            }
            fn from_stored(stored: Self::Stored) -> Result<Self, DecodeError> {
                from_json(stored)
            }
        }
    )*};
}

stored_as_json! { FieldKind::Array(&T::KIND) =>
    Vec<T> [T: Field],
}
stored_as_json! { FieldKind::Object(&T::KIND) =>
    HashMap<String, T> [T: Field],
    BTreeMap<String, T> [T: Field],
}

#[diagnostic::do_not_recommend]
impl<T: Field> Field for Option<T> {
    type Stored = Option<T::Stored>;
    const KIND: FieldKind = T::KIND;
    const NULLABLE: bool = true;
    fn into_stored(self) -> Self::Stored {
        self.map(T::into_stored)
    }
    fn from_stored(stored: Self::Stored) -> Result<Self, DecodeError> {
        stored.map(T::from_stored).transpose()
    }
}

/// The stored type of a field, named by the derive as
/// `<[T; {T::NULLABLE as usize}] as StoredType>::Stored`: when `T` is no
/// [`Field`], the length fails once and rustc reports nothing else about the
/// column.
#[doc(hidden)]
pub trait StoredType {
    /// `T::Stored`.
    type Stored;
}

#[diagnostic::do_not_recommend]
impl<T: Field, const N: usize> StoredType for [T; N] {
    type Stored = T::Stored;
}

/// A string-backed enum: implemented by `#[derive(CrudEnum)]`, which also
/// implements [`Field`] through [`enum_to_stored`] and [`enum_from_stored`].
pub trait StringEnum: Serialize + DeserializeOwned {
    /// The serialized names of the variants, in declaration order.
    const VARIANTS: &'static [&'static str];
}

/// The stored form of a string-backed enum: its serialized name.
pub fn enum_to_stored<E: StringEnum>(value: &E) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        // `#[derive(CrudEnum)]` accepts only unit variants, which serialize
        // as strings; anything else is stored as its JSON text.
        other => other.map(|value| value.to_string()).unwrap_or_default(),
    }
}

/// A string-backed enum from its stored name.
pub fn enum_from_stored<E: StringEnum>(stored: String) -> Result<E, DecodeError> {
    from_json(serde_json::Value::String(stored))
}

/// Deserializes a PATCH member that is present: `null` stays `null` (for an
/// `Option` field it clears the value; for any other it is an error), absent
/// members fall back to `None` through `#[serde(default)]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
