//! The OpenAPI operation of a custom endpoint, from its description.

use fastsaas_core::{EndpointAccess, EndpointSpec, FieldKind, ProblemKind, ResourceSpec};
use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Required, Response, ResponseBuilder, Schema};

use super::{json_content, operation_key, problem, scalar, schema_ref};

/// A type's OpenAPI schema: its name, its schema, and the schemas it refers to.
pub struct TypeSchema {
    /// The name in `#/components/schemas`.
    pub name: String,
    /// The type's own schema.
    pub schema: RefOr<Schema>,
    /// The named schemas it refers to.
    pub referenced: Vec<(String, RefOr<Schema>)>,
}

impl std::fmt::Debug for TypeSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeSchema").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TypeSchema {
    /// The schema and those it refers to, named, for the document's components.
    pub(crate) fn components(&self) -> impl Iterator<Item = (String, RefOr<Schema>)> {
        std::iter::once((self.name.clone(), self.schema.clone())).chain(self.referenced.iter().cloned())
    }
}

/// The operation of the custom endpoint `endpoint` of `spec`, whose JSON
/// body and response have the schemas `request` and `response` if any.
pub(crate) fn endpoint_operation(
    spec: &ResourceSpec,
    endpoint: &EndpointSpec,
    request: Option<&TypeSchema>,
    response: Option<&TypeSchema>,
) -> Operation {
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
        .response("2XX", success(response))
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
                    .content("application/json", json_content(schema_of(request)))
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
    builder.build()
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
