//! The identity routes in the OpenAPI document (users, sessions, roles,
//! organizations, type-wide ACL entries), their schemas and the bearer
//! security scheme.

use fastsaas_core::ResourceSpec;
use fastsaas_core::{FieldKind, ProblemKind};
use utoipa::openapi::path::{Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Required, Response, ResponseBuilder};

use super::{
    Body, field_schema, input_schema, json_content, list_parameters, page_schema, problem, scalar, schema_ref,
};
use crate::identity::bodies::{MEMBERS, ORGANIZATIONS, ROLES, USERS};

/// The name of the security scheme of bearer access tokens.
const BEARER: &str = "bearer";

/// Adds the identity schemas and the bearer security scheme.
pub(super) fn components(components: ComponentsBuilder) -> ComponentsBuilder {
    components
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
        .schema("Login", closed(strings(&["email", "password"])))
        .schema("Refresh", closed(strings(&["refresh_token"])))
        .schema("TokenPair", token_pair_schema())
        .schema("Role", timestamps(strings(&["name"]).property("id", scalar(FieldKind::Uuid)).required("id"), false))
        .schema("RoleCreate", input_schema(&ROLES, Body::Create))
        .schema("RolePage", page_schema(&ROLES))
        .schema(
            "RoleMember",
            closed(ObjectBuilder::new().property("user_id", scalar(FieldKind::Uuid)).required("user_id")),
        )
        .schema(
            "Organization",
            timestamps(strings(&["name"]).property("id", scalar(FieldKind::Uuid)).required("id"), true),
        )
        .schema("OrganizationCreate", input_schema(&ORGANIZATIONS, Body::Create))
        .schema("OrganizationPage", page_schema(&ORGANIZATIONS))
        .schema("OrganizationMember", organization_member_schema())
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
        .schema("TypeAclEntryList", ArrayBuilder::new().items(schema_ref("TypeAclEntry")))
}

/// What an identity route's documentation says; the rest (401 and the
/// bearer scheme when signed in, the 500) is the same for all.
pub(crate) struct IdentityDoc<'a> {
    /// The `operationId`.
    pub(crate) id: &'a str,
    pub(crate) summary: &'a str,
    /// The schema of the JSON body, if the route takes one.
    pub(crate) body: Option<&'a str>,
    /// The success status and the schema of its JSON, if any.
    pub(crate) success: (&'a str, Option<&'a str>),
    /// Whether the route needs an access token.
    pub(crate) signed_in: bool,
    /// The paged list whose query parameters the route takes, if it is one.
    pub(crate) list: Option<&'a ResourceSpec>,
    pub(crate) problems: Vec<(&'a str, Response)>,
}

/// The operation of an identity route.
pub(crate) fn identity_operation(doc: IdentityDoc<'_>) -> Operation {
    let IdentityDoc { id, summary, body, success: (status, success), signed_in, list, problems } = doc;
    let mut operation = OperationBuilder::new().tag("Identity").operation_id(Some(id)).summary(Some(summary));
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
    if let Some(list) = list {
        operation = operation.parameters(list_parameters(list).build().parameters);
    }
    if signed_in {
        operation = operation
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
            .response("401", problem("No valid access token", &[ProblemKind::Unauthorized]));
    }
    for (status, response) in problems {
        operation = operation.response(status, response);
    }
    operation.build()
}

/// The operation of a framework route outside identity (notifications,
/// tasks): an identity route's, tagged `tag`, with `extra` query
/// parameters.
pub(crate) fn tagged_operation(tag: &str, doc: IdentityDoc<'_>, extra: Vec<Parameter>) -> Operation {
    let mut operation = identity_operation(doc);
    operation.tags = Some(vec![tag.to_owned()]);
    if !extra.is_empty() {
        operation.parameters.get_or_insert_with(Vec::new).extend(extra);
    }
    operation
}

/// An optional query parameter.
pub(crate) fn query_parameter(name: &str, kind: FieldKind, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(scalar(kind)))
        .build()
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

/// The new member by `user_id` or by `email` (exactly one), and its role.
fn organization_member_schema() -> OneOfBuilder {
    let by = |name: &str, kind: FieldKind| {
        closed(
            ObjectBuilder::new()
                .property(name, scalar(kind))
                .property("role", scalar(FieldKind::Enum(&["admin", "member"])))
                .required(name)
                .required("role"),
        )
    };
    OneOfBuilder::new()
        .description(Some("The new member by `user_id` or by `email` (exactly one), and its role"))
        .item(by("user_id", FieldKind::Uuid))
        .item(by("email", FieldKind::Text))
}

/// `object`, refusing members it does not name (as the server does).
fn closed(object: ObjectBuilder) -> ObjectBuilder {
    object.additional_properties(Some(AdditionalProperties::FreeForm(false)))
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
