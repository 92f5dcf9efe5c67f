//! The OpenAPI operation of a custom endpoint, from its description.

use fastsaas_core::{EndpointAccess, EndpointMethod, FieldKind, ProblemKind, ResourceSpec};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Required, Response, ResponseBuilder, Schema};

use super::{json_content, operation_key, problem, scalar, schema_ref};
use crate::endpoints::{EndpointDoc, TypeSchema};

/// The path, method and operation of `documented` of `spec`.
pub(super) fn operation(spec: &ResourceSpec, documented: &EndpointDoc) -> (String, HttpMethod, Operation) {
    let endpoint = documented.spec;
    let method = match endpoint.method {
        EndpointMethod::Get => HttpMethod::Get,
        EndpointMethod::Post => HttpMethod::Post,
        EndpointMethod::Put => HttpMethod::Put,
        EndpointMethod::Patch => HttpMethod::Patch,
        EndpointMethod::Delete => HttpMethod::Delete,
    };
    let needs = match endpoint.access {
        EndpointAccess::Action(action) if endpoint.has_object() => {
            format!("Needs the `{action}` permission on the {} of the path.", spec.name)
        }
        EndpointAccess::Action(action) => format!("Needs a type-wide `{action}` permission on {}.", spec.name),
        EndpointAccess::SignedIn => "Open to anyone signed in.".to_owned(),
        EndpointAccess::Public => "Public: no credentials needed.".to_owned(),
    };
    let description = if endpoint.doc.is_empty() { needs } else { format!("{}\n\n{needs}", endpoint.doc) };
    let mut builder = OperationBuilder::new()
        .tag(spec.name)
        .operation_id(Some(format!("{}_{}", endpoint.function, operation_key(spec))))
        .summary((!endpoint.summary.is_empty()).then_some(endpoint.summary))
        .description(Some(description))
        .response("2XX", success(documented.response.as_ref()))
        .response("500", problem("The server failed", &[ProblemKind::Internal]));
    for param in endpoint.params {
        let schema = if param.is_id { scalar(FieldKind::Uuid) } else { scalar(FieldKind::Text) };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(param.name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    if endpoint.action().is_some() && !endpoint.has_object() {
        builder = builder.response("403", problem("Not allowed", &[ProblemKind::Forbidden]));
    }
    let mut bad_request = Vec::new();
    if endpoint.has_object() {
        bad_request.push(ProblemKind::InvalidId);
    }
    if endpoint.json_body {
        bad_request.extend([ProblemKind::MalformedJson, ProblemKind::Validation]);
    }
    if !bad_request.is_empty() {
        builder = builder.response("400", problem("The request is invalid", &bad_request));
    }
    if endpoint.has_object() && endpoint.action().is_some() {
        builder = builder.response("403", problem("Readable, but not allowed", &[ProblemKind::Forbidden])).response(
            "404",
            problem(&format!("No such {}, or the caller may not read it", spec.name), &[ProblemKind::NotFound]),
        );
    }
    if endpoint.json_body {
        builder = builder
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json_content(schema_of(documented.request.as_ref())))
                    .build(),
            ))
            .response("413", problem("The body is over the limit", &[ProblemKind::PayloadTooLarge]))
            .response("415", problem("The body is not JSON", &[ProblemKind::UnsupportedMediaType]));
    }
    if endpoint.needs_credentials() {
        builder = builder
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .response("401", problem("No valid access token", &[ProblemKind::Unauthorized]));
    }
    let path = format!("{}{}", spec.path, endpoint.path.trim_end_matches('/'));
    (path, method, builder.build())
}

/// A reference to the type's schema, or any JSON value when it has none.
fn schema_of(schema: Option<&TypeSchema>) -> RefOr<Schema> {
    match schema {
        Some(schema) => schema_ref(&schema.name),
        None => ObjectBuilder::new().schema_type(SchemaType::AnyValue).into(),
    }
}

/// The success response: JSON of the response type's schema when the
/// handler returns `Json<T>` of a `T: ToSchema`.
fn success(schema: Option<&TypeSchema>) -> Response {
    let response = ResponseBuilder::new().description("Success");
    match schema {
        Some(_) => response.content("application/json", json_content(schema_of(schema))).build(),
        None => response.build(),
    }
}
