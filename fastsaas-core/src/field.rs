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

/// What deleting a referenced object does to the objects whose
/// reference names it (`#[crud(references(Parent, on_delete = ..))]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    /// The deletion is refused (409 naming the referring type) while any
    /// object refers to it. The default.
    Restrict,
    /// The referring objects are deleted with it, in its transaction, with
    /// their ACL entries and API keys (and theirs in turn, by their own
    /// rules).
    Cascade,
    /// The reference is set to `null` (an `Option<Uuid>` field).
    SetNull,
}

/// A field that names another resource's object
/// (`#[crud(references = Parent)]`): the database keeps it pointing at a
/// row (a foreign key, and an index), and a create or change needs the
/// caller to be allowed [`action`](Reference::action) on the target.
#[derive(Clone, Copy)]
pub struct Reference {
    /// The referenced type (a function: types may refer to each other).
    pub target: fn() -> &'static crate::ResourceSpec,
    /// What the caller must be allowed on the target to point at it.
    pub action: &'static str,
    /// What deleting the target does.
    pub on_delete: OnDelete,
    /// Whether reads and lists may embed the target (`?expand=`).
    pub expand: bool,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference")
            .field("target", &(self.target)().name)
            .field("action", &self.action)
            .field("on_delete", &self.on_delete)
            .field("expand", &self.expand)
            .finish()
    }
}

/// The name `?expand=` knows the reference field `name` by: `name`
/// without its `_id`.
///
/// ```
/// assert_eq!(fastsaas_core::field::expansion_of("project_id"), "project");
/// assert_eq!(fastsaas_core::field::expansion_of("parent"), "parent");
/// ```
pub fn expansion_of(name: &str) -> &str {
    name.strip_suffix("_id").filter(|name| !name.is_empty()).unwrap_or(name)
}

/// One field of a resource.
///
/// Built with [`FieldSpec::new`] and the `with_*` methods, in `const`
/// context; more options may come, so it cannot be built field by field.
///
/// ```
/// use fastsaas_core::{Access, FieldKind, FieldSpec, Rule};
///
/// const NAME: FieldSpec = FieldSpec::new("name", FieldKind::Text)
///     .with_rules(&[Rule::Length { min: Some(1), max: Some(100) }])
///     .with_filter()
///     .with_doc("What the item is called.");
/// assert!(NAME.filter && !NAME.sort && NAME.access == Access::ReadWrite);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
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
    /// The object it names, if it is a reference.
    pub reference: Option<Reference>,
}

impl FieldSpec {
    /// A read-write field that is never null, with no option.
    pub const fn new(name: &'static str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name,
            kind,
            nullable: false,
            access: Access::ReadWrite,
            unique: false,
            unique_per_owner: false,
            encrypted: false,
            index: false,
            filter: false,
            sort: false,
            has_default: false,
            rules: &[],
            doc: "",
            reference: None,
        }
    }

    /// The field with [`nullable`](FieldSpec::nullable) set to `nullable`.
    pub const fn with_nullable(mut self, nullable: bool) -> FieldSpec {
        self.nullable = nullable;
        self
    }

    /// The field with the given [`access`](FieldSpec::access).
    pub const fn with_access(mut self, access: Access) -> FieldSpec {
        self.access = access;
        self
    }

    /// The field, [`unique`](FieldSpec::unique) across the table.
    pub const fn with_unique(mut self) -> FieldSpec {
        self.unique = true;
        self
    }

    /// The field, [`unique_per_owner`](FieldSpec::unique_per_owner).
    pub const fn with_unique_per_owner(mut self) -> FieldSpec {
        self.unique_per_owner = true;
        self
    }

    /// The field, [`encrypted`](FieldSpec::encrypted).
    pub const fn with_encrypted(mut self) -> FieldSpec {
        self.encrypted = true;
        self
    }

    /// The field, [`index`](FieldSpec::index)ed.
    pub const fn with_index(mut self) -> FieldSpec {
        self.index = true;
        self
    }

    /// The field, a list [`filter`](FieldSpec::filter).
    pub const fn with_filter(mut self) -> FieldSpec {
        self.filter = true;
        self
    }

    /// The field, a list [`sort`](FieldSpec::sort) key.
    pub const fn with_sort(mut self) -> FieldSpec {
        self.sort = true;
        self
    }

    /// The field, filled by the server when a create leaves it out.
    pub const fn with_default(mut self) -> FieldSpec {
        self.has_default = true;
        self
    }

    /// The field with the given validation [`rules`](FieldSpec::rules).
    pub const fn with_rules(mut self, rules: &'static [Rule]) -> FieldSpec {
        self.rules = rules;
        self
    }

    /// The field with its doc comment.
    pub const fn with_doc(mut self, doc: &'static str) -> FieldSpec {
        self.doc = doc;
        self
    }

    /// The field, a [`reference`](FieldSpec::reference) to another type's
    /// objects.
    pub const fn with_reference(mut self, reference: Reference) -> FieldSpec {
        self.reference = Some(reference);
        self
    }

    /// The name `?expand=` knows a reference by: the field's name without
    /// its `_id` (`project_id` expands as `project`).
    pub fn expansion(&self) -> &'static str {
        expansion_of(self.name)
    }

    /// Whether a create (or a PUT) must carry this field.
    pub const fn is_required_on_create(&self) -> bool {
        self.access.is_writable() && !self.nullable && !self.has_default
    }
}
