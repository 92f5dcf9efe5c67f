//! The identity routes in the OpenAPI document: users, login, refresh,
//! logout, `/me`, and the bearer security scheme.

use fastsaas_core::{FieldKind, ProblemKind};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, PathItem, PathsBuilder, Required, ResponseBuilder};

use super::{
    Body, field_schema, input_schema, json_content, list_parameters, page_schema, problem, scalar, schema_ref,
};
use crate::identity::orgs::{MEMBERS, ORGANIZATIONS};
use crate::identity::roles::ROLES;
use crate::identity::routes::USERS;

/// The name of the security scheme of bearer access tokens.
const BEARER: &str = "bearer";

/// Adds the identity routes and their schemas.
pub(super) fn add(mut paths: PathsBuilder, components: ComponentsBuilder) -> (PathsBuilder, ComponentsBuilder) {
    let components = components
        .security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        )
        .schema("User", user_schema())
        .schema("UserCreate", input_schema(&USERS, Body::Create))
        .schema(
            "UserPatch",
            input_schema(&USERS, Body::Patch).property(
                "current_password",
                field_schema(FieldKind::Text, false)
                    .write_only(Some(true))
                    .description(Some("Your current password: needed to change your own e-mail address or password")),
            ),
        )
        .schema("UserPage", page_schema(&USERS))
        .schema(
            "Me",
            user_schema().property("roles", ArrayBuilder::new().items(scalar(FieldKind::Text))).required("roles"),
        )
        .schema("Login", strings(&["email", "password"]))
        .schema("Refresh", strings(&["refresh_token"]))
        .schema("TokenPair", token_pair_schema())
        .schema("Role", timestamps(strings(&["name"]).property("id", scalar(FieldKind::Uuid)).required("id"), false))
        .schema("RoleCreate", input_schema(&ROLES, Body::Create))
        .schema("RolePage", page_schema(&ROLES))
        .schema("RoleMember", ObjectBuilder::new().property("user_id", scalar(FieldKind::Uuid)).required("user_id"))
        .schema(
            "Organization",
            timestamps(strings(&["name"]).property("id", scalar(FieldKind::Uuid)).required("id"), true),
        )
        .schema("OrganizationCreate", input_schema(&ORGANIZATIONS, Body::Create))
        .schema("OrganizationPage", page_schema(&ORGANIZATIONS))
        .schema(
            "OrganizationMember",
            ObjectBuilder::new()
                .description(Some("The new member by `user_id` or by `email` (one of them), and its role"))
                .property("user_id", scalar(FieldKind::Uuid))
                .property("email", scalar(FieldKind::Text))
                .property("role", scalar(FieldKind::Enum(&["admin", "member"])))
                .required("role"),
        )
        .schema(
            "OrganizationMembership",
            ObjectBuilder::new()
                .property("user_id", scalar(FieldKind::Uuid))
                .property("role", scalar(FieldKind::Enum(&["admin", "member"])))
                .property("created_at", scalar(FieldKind::DateTime))
                .required("user_id")
                .required("role")
                .required("created_at"),
        )
        .schema("OrganizationMembershipPage", page_schema(&MEMBERS))
        .schema("TypeAclEntry", acl_entry_schema().property("resource", scalar(FieldKind::Text)).required("resource"))
        .schema(
            "TypeAclEntryCreate",
            ObjectBuilder::new()
                .property("resource", scalar(FieldKind::Text))
                .property("principal_id", scalar(FieldKind::Uuid))
                .property("effect", scalar(FieldKind::Enum(&["allow", "deny"])))
                .required("resource")
                .required("principal_id")
                .required("effect"),
        );
    let unauthorized = || problem("No valid access token", &[ProblemKind::Unauthorized]);
    let rate_limited = || problem("Too many attempts; see Retry-After", &[ProblemKind::RateLimited]);
    let bad_body = || problem("The body is invalid", &[ProblemKind::MalformedJson, ProblemKind::Validation]);
    let not_found = || problem("No such user, or not yours to see", &[ProblemKind::NotFound]);
    let forbidden = || problem("Not allowed", &[ProblemKind::Forbidden]);
    let components = components.schema("TypeAclEntryList", ArrayBuilder::new().items(schema_ref("TypeAclEntry")));
    let operations = [
        (
            "/users",
            HttpMethod::Post,
            "Register a user",
            Some("UserCreate"),
            ("201", Some("User")),
            false,
            vec![
                ("400", bad_body()),
                ("409", problem("The e-mail is registered", &[ProblemKind::Conflict])),
                ("429", rate_limited()),
            ],
        ),
        (
            "/users",
            HttpMethod::Get,
            "List users (superadmins: all; others: themselves)",
            None,
            ("200", Some("UserPage")),
            true,
            vec![("400", problem("The query is invalid", &[ProblemKind::InvalidQuery]))],
        ),
        (
            "/users/{id}",
            HttpMethod::Get,
            "Read a user (itself or a superadmin)",
            None,
            ("200", Some("User")),
            true,
            vec![("404", not_found())],
        ),
        (
            "/users/{id}",
            HttpMethod::Patch,
            "Change a user; a new password ends its other sessions",
            Some("UserPatch"),
            ("200", Some("User")),
            true,
            vec![
                ("400", bad_body()),
                ("404", not_found()),
                ("409", problem("The e-mail is registered", &[ProblemKind::Conflict])),
            ],
        ),
        ("/users/{id}", HttpMethod::Delete, "Delete a user", None, ("204", None), true, vec![("404", not_found())]),
        (
            "/login",
            HttpMethod::Post,
            "Start a session",
            Some("Login"),
            ("200", Some("TokenPair")),
            false,
            vec![
                ("400", bad_body()),
                ("401", problem("Unknown e-mail or wrong password", &[ProblemKind::Unauthorized])),
                ("429", rate_limited()),
            ],
        ),
        (
            "/refresh",
            HttpMethod::Post,
            "Trade a refresh token for a new pair; reuse ends the session",
            Some("Refresh"),
            ("200", Some("TokenPair")),
            false,
            vec![
                ("400", bad_body()),
                ("401", problem("The refresh token is invalid, expired or used", &[ProblemKind::Unauthorized])),
            ],
        ),
        ("/logout", HttpMethod::Post, "End every session of the caller", None, ("204", None), true, vec![]),
        (
            "/me",
            HttpMethod::Get,
            "The caller, with its roles and organizations",
            None,
            ("200", Some("Me")),
            true,
            vec![],
        ),
        (
            "/roles",
            HttpMethod::Post,
            "Create a role (superadmins)",
            Some("RoleCreate"),
            ("201", Some("Role")),
            true,
            vec![
                ("400", bad_body()),
                ("403", forbidden()),
                ("409", problem("The name is taken", &[ProblemKind::Conflict])),
            ],
        ),
        (
            "/roles",
            HttpMethod::Get,
            "List roles (superadmins)",
            None,
            ("200", Some("RolePage")),
            true,
            vec![("403", forbidden())],
        ),
        (
            "/roles/{id}",
            HttpMethod::Delete,
            "Delete a role (superadmins)",
            None,
            ("204", None),
            true,
            vec![
                ("403", forbidden()),
                ("404", problem("No such role", &[ProblemKind::NotFound])),
                ("409", problem("The superadmin role stays", &[ProblemKind::Conflict])),
            ],
        ),
        (
            "/roles/{id}/members",
            HttpMethod::Post,
            "Give a user the role (superadmins)",
            Some("RoleMember"),
            ("204", None),
            true,
            vec![
                ("400", bad_body()),
                ("403", forbidden()),
                ("404", problem("No such role or user", &[ProblemKind::NotFound])),
            ],
        ),
        (
            "/roles/{id}/members/{user_id}",
            HttpMethod::Delete,
            "Take the role from a user (superadmins)",
            None,
            ("204", None),
            true,
            vec![("403", forbidden()), ("404", problem("Not a member", &[ProblemKind::NotFound]))],
        ),
        (
            "/orgs",
            HttpMethod::Post,
            "Create an organization; the caller becomes its admin",
            Some("OrganizationCreate"),
            ("201", Some("Organization")),
            true,
            vec![("400", bad_body())],
        ),
        ("/orgs", HttpMethod::Get, "The caller's organizations", None, ("200", Some("OrganizationPage")), true, vec![]),
        (
            "/orgs/{id}",
            HttpMethod::Get,
            "Read an organization (members)",
            None,
            ("200", Some("Organization")),
            true,
            vec![("404", problem("No such organization, or not a member", &[ProblemKind::NotFound]))],
        ),
        (
            "/orgs/{id}",
            HttpMethod::Patch,
            "Rename an organization (org admins)",
            Some("OrganizationCreate"),
            ("200", Some("Organization")),
            true,
            vec![
                ("400", bad_body()),
                ("403", forbidden()),
                ("404", problem("No such organization, or not a member", &[ProblemKind::NotFound])),
            ],
        ),
        (
            "/orgs/{id}",
            HttpMethod::Delete,
            "Delete an organization with everything it owns (org admins)",
            None,
            ("204", None),
            true,
            vec![
                ("403", forbidden()),
                ("404", problem("No such organization, or not a member", &[ProblemKind::NotFound])),
            ],
        ),
        (
            "/orgs/{id}/members",
            HttpMethod::Get,
            "The members (org admins)",
            None,
            ("200", Some("OrganizationMembershipPage")),
            true,
            vec![
                ("400", problem("The query is invalid", &[ProblemKind::InvalidQuery])),
                ("403", forbidden()),
                ("404", problem("No such organization, or not a member", &[ProblemKind::NotFound])),
            ],
        ),
        (
            "/orgs/{id}/members",
            HttpMethod::Post,
            "Add a member by id or e-mail address, or change its role (org admins)",
            Some("OrganizationMember"),
            ("204", None),
            true,
            vec![
                ("400", bad_body()),
                ("403", forbidden()),
                ("404", problem("No such organization or user", &[ProblemKind::NotFound])),
                ("409", problem("The last admin stays", &[ProblemKind::Conflict])),
            ],
        ),
        (
            "/orgs/{id}/members/{user_id}",
            HttpMethod::Delete,
            "Remove a member (org admins), or leave (the member itself)",
            None,
            ("204", None),
            true,
            vec![
                ("403", forbidden()),
                ("404", problem("Not a member", &[ProblemKind::NotFound])),
                ("409", problem("The last admin stays", &[ProblemKind::Conflict])),
            ],
        ),
        (
            "/acl",
            HttpMethod::Post,
            "Add a type-wide entry, e.g. `Item.read` (the type's acl_admins)",
            Some("TypeAclEntryCreate"),
            ("201", Some("TypeAclEntry")),
            true,
            vec![("400", bad_body()), ("403", forbidden())],
        ),
        (
            "/acl",
            HttpMethod::Get,
            "The type-wide entries of the types the caller administers",
            None,
            ("200", Some("TypeAclEntryList")),
            true,
            vec![("403", forbidden())],
        ),
        (
            "/acl/{id}",
            HttpMethod::Delete,
            "Delete a type-wide entry (the type's acl_admins)",
            None,
            ("204", None),
            true,
            vec![("403", forbidden()), ("404", problem("No such entry", &[ProblemKind::NotFound]))],
        ),
    ];
    for (path, method, summary, body, (status, success), authenticated, problems) in operations {
        let mut operation = OperationBuilder::new().tag("Identity").summary(Some(summary));
        if let Some(body) = body {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json_content(schema_ref(body)))
                    .build(),
            ));
        }
        let mut response = ResponseBuilder::new().description(summary);
        if let Some(schema) = success {
            response = response.content("application/json", json_content(schema_ref(schema)));
        }
        operation = operation.response(status, response);
        for name in ["id", "user_id"].into_iter().filter(|name| path.contains(&format!("{{{name}}}"))) {
            operation = operation.parameter(uuid_parameter(name));
        }
        if path == "/users" && method == HttpMethod::Get {
            operation = operation.parameters(list_parameters(&USERS).build().parameters);
        }
        if authenticated {
            operation = operation
                .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
                .response("401", unauthorized());
        }
        for (status, response) in problems {
            operation = operation.response(status, response);
        }
        operation = operation.response("500", problem("The server failed", &[ProblemKind::Internal]));
        paths = paths.path(path, PathItem::new(method, operation.build()));
    }
    (paths, components)
}

