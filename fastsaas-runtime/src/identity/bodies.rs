//! Descriptions of the identity routes' records and bodies (users, roles,
//! organizations), in the same terms as a resource's fields, so bodies are
//! read and checked, and documented, by the same code.

use fastsaas_core::acl::SUPERADMIN;
use fastsaas_core::{Access, ApiError, ApiResult, FieldError, FieldKind, FieldSpec, OperationSet, ResourceSpec, Rule};

/// A field of a framework body.
pub(crate) const fn field(name: &'static str, kind: FieldKind, rules: &'static [Rule]) -> FieldSpec {
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
        rules,
        doc: "",
    }
}

/// A text field of a framework body.
pub(crate) const fn text(name: &'static str, access: Access, nullable: bool, rules: &'static [Rule]) -> FieldSpec {
    FieldSpec { access, nullable, ..field(name, FieldKind::Text, rules) }
}

/// `Ok` when no rule failed, else the 400 naming every failure.
pub(crate) fn rejected(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// A user's e-mail address: unique, filterable and sortable.
pub(crate) const EMAIL: FieldSpec =
    FieldSpec { unique: true, filter: true, sort: true, ..text("email", Access::ReadWrite, false, &[Rule::Email]) };
/// A user's display name.
pub(crate) const USER_NAME: FieldSpec =
    FieldSpec { sort: true, ..text("name", Access::ReadWrite, true, &[Rule::Length { min: Some(1), max: Some(100) }]) };
/// A password: write-only, 8 to 1024 characters.
pub(crate) const PASSWORD: FieldSpec =
    text("password", Access::WriteOnly, false, &[Rule::Length { min: Some(8), max: Some(1024) }]);

/// The fields of a new user.
pub(crate) static USER_FIELDS: [FieldSpec; 3] = [EMAIL, USER_NAME, PASSWORD];
/// The user records, described like a resource for bodies, lists and docs.
pub(crate) static USERS: ResourceSpec = ResourceSpec {
    name: "User",
    path: "/users",
    table: "fastsaas_users",
    ops: OperationSet::ALL,
    acl_admins: &[SUPERADMIN],
    acl_allow_always: &[SUPERADMIN],
    authenticated: false,
    templates: None,
    fields: &USER_FIELDS,
    doc: "A person who signs in.",
};

/// An organization's name.
pub(crate) const ORGANIZATION_NAME: FieldSpec = FieldSpec {
    filter: true,
    sort: true,
    ..field("name", FieldKind::Text, &[Rule::Length { min: Some(1), max: Some(100) }])
};
static ORGANIZATION_FIELDS: [FieldSpec; 1] = [ORGANIZATION_NAME];
/// Organizations, described like a resource for bodies, lists and docs.
pub(crate) static ORGANIZATIONS: ResourceSpec = ResourceSpec {
    name: "Organization",
    path: "/orgs",
    table: "fastsaas_organizations",
    ops: OperationSet::ALL,
    acl_admins: &[SUPERADMIN],
    acl_allow_always: &[SUPERADMIN],
    authenticated: false,
    templates: None,
    fields: &ORGANIZATION_FIELDS,
    doc: "A group of users that can own resources together.",
};
/// A new member of an organization: by id or e-mail address, with a role.
pub(crate) static ORGANIZATION_MEMBER_FIELDS: [FieldSpec; 3] = [
    FieldSpec { nullable: true, ..field("user_id", FieldKind::Uuid, &[]) },
    FieldSpec { nullable: true, ..field("email", FieldKind::Text, &[]) },
    FieldSpec { filter: true, sort: true, ..field("role", FieldKind::Enum(&["admin", "member"]), &[]) },
];
/// The members of an organization, described for their list's query.
pub(crate) static MEMBERS: ResourceSpec = ResourceSpec {
    name: "OrganizationMembership",
    path: "/orgs/{id}/members",
    table: "fastsaas_memberships",
    ops: OperationSet::ALL,
    acl_admins: &[SUPERADMIN],
    acl_allow_always: &[SUPERADMIN],
    authenticated: false,
    templates: None,
    fields: &ORGANIZATION_MEMBER_FIELDS,
    doc: "A user's place in an organization.",
};
/// A role's name.
pub(crate) const ROLE_NAME: FieldSpec = FieldSpec {
    unique: true,
    filter: true,
    sort: true,
    ..field("name", FieldKind::Text, &[Rule::Length { min: Some(1), max: Some(64) }, Rule::Pattern("[A-Za-z0-9_.:-]+")])
};
static ROLE_FIELDS: [FieldSpec; 1] = [ROLE_NAME];
/// Roles, described like a resource for bodies, lists and docs.
pub(crate) static ROLES: ResourceSpec = ResourceSpec {
    name: "Role",
    path: "/roles",
    table: "fastsaas_roles",
    ops: OperationSet::ALL,
    acl_admins: &[SUPERADMIN],
    acl_allow_always: &[SUPERADMIN],
    authenticated: false,
    templates: None,
    fields: &ROLE_FIELDS,
    doc: "A named set of users that ACL entries and scopes can name.",
};
