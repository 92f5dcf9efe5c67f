//! The static description of a resource that `#[derive(Crud)]` emits.

use crate::{FieldSpec, OperationSet};

/// Everything the runtime needs to know about a resource type, as data.
///
/// `#[derive(Crud)]` emits one `static` of this type per resource; the
/// runtime builds routes, tables, validation and OpenAPI schemas from it.
#[derive(Debug)]
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
    /// The user's fields, in declaration order (framework columns excluded).
    pub fields: &'static [FieldSpec],
    /// The type's doc comment, used as the OpenAPI description.
    pub doc: &'static str,
}

impl ResourceSpec {
    /// The field named `name`, if the resource has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }
}