/// A UUID path parameter.
pub(super) fn uuid_parameter(name: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(scalar(FieldKind::Uuid)))
        .build()
}

/// An entry on one object.
pub(super) fn acl_entry_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .property("id", scalar(FieldKind::Uuid))
        .property("principal_id", scalar(FieldKind::Uuid))
        .property("action", scalar(FieldKind::Text))
        .property("effect", scalar(FieldKind::Enum(&["allow", "deny"])))
        .required("id")
        .required("principal_id")
        .required("action")
        .required("effect")
}

fn timestamps(object: ObjectBuilder, updated: bool) -> ObjectBuilder {
    let object = object.property("created_at", field_schema(FieldKind::DateTime, false)).required("created_at");
    if updated {
        object.property("updated_at", field_schema(FieldKind::DateTime, false)).required("updated_at")
    } else {
        object
    }
}

fn user_schema() -> ObjectBuilder {
    let mut object = ObjectBuilder::new().description(Some(USERS.doc));
    for (name, kind, nullable) in [
        ("id", FieldKind::Uuid, false),
        ("email", FieldKind::Text, false),
        ("name", FieldKind::Text, true),
        ("created_at", FieldKind::DateTime, false),
        ("updated_at", FieldKind::DateTime, false),
    ] {
        object = object.property(name, field_schema(kind, nullable)).required(name);
    }
    object
}

fn strings(names: &[&str]) -> ObjectBuilder {
    names
        .iter()
        .fold(ObjectBuilder::new(), |object, name| object.property(*name, scalar(FieldKind::Text)).required(*name))
}

fn token_pair_schema() -> ObjectBuilder {
    strings(&["access_token", "token_type", "refresh_token"])
        .property("expires_in", scalar(FieldKind::Int64))
        .required("expires_in")
}
