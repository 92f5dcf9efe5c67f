//! The static description of a resource that `#[derive(Crud)]` emits.

use crate::{Access, FieldKind, FieldSpec, Operation, OperationSet, Rule};

/// The columns every resource gets from the framework: returned on every
/// record, never accepted in a body, never a field name. (`template_id`
/// only matters to templated ones, but a field of that name would break
/// the day the resource becomes templated.)
pub const FRAMEWORK_COLUMNS: [&str; 5] = ["id", "owner_id", "created_at", "updated_at", "template_id"];

/// The query parameters every list reads itself: a field called so cannot
/// be a list filter (`?page=2` must stay the page).
pub const LIST_PARAMETERS: [&str; 6] = ["page", "page_size", "total", "sort", "after", "expand"];

/// The first path segments of the framework's own routes (API.md), served
/// or coming: no scope and no route of the app's own may start with one.
pub const FRAMEWORK_PATHS: [&str; 17] = [
    "users",
    "login",
    "refresh",
    "logout",
    "me",
    "roles",
    "orgs",
    "acl",
    "openapi.json",
    "healthz",
    "readyz",
    "docs",
    "metrics",
    "ws",
    "tasks",
    "notify",
    "notifications",
];

/// The routes of the built-in operations under a resource's scope: the
/// operation, the method, and the path after the scope path. The runtime
/// serves them; the macros refuse an endpoint on one.
pub const OPERATION_ROUTES: [(Operation, &str, &str); 7] = [
    (Operation::List, "GET", ""),
    (Operation::Create, "POST", ""),
    (Operation::Clear, "DELETE", ""),
    (Operation::Read, "GET", "/{id}"),
    (Operation::Update, "PATCH", "/{id}"),
    (Operation::Update, "PUT", "/{id}"),
    (Operation::Delete, "DELETE", "/{id}"),
];

/// The paths under a resource's scope that the framework serves (ACL
/// entries, API keys, templates), after the scope path: no custom endpoint
/// may start with one.
pub const SCOPE_PREFIXES: [&str; 3] = ["/{id}/acl", "/{id}/keys", "/templates"];

/// The table that holds the templates of every templated resource.
pub const TEMPLATES_TABLE: &str = "fastsaas_templates";

/// Everything the runtime needs to know about a resource type, as data.
///
/// `#[derive(Crud)]` emits one `static` of this type per resource; the
/// runtime builds routes, tables, validation and OpenAPI schemas from it.
/// Built with [`ResourceSpec::new`] and the `with_*` methods, in `const`
/// context.
///
/// ```
/// use fastsaas_core::{FieldKind, FieldSpec, OperationSet, ResourceSpec};
///
/// static FIELDS: [FieldSpec; 1] = [FieldSpec::new("name", FieldKind::Text)];
/// static ITEMS: ResourceSpec =
///     ResourceSpec::new("Item", "/items", "items").with_ops(OperationSet::ALL).with_fields(&FIELDS);
/// assert_eq!(ITEMS.field("name").map(|field| field.name), Some("name"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ResourceSpec {
    /// The Rust type name, e.g. `"Item"`; names schemas and error details.
    pub name: &'static str,
    /// The scope path, e.g. `"/items"`.
    pub path: &'static str,
    /// The database table, e.g. `"items"`.
    pub table: &'static str,
    /// The enabled operations.
    pub ops: OperationSet,
    /// Roles that administer this resource type (may manage ACL entries).
    pub acl_admins: &'static [&'static str],
    /// Roles that are allowed every action on this resource type.
    pub acl_allow_always: &'static [&'static str],
    /// Whether objects of this type can hold API keys and act as principals
    /// (`#[crud(authenticated)]`).
    pub authenticated: bool,
    /// Whether the owner of an object (the admins of an owning
    /// organization) is notified when it is created, updated or deleted
    /// (`#[crud(notify)]`).
    pub notify: bool,
    /// How long, in seconds, a row read by id is kept in the in-process
    /// cache (`#[crud(cache(ttl_secs = N))]`); `None`: not cached.
    pub cache_ttl_secs: Option<u64>,
    /// The templates of a `#[crud(templated)]` resource: the description of
    /// `{path}/templates`, guarded like a resource of its own.
    pub templates: Option<&'static ResourceSpec>,
    /// The user's fields, in declaration order (framework columns excluded).
    pub fields: &'static [FieldSpec],
    /// The type's doc comment, used as the OpenAPI description.
    pub doc: &'static str,
}

