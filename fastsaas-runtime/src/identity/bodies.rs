//! Descriptions of the identity routes' records and bodies (users, roles,
//! organizations), in the same terms as a resource's fields, so bodies are
//! read and checked, and documented, by the same code.

use fastsaas_core::acl::SUPERADMIN;
use fastsaas_core::{Access, ApiError, ApiResult, FieldError, FieldKind, FieldSpec, OperationSet, ResourceSpec, Rule};

/// A field of a framework body.
pub(crate) const fn field(name: &'static str, kind: FieldKind, rules: &'static [Rule]) -> FieldSpec {
    FieldSpec::new(name, kind).with_rules(rules)
}

/// A text field of a framework body.
pub(crate) const fn text(name: &'static str, access: Access, nullable: bool, rules: &'static [Rule]) -> FieldSpec {
    field(name, FieldKind::Text, rules).with_access(access).with_nullable(nullable)
}

/// `Ok` when no rule failed, else the 400 naming every failure.
pub(crate) fn rejected(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// A user's e-mail address: unique, filterable and sortable.
pub(crate) const EMAIL: FieldSpec =
    text("email", Access::ReadWrite, false, &[Rule::Email]).with_unique().with_filter().with_sort();
/// A user's display name.
pub(crate) const USER_NAME: FieldSpec =
    text("name", Access::ReadWrite, true, &[Rule::Length { min: Some(1), max: Some(100) }]).with_sort();
/// A password: write-only, 8 to 1024 characters.
pub(crate) const PASSWORD: FieldSpec =
    text("password", Access::WriteOnly, false, &[Rule::Length { min: Some(8), max: Some(1024) }]);

/// The fields of a new user.
pub(crate) static USER_FIELDS: [FieldSpec; 3] = [EMAIL, USER_NAME, PASSWORD];
/// The user records, described like a resource for bodies, lists and docs.
pub(crate) static USERS: ResourceSpec =
    framework_records("User", "/users", "fastsaas_users", &USER_FIELDS, "A person who signs in.");

/// An organization's name.
pub(crate) const ORGANIZATION_NAME: FieldSpec =
    text("name", Access::ReadWrite, false, &[Rule::Length { min: Some(1), max: Some(100) }]).with_filter().with_sort();
static ORGANIZATION_FIELDS: [FieldSpec; 1] = [ORGANIZATION_NAME];
/// Organizations, described like a resource for bodies, lists and docs.
pub(crate) static ORGANIZATIONS: ResourceSpec = framework_records(
    "Organization",
    "/orgs",
    "fastsaas_organizations",
    &ORGANIZATION_FIELDS,
    "A group of users that can own resources together.",
);
/// A new member of an organization: by id or e-mail address, with a role.
pub(crate) static ORGANIZATION_MEMBER_FIELDS: [FieldSpec; 3] = [
    field("user_id", FieldKind::Uuid, &[]).with_nullable(true),
    field("email", FieldKind::Text, &[]).with_nullable(true),
    field("role", FieldKind::Enum(&["admin", "member"]), &[]).with_filter().with_sort(),
];
/// The members of an organization, described for their list's query.
pub(crate) static MEMBERS: ResourceSpec = framework_records(
    "OrganizationMembership",
    "/orgs/{id}/members",
    "fastsaas_memberships",
    &ORGANIZATION_MEMBER_FIELDS,
    "A user's place in an organization.",
);
/// A role's name.
pub(crate) const ROLE_NAME: FieldSpec = text(
    "name",
    Access::ReadWrite,
    false,
    &[Rule::Length { min: Some(1), max: Some(64) }, Rule::Pattern("[A-Za-z0-9_.:-]+")],
)
.with_unique()
.with_filter()
.with_sort();
static ROLE_FIELDS: [FieldSpec; 1] = [ROLE_NAME];
/// Roles, described like a resource for bodies, lists and docs.
pub(crate) static ROLES: ResourceSpec = framework_records(
    "Role",
    "/roles",
    "fastsaas_roles",
    &ROLE_FIELDS,
    "A named set of users that ACL entries and scopes can name.",
);

/// Records the framework keeps (users, organizations, roles), described
/// like a resource that only superadmins administer.
const fn framework_records(
    name: &'static str,
    path: &'static str,
    table: &'static str,
    fields: &'static [FieldSpec],
    doc: &'static str,
) -> ResourceSpec {
    ResourceSpec::new(name, path, table)
        .with_ops(OperationSet::ALL)
        .with_acl_admins(&[SUPERADMIN])
        .with_acl_allow_always(&[SUPERADMIN])
        .with_fields(fields)
        .with_doc(doc)
}
