//! The identity routes in the OpenAPI document: users, login, refresh,
//! logout, `/me`, and the bearer security scheme.

use fastsaas_core::{FieldKind, ProblemKind};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, PathItem, PathsBuilder, Required, ResponseBuilder};

use super::{field_schema, input_schema, json_content, list_parameters, page_schema, problem, scalar, schema_ref};
use crate::identity::USERS;

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
        .schema("UserCreate", input_schema(&USERS, true))
        .schema("UserPatch", input_schema(&USERS, false))
        .schema("UserPage", page_schema(&USERS))
        .schema(
            "Me",
            user_schema().property("roles", ArrayBuilder::new().items(scalar(FieldKind::Text))).required("roles"),
        )
        .schema("Login", strings(&["email", "password"]))
        .schema("Refresh", strings(&["refresh_token"]))
        .schema("TokenPair", token_pair_schema());
    let unauthorized = || problem("No valid access token", &[ProblemKind::Unauthorized]);
    let rate_limited = || problem("Too many attempts; see Retry-After", &[ProblemKind::RateLimited]);
    let bad_body = || problem("The body is invalid", &[ProblemKind::MalformedJson, ProblemKind::Validation]);
    let not_found = || problem("No such user, or not yours to see", &[ProblemKind::NotFound]);
    let id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(scalar(FieldKind::Uuid)))
        .build();
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
        ("/me", HttpMethod::Get, "The caller, with its roles", None, ("200", Some("Me")), true, vec![]),
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
        if path.contains("{id}") {
            operation = operation.parameter(id.clone());
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