/// The fields of a template: its name, its parent and the values it holds.
pub static TEMPLATE_FIELDS: [FieldSpec; 3] = [
    FieldSpec {
        filter: true,
        sort: true,
        rules: &[Rule::Length { min: Some(1), max: Some(100) }],
        doc: "What the template is for.",
        ..template_field("name", FieldKind::Text, false)
    },
    FieldSpec {
        filter: true,
        doc: "The template whose values this one starts from; null for a root.",
        ..template_field("parent_id", FieldKind::Uuid, true)
    },
    FieldSpec {
        doc: "Values of the resource's writable fields, deep-merged over the parent's (`null` removes a value).",
        ..template_field("params", FieldKind::Object(&FieldKind::Json), false)
    },
];

const fn template_field(name: &'static str, kind: FieldKind, nullable: bool) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        nullable,
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

impl ResourceSpec {
    /// The resource `name` at `path`, stored in `table`, with no operation,
    /// no field and no role list.
    pub const fn new(name: &'static str, path: &'static str, table: &'static str) -> ResourceSpec {
        ResourceSpec {
            name,
            path,
            table,
            ops: OperationSet::EMPTY,
            acl_admins: &[],
            acl_allow_always: &[],
            authenticated: false,
            notify: false,
            cache_ttl_secs: None,
            templates: None,
            fields: &[],
            doc: "",
        }
    }

    /// The resource with the given enabled [`ops`](ResourceSpec::ops).
    pub const fn with_ops(mut self, ops: OperationSet) -> ResourceSpec {
        self.ops = ops;
        self
    }

    /// The resource with its [`acl_admins`](ResourceSpec::acl_admins).
    pub const fn with_acl_admins(mut self, roles: &'static [&'static str]) -> ResourceSpec {
        self.acl_admins = roles;
        self
    }

    /// The resource with its [`acl_allow_always`](ResourceSpec::acl_allow_always).
    pub const fn with_acl_allow_always(mut self, roles: &'static [&'static str]) -> ResourceSpec {
        self.acl_allow_always = roles;
        self
    }

    /// The resource, [`authenticated`](ResourceSpec::authenticated).
    pub const fn with_authenticated(mut self) -> ResourceSpec {
        self.authenticated = true;
        self
    }

    /// The resource, [`notify`](ResourceSpec::notify)ing owners of changes.
    pub const fn with_notify(mut self) -> ResourceSpec {
        self.notify = true;
        self
    }

    /// The resource, its rows read by id kept for `ttl_secs` in the cache
    /// ([`cache_ttl_secs`](ResourceSpec::cache_ttl_secs)).
    pub const fn with_cache(mut self, ttl_secs: u64) -> ResourceSpec {
        self.cache_ttl_secs = Some(ttl_secs);
        self
    }

    /// The resource with the description of its [`templates`](ResourceSpec::templates).
    pub const fn with_templates(mut self, templates: &'static ResourceSpec) -> ResourceSpec {
        self.templates = Some(templates);
        self
    }

    /// The resource with its [`fields`](ResourceSpec::fields).
    pub const fn with_fields(mut self, fields: &'static [FieldSpec]) -> ResourceSpec {
        self.fields = fields;
        self
    }

    /// The resource with its doc comment.
    pub const fn with_doc(mut self, doc: &'static str) -> ResourceSpec {
        self.doc = doc;
        self
    }

    /// The description of the templates of a templated resource: `name` is
    /// `"<Type>Template"` (the type of their ACL entries), `path` is
    /// `"<scope>/templates"`; the scope's role lists apply to them too.
    pub const fn templates(
        name: &'static str,
        path: &'static str,
        acl_admins: &'static [&'static str],
        acl_allow_always: &'static [&'static str],
    ) -> ResourceSpec {
        ResourceSpec {
            name,
            path,
            table: TEMPLATES_TABLE,
            // Templates are deleted one by one: a parent outlives its children.
            ops: OperationSet::EMPTY
                .with(Operation::Create)
                .with(Operation::Read)
                .with(Operation::Update)
                .with(Operation::Delete)
                .with(Operation::List),
            acl_admins,
            acl_allow_always,
            authenticated: false,
            notify: false,
            cache_ttl_secs: None,
            templates: None,
            fields: &TEMPLATE_FIELDS,
            doc: "A named set of field values that new objects are cloned from.",
        }
    }

    /// The field named `name`, if the resource has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }
}
