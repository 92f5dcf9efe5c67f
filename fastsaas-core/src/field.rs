//! The description of one field of a resource, emitted by `#[derive(Crud)]`.

/// The JSON shape a field accepts and returns; decides validation of bodies,
/// parsing of `?field=value` filters and the OpenAPI schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldKind {
    /// A string (`String`).
    Text,
    /// `true` or `false` (`bool`).
    Bool,
    /// An integer in the `i32` range.
    Int32,
    /// An integer in the `i64` range.
    Int64,
    /// A number (`f64`).
    Float,
    /// A UUID string.
    Uuid,
    /// An RFC 3339 date-time string (`DateTime<Utc>`).
    DateTime,
    /// Any JSON value (`serde_json::Value`).
    Json,
    /// A JSON array (`Vec<T>`) of elements of the given kind, stored as JSON.
    Array(&'static FieldKind),
    /// A JSON object (`HashMap`/`BTreeMap` with string keys) whose values
    /// are of the given kind, stored as JSON.
    Object(&'static FieldKind),
    /// A string that must be one of the listed values (a string-backed enum).
    Enum(&'static [&'static str]),
}

impl FieldKind {
    /// Whether `?field=value` filters and `?sort=field` can apply to this kind.
    pub const fn is_scalar(self) -> bool {
        !matches!(self, FieldKind::Json | FieldKind::Array(_) | FieldKind::Object(_))
    }
}

/// Who may see and set a field through the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Accepted on input and returned (the default).
    ReadWrite,
    /// Returned, never accepted: set from its `default` (`#[crud(read_only)]`).
    ReadOnly,
    /// Accepted, never returned (`#[crud(write_only)]`), e.g. a secret.
    WriteOnly,
    /// Neither accepted nor returned; server-side only (`#[crud(hidden)]`).
    Hidden,
}

impl Access {
    /// Whether a client may send this field.
    pub const fn is_writable(self) -> bool {
        matches!(self, Access::ReadWrite | Access::WriteOnly)
    }

    /// Whether responses include this field.
    pub const fn is_readable(self) -> bool {
        matches!(self, Access::ReadWrite | Access::ReadOnly)
    }
}

/// A validation rule from `#[crud(validate(...))]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// `length(min = .., max = ..)`: characters of a string, items of a list.
    Length {
        /// The inclusive lower bound.
        min: Option<u64>,
        /// The inclusive upper bound.
        max: Option<u64>,
    },
    /// `range(min = .., max = ..)`: the value of a number.
    Range {
        /// The inclusive lower bound.
        min: Option<f64>,
        /// The inclusive upper bound.
        max: Option<f64>,
    },
    /// `email`: an e-mail address.
    Email,
    /// `pattern = "regex"`: the whole string matches the regular expression.
    Pattern(&'static str),
}

/// One field of a resource.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    /// The field's name, in Rust, JSON and the database alike.
    pub name: &'static str,
    /// The JSON shape of its values.
    pub kind: FieldKind,
    /// Whether `null` is a value (the Rust type is an `Option`).
    pub nullable: bool,
    /// Who may see and set it.
    pub access: Access,
    /// Whether the database keeps values unique across the whole table
    /// (`#[crud(unique)]`).
    pub unique: bool,
    /// Whether the database keeps values unique among the objects of one
    /// owner (`#[crud(unique(per_owner))]`).
    pub unique_per_owner: bool,
    /// Whether its values are stored encrypted (`#[crud(encrypted)]`, on
    /// `write_only` and `hidden` text fields).
    pub encrypted: bool,
    /// Whether the database indexes it (`#[crud(index)]`).
    pub index: bool,
    /// Whether lists accept `?name=value` (`#[crud(filter)]`).
    pub filter: bool,
    /// Whether lists accept `?sort=name` (`#[crud(sort)]`).
    pub sort: bool,
    /// Whether the server fills it when a create leaves it out.
    pub has_default: bool,
    /// The validation rules.
    pub rules: &'static [Rule],
    /// The field's doc comment.
    pub doc: &'static str,
}

impl FieldSpec {
    /// Whether a create (or a PUT) must carry this field.
    pub const fn is_required_on_create(&self) -> bool {
        self.access.is_writable() && !self.nullable && !self.has_default
    }
}
