//! Which `#[crud(...)]` field options apply to which field types, decided
//! by the type system: the derive names one of these traits for each option
//! it meets (`<T as LengthApplies>::OK`), so `type Name = String` takes
//! `validate(length)` and a user's own type called `Value` is not taken for
//! JSON. The impls are hidden from diagnostics: a wrong combination reads
//! "`length` applies to strings, lists and maps, not to `i64`", on the
//! option's token, and lists nothing of this file.
//!
//! Four capabilities are implemented per type ([`Text`], [`Number`],
//! [`Measured`], [`SingleValue`]); each option's trait follows from one of
//! them. `#[derive(CrudEnum)]` makes an enum a [`SingleValue`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A string: `email`, `pattern` and `encrypted` apply.
pub trait Text {}
/// A number: `range` applies.
pub trait Number {}
/// A string, a list or a map: `length` applies.
pub trait Measured {}
/// An id: `references` applies.
pub trait Id {}
/// One value the database can compare: `filter`, `sort`, `unique` and
/// `index` apply (not JSON, lists or maps).
pub trait SingleValue {}

macro_rules! capabilities {
    ($capability:ident: $($ty:ty $([$($generics:tt)*])?),* $(,)?) => {$(
        #[diagnostic::do_not_recommend]
        impl<$($($generics)*)?> $capability for $ty {}
    )*};
}

capabilities!(Text: String);
capabilities!(Number: i32, i64, f64);
capabilities!(Measured: String, Vec<T> [T], HashMap<String, T> [T], BTreeMap<String, T> [T]);
capabilities!(Id: Uuid);
capabilities!(SingleValue: String, bool, i32, i64, f64, Uuid, DateTime<Utc>);

macro_rules! option_rules {
    ($($(#[$doc:meta])* $rule:ident($capability:ident) = $message:literal, $label:literal;)*) => {$(
        $(#[$doc])*
        #[diagnostic::on_unimplemented(message = $message, label = $label)]
        pub trait $rule {
            /// Named by the derive's output: it compiles only where the
            /// option applies.
            const OK: () = ();
        }

        #[diagnostic::do_not_recommend]
        impl<T: $capability> $rule for T {}
    )*};
}

option_rules! {
    /// `validate(length(...))`.
    LengthApplies(Measured) = "`length` applies to strings, lists and maps, not to `{Self}`",
        "`length` needs a string, a list or a map";
    /// `validate(range(...))`.
    RangeApplies(Number) = "`range` applies to numbers (i32, i64, f64), not to `{Self}`",
        "`range` needs a number";
    /// `validate(email)`.
    EmailApplies(Text) = "`email` applies to strings, not to `{Self}`", "`email` needs a string";
    /// `validate(pattern = "...")`.
    PatternApplies(Text) = "`pattern` applies to strings, not to `{Self}`", "`pattern` needs a string";
    /// `encrypted`.
    EncryptedApplies(Text) = "`encrypted` applies to strings, not to `{Self}`", "`encrypted` needs a string";
    /// `filter`.
    FilterApplies(SingleValue) = "`filter` applies to single values, not to `{Self}` (JSON, a list or a map)",
        "`filter` needs a single value";
    /// `sort`.
    SortApplies(SingleValue) = "`sort` applies to single values, not to `{Self}` (JSON, a list or a map)",
        "`sort` needs a single value";
    /// `unique`.
    UniqueApplies(SingleValue) = "`unique` applies to single values, not to `{Self}` (JSON, a list or a map)",
        "`unique` needs a single value";
    /// `references = Type`.
    ReferencesApplies(Id) = "`references` applies to ids (`Uuid` or `Option<Uuid>`), not to `{Self}`",
        "`references` needs a `Uuid`";
    /// `index`.
    IndexApplies(SingleValue) = "`index` applies to single values, not to `{Self}` (JSON, a list or a map)",
        "`index` needs a single value";
}
