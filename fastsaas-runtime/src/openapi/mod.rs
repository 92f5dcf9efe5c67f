//! The OpenAPI 3.1 description of the app, built from the resources'
//! [`ResourceSpec`]s: every route, each resource's record, create, patch and
//! page schemas, and the problem types each route can answer.

use fastsaas_core::error::PROBLEM_JSON;
use fastsaas_core::resource::TEMPLATES_TABLE;
use fastsaas_core::{Access, FieldKind, FieldSpec, Operation, ProblemKind, ResourceSpec, Rule};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};

mod endpoints;
mod identity;
mod notify;
mod tasks;

pub use endpoints::TypeSchema;
pub(crate) use endpoints::endpoint_operation;
pub(crate) use identity::{IdentityDoc, identity_operation, query_parameter, tagged_operation};

use crate::body::FRAMEWORK_COLUMNS;
use crate::query::{DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE};
use crate::route_table::RouteDoc;

/// The OpenAPI document of an app serving `resources` with the routes
/// `docs` describe.
pub(crate) fn document<'a>(
    resources: &[&ResourceSpec],
    docs: impl IntoIterator<Item = &'a RouteDoc>,
) -> serde_json::Value {
    let mut paths = PathsBuilder::new();
    let mut components =
        ComponentsBuilder::new().schema("Problem", problem_schema()).schema("FieldError", field_error_schema());
    for doc in docs {
        let method = http_method(&doc.method);
        paths = paths.path(doc.path.trim_end_matches('/'), PathItem::new(method, completed(doc)));
        components = components.schemas_from_iter(doc.schemas.iter().cloned());
    }
    for resource in resources {
        let templates = resource.templates.map(|templates| (templates, Some(*resource)));
        for (spec, templated) in std::iter::once((*resource, None)).chain(templates) {
            // A template's params are values of the templated type's fields.
            let params = |schema: ObjectBuilder| match templated {
                Some(templated) => schema.property("params", schema_ref(&params_name(templated))),
                None => schema,
            };
            components = components
                .schema(spec.name, params(record_schema(spec)))
                .schema(format!("{}Create", spec.name), params(input_schema(spec, Body::Create)))
                .schema(format!("{}Replace", spec.name), params(input_schema(spec, Body::Replace)))
                .schema(format!("{}Patch", spec.name), params(input_schema(spec, Body::Patch)))
                .schema(format!("{}Page", spec.name), page_schema(spec));
        }
        if resource.templates.is_some() {
            components = components
                .schema(params_name(resource), params_schema(resource, Access::ReadWrite))
                .schema(overrides_name(resource), overrides_schema(resource));
        }
    }
    let components = components
        .schema("AclEntry", identity::acl_entry_schema())
        .schema("AclEntryList", ArrayBuilder::new().items(schema_ref("AclEntry")))
        .schema(
            "AclCheck",
            ObjectBuilder::new()
                .description(Some("A decision and the step of the access rules that made it"))
                .property("allowed", scalar(FieldKind::Bool))
                .property(
                    "rule",
                    scalar(FieldKind::Enum(&[
                        "allow_always",
                        "deny_entry",
                        "owner",
                        "organization_admin",
                        "organization_member",
                        "allow_entry",
                        "acl_admin",
                        "no_rule",
                    ])),
                )
                .property("entry", field_schema(FieldKind::Uuid, true))
                .property("principal_id", scalar(FieldKind::Uuid))
                .property("action", scalar(FieldKind::Text))
                .required("allowed")
                .required("rule")
                .required("entry"),
        );
    let components = components
        .schema(
            "NewApiKey",
            ObjectBuilder::new()
                .property("id", scalar(FieldKind::Uuid))
                .property("key", scalar(FieldKind::Text))
                .property("created_at", scalar(FieldKind::DateTime))
                .required("id")
                .required("key")
                .required("created_at"),
        )
        .schema(
            "ApiKey",
            ObjectBuilder::new()
                .property("id", scalar(FieldKind::Uuid))
                .property("created_at", scalar(FieldKind::DateTime))
                .property("last_used_at", field_schema(FieldKind::DateTime, true))
                .required("id")
                .required("created_at")
                .required("last_used_at"),
        )
        .schema("ApiKeyList", ArrayBuilder::new().items(schema_ref("ApiKey")));
    let components = tasks::components(notify::components(identity::components(components)));
    let openapi = OpenApiBuilder::new()
        .info(InfoBuilder::new().title("FastSaaS API").version(env!("CARGO_PKG_VERSION")).build())
        .paths(paths.build())
        .components(Some(components.build()))
        .build();
    serde_json::to_value(openapi).unwrap_or_default()
}

/// The route's operation with what every operation shows: a tag, each path
/// parameter (a UUID unless the route describes it), the answers the
/// framework gives before any handler runs (400 for a path id that is not
/// a UUID; for a JSON body, 400, 413 and 415), and the 500.
fn completed(doc: &RouteDoc) -> utoipa::openapi::path::Operation {
    let mut operation = doc.operation.clone();
    if operation.tags.is_none() {
        let first = doc.path.trim_start_matches('/').split('/').next().unwrap_or_default();
        operation.tags = Some(vec![first.to_owned()]);
    }
    let declared: Vec<String> = operation
        .parameters
        .iter()
        .flatten()
        .filter(|param| param.parameter_in == ParameterIn::Path)
        .map(|param| param.name.clone())
        .collect();
    let missing: Vec<_> = doc
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .filter(|name| !declared.iter().any(|declared| declared == name))
        .map(identity::uuid_parameter)
        .collect();
    if !missing.is_empty() {
        operation.parameters.get_or_insert_with(Vec::new).extend(missing);
    }
    let takes_ids = operation.parameters.iter().flatten().any(|param| {
        param.parameter_in == ParameterIn::Path
            && serde_json::to_value(&param.schema).is_ok_and(|schema| schema["format"] == "uuid")
    });
    let takes_json = operation.request_body.is_some();
    if let Some(body) = &mut operation.request_body {
        body.required = Some(Required::True);
    }
    let responses = &mut operation.responses.responses;
    if responses.is_empty() {
        responses.insert("2XX".to_owned(), RefOr::T(ResponseBuilder::new().description("Success").build()));
    }
    if takes_ids {
        add_problem(responses, "400", "The request is invalid", &[ProblemKind::InvalidId]);
    }
    if takes_json {
        add_problem(responses, "400", "The request is invalid", &[ProblemKind::MalformedJson, ProblemKind::Validation]);
        add_problem(responses, "413", "The body is over the limit", &[ProblemKind::PayloadTooLarge]);
        add_problem(responses, "415", "The body is not JSON", &[ProblemKind::UnsupportedMediaType]);
    }
    add_problem(responses, "500", "The server failed", &[ProblemKind::Internal]);
    operation
}

/// Documents that `status` may answer problems of `kinds`: a new response,
/// or the kinds it lacks added to the one documented.
fn add_problem(
    responses: &mut std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>>,
    status: &str,
    description: &str,
    kinds: &[ProblemKind],
) {
    let Some(RefOr::T(documented)) = responses.get_mut(status) else {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(problem(description, kinds)));
        return;
    };
    let missing: Vec<&str> =
        kinds.iter().map(|kind| kind.type_uri()).filter(|uri| !documented.description.contains(uri)).collect();
    if missing.is_empty() {
        return;
    }
    documented.description = match documented.description.strip_suffix(')') {
        Some(listed) if listed.contains("(problem type: ") => format!("{listed}, {})", missing.join(", ")),
        _ => format!("{} (problem type: {})", documented.description, missing.join(", ")),
    };
}

fn http_method(method: &http::Method) -> HttpMethod {
    match *method {
        http::Method::POST => HttpMethod::Post,
        http::Method::PUT => HttpMethod::Put,
        http::Method::PATCH => HttpMethod::Patch,
        http::Method::DELETE => HttpMethod::Delete,
        http::Method::HEAD => HttpMethod::Head,
        http::Method::OPTIONS => HttpMethod::Options,
        http::Method::TRACE => HttpMethod::Trace,
        _ => HttpMethod::Get,
    }
}

/// The operation of a built-in CRUD route of `spec`: `op`, by `method`
/// (an update is a PATCH or a PUT).
pub(crate) fn crud_operation(
    spec: &ResourceSpec,
    op: Operation,
    method: &http::Method,
) -> utoipa::openapi::path::Operation {
    let name = spec.name;
    let (summary, builder) = match op {
        Operation::Create => (format!("Create a {name}"), with_body(spec, Body::Create)),
        Operation::Read => (format!("Read a {name}"), with_expand(OperationBuilder::new(), spec)),
        Operation::Update if method == http::Method::PUT => {
            (format!("Replace every writable field of a {name}"), with_body(spec, Body::Replace))
        }
        Operation::Update => (format!("Change some fields of a {name}"), with_body(spec, Body::Patch)),
        Operation::Delete => (format!("Delete a {name}"), OperationBuilder::new()),
        Operation::List => (format!("List {name} records"), with_expand(list_parameters(spec), spec)),
        Operation::Clear => (format!("Delete every {name}"), OperationBuilder::new()),
    };
    let mut builder = finish_operation(spec, op, builder).summary(Some(summary));
    if method == http::Method::PUT {
        builder = builder.operation_id(Some(format!("replace_{}", operation_key(spec))));
    }
    builder.build()
}

/// The operation of a nested route of `child` under `parent`
/// ([`crate::nested`]): `op`, a list or a create, of the child's, under
/// the parent's `{id}`.
pub(crate) fn nested_operation(
    child: &ResourceSpec,
    parent: &ResourceSpec,
    op: Operation,
) -> utoipa::openapi::path::Operation {
    let method = if op == Operation::Create { http::Method::POST } else { http::Method::GET };
    let mut operation = crud_operation(child, op, &method);
    let (name, of) = (child.name, parent.name);
    operation.summary = Some(match op {
        Operation::Create => format!("Create a {name} of a {of} (its reference set from the path)"),
        _ => format!("List the {name} records of a {of}"),
    });
    operation.operation_id = Some(format!("{}_{}_of_{}", op.as_str(), operations_key(child), operation_key(parent)));
    let parent_id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!("The {of}")))
        .schema(Some(scalar(FieldKind::Uuid)))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).insert(0, parent_id);
    let missing = problem(&format!("No such {of}, or the caller may not read it"), &[ProblemKind::NotFound]);
    operation.responses.responses.insert("404".to_owned(), RefOr::T(missing));
    operation
}

/// What every route on one object of `name` shares: its tag and summary,
/// the `{id}` parameter, the bearer scheme, 401, and the 404 that hides
/// objects the caller may not read.
fn on_object(builder: OperationBuilder, name: &str, summary: String) -> OperationBuilder {
    builder
        .tag(name)
        .summary(Some(summary))
        .parameter(identity::uuid_parameter("id"))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .response("401", problem("No valid access token", &[ProblemKind::Unauthorized]))
        .response("404", problem(&format!("No such {name}, or the caller may not read it"), &[ProblemKind::NotFound]))
}

/// The API-key routes of an authenticated resource.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyRoute {
    /// `POST {scope}/{id}/keys`
    Issue,
    /// `GET {scope}/{id}/keys`
    List,
    /// `DELETE {scope}/{id}/keys/{key_id}`
    Revoke,
}

/// The operation of an API-key route of `spec`.
pub(crate) fn key_operation(spec: &ResourceSpec, route: KeyRoute) -> utoipa::openapi::path::Operation {
    let name = spec.name;
    let secured = |summary: String, id: &str| {
        on_object(OperationBuilder::new(), name, summary)
            .operation_id(Some(id.replace("{}", &operation_key(spec))))
            .response("403", problem("Readable, but not the caller's to manage", &[ProblemKind::Forbidden]))
    };
    let json = |description: &str, schema: &str| {
        ResponseBuilder::new().description(description).content("application/json", json_content(schema_ref(schema)))
    };
    match route {
        KeyRoute::Issue => {
            secured(format!("Issue an API key for a {name}; the key is shown only here"), "issue_{}_key")
                .response("201", json("The key", "NewApiKey"))
        }
        KeyRoute::List => secured(format!("The API keys of a {name}, without the keys"), "list_{}_keys")
            .response("200", json("The keys", "ApiKeyList")),
        KeyRoute::Revoke => secured(format!("Revoke an API key of a {name}"), "revoke_{}_key")
            .parameter(identity::uuid_parameter("key_id"))
            .response("204", ResponseBuilder::new().description("Revoked")),
    }
    .build()
}

/// The per-object ACL routes of a resource.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AclRoute {
    /// `GET {scope}/{id}/acl`
    List,
    /// `POST {scope}/{id}/acl`
    Add,
    /// `DELETE {scope}/{id}/acl/{entry_id}`
    Remove,
    /// `GET {scope}/{id}/acl/check`
    Check,
}

/// The operation of a per-object ACL route of `spec`, whose entries may
/// name `actions`.
pub(crate) fn acl_operation(
    spec: &ResourceSpec,
    route: AclRoute,
    actions: &[&'static str],
) -> utoipa::openapi::path::Operation {
    let name = spec.name;
    let secured = |builder: OperationBuilder, summary: String, id: &str| {
        on_object(builder, name, summary)
            .operation_id(Some(id.replace("{}", &operation_key(spec))))
            .response("403", problem("Readable, but not the caller's to manage", &[ProblemKind::Forbidden]))
    };
    let json = |status: &str, description: &str, schema: &str| {
        ResponseBuilder::new()
            .description(format!("{status}: {description}"))
            .content("application/json", json_content(schema_ref(schema)))
    };
    let query = |param: &str, required: Required, description: &str, schema: RefOr<Schema>| {
        ParameterBuilder::new()
            .name(param)
            .parameter_in(ParameterIn::Query)
            .required(required)
            .description(Some(description))
            .schema(Some(schema))
    };
    match route {
        AclRoute::List => secured(OperationBuilder::new(), format!("The entries of a {name}"), "list_{}_acl")
            .response("200", json("200", "the entries", "AclEntryList")),
        AclRoute::Add => {
            let body = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", json_content(schema_ref(&acl_entry_create_name(spec))))
                .build();
            secured(
                OperationBuilder::new().request_body(Some(body)),
                format!("Add an entry to a {name}"),
                "add_{}_acl_entry",
            )
            .response("201", json("201", "the entry", "AclEntry"))
            .response("400", problem("The body is invalid", &[ProblemKind::MalformedJson, ProblemKind::Validation]))
        }
        AclRoute::Remove => {
            secured(OperationBuilder::new(), format!("Delete an entry of a {name}"), "remove_{}_acl_entry")
                .parameter(identity::uuid_parameter("entry_id"))
                .response("204", ResponseBuilder::new().description("Deleted"))
        }
        AclRoute::Check => {
            secured(OperationBuilder::new(), format!("Explain whether a principal may act on a {name}"), "check_{}_acl")
                .parameter(query("action", Required::True, "The action to decide", one_of(actions)))
                .parameter(query(
                    "principal_id",
                    Required::False,
                    "Who asks (default: the caller)",
                    scalar(FieldKind::Uuid),
                ))
                .response("200", json("200", "the decision and the rule that made it", "AclCheck"))
                .response("400", problem("The query is invalid", &[ProblemKind::InvalidQuery]))
        }
    }
    .build()
}

/// A string that is one of `values`.
fn one_of(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).into()
}

/// The name of the schema of a new entry on an object of `spec`.
fn acl_entry_create_name(spec: &ResourceSpec) -> String {
    format!("{}AclEntryCreate", spec.name)
}

/// The schema of a new entry on an object of `spec`, whose entries may
/// name `actions`.
pub(crate) fn acl_entry_create_schema(spec: &ResourceSpec, actions: &[&'static str]) -> (String, RefOr<Schema>) {
    let schema = ObjectBuilder::new()
        .property("principal_id", scalar(FieldKind::Uuid))
        .property("action", one_of(actions))
        .property("effect", scalar(FieldKind::Enum(&["allow", "deny"])))
        .required("principal_id")
        .required("action")
        .required("effect")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    (acl_entry_create_name(spec), schema.into())
}

/// The schema of a new type-wide entry, whose `resource` is one of
/// `resources` (`Type.action`).
pub(crate) fn type_acl_entry_create_schema(resources: Vec<String>) -> (String, RefOr<Schema>) {
    let schema = ObjectBuilder::new()
        .property("resource", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(resources)))
        .property("principal_id", scalar(FieldKind::Uuid))
        .property("effect", scalar(FieldKind::Enum(&["allow", "deny"])))
        .required("resource")
        .required("principal_id")
        .required("effect")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    ("TypeAclEntryCreate".to_owned(), schema.into())
}

/// `GET /healthz` (`ready: false`) or `GET /readyz` (`ready: true`).
pub(crate) fn health_operation(ready: bool) -> utoipa::openapi::path::Operation {
    let health = |status: &str| -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("status", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([status])))
            .required("status")
            .into()
    };
    let operation = OperationBuilder::new().tag("Operations");
    if ready {
        operation
            .operation_id(Some("readyz"))
            .summary(Some("Whether the database answers, so the replica can serve traffic"))
            .response(
                "200",
                ResponseBuilder::new().description("Ready").content("application/json", json_content(health("ready"))),
            )
            .response("503", problem("The database does not answer", &[ProblemKind::Unavailable]))
    } else {
        operation.operation_id(Some("healthz")).summary(Some("Whether the process serves requests")).response(
            "200",
            ResponseBuilder::new().description("Alive").content("application/json", json_content(health("ok"))),
        )
    }
    .build()
}

/// `GET /openapi.json`.
pub(crate) fn document_operation() -> utoipa::openapi::path::Operation {
    OperationBuilder::new()
        .tag("Operations")
        .operation_id(Some("openapi"))
        .summary(Some("This document"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI 3.1 document")
                .content("application/json", json_content(ObjectBuilder::new().schema_type(Type::Object).into())),
        )
        .build()
}

/// `GET /metrics`.
pub(crate) fn metrics_operation() -> utoipa::openapi::path::Operation {
    OperationBuilder::new()
        .tag("Operations")
        .operation_id(Some("metrics"))
        .summary(Some("The app's metrics, for Prometheus"))
        .description(Some(
            "Needs `FASTSAAS_METRICS_TOKEN` as the bearer token, or a user holding the role \
             `FASTSAAS_METRICS_ROLE` (default `metrics`), or a superadmin; `FASTSAAS_METRICS_BIND` \
             serves it openly on a second address.",
        ))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .response(
            "200",
            ResponseBuilder::new().description("The OpenMetrics text format").content(
                "application/openmetrics-text",
                ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
            ),
        )
        .response("401", problem("No valid access token", &[ProblemKind::Unauthorized]))
        .response("403", problem("The caller lacks the metrics role", &[ProblemKind::Forbidden]))
        .build()
}

/// `GET /docs`.
pub(crate) fn docs_operation() -> utoipa::openapi::path::Operation {
    OperationBuilder::new()
        .tag("Operations")
        .operation_id(Some("docs"))
        .summary(Some("Interactive documentation (Swagger UI) of this document"))
        .response(
            "200",
            ResponseBuilder::new().description("The page, at `/docs/`").content(
                "text/html",
                ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
            ),
        )
        .response("308", ResponseBuilder::new().description("`/docs` redirects to `/docs/`"))
        .build()
}

/// What names one object of a type in operation ids: its name in snake
/// case (`agent`, `agent_template`).
fn operation_key(spec: &ResourceSpec) -> String {
    let mut key = String::new();
    for (index, c) in spec.name.char_indices() {
        if c.is_uppercase() && index > 0 {
            key.push('_');
        }
        key.extend(c.to_lowercase());
    }
    key
}

/// What names many objects of a type in operation ids: its table
/// (`agents`), or for templates, which share one table, the key plus `s`.
fn operations_key(spec: &ResourceSpec) -> String {
    if spec.table == TEMPLATES_TABLE { format!("{}s", operation_key(spec)) } else { spec.table.to_owned() }
}

/// The routes templates have beyond CRUD.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TemplateRoute {
    /// `GET {scope}/templates/{id}/resolved`
    Resolved,
    /// `POST {scope}/templates/{id}/clone`
    Clone,
}

/// The operation of a template route of `spec`, whose templates are `templates`.
pub(crate) fn template_operation(
    spec: &ResourceSpec,
    templates: &ResourceSpec,
    route: TemplateRoute,
) -> utoipa::openapi::path::Operation {
    let (name, template) = (spec.name, templates.name);
    let common = |summary: String, id: &str| {
        on_object(OperationBuilder::new(), template, summary)
            .operation_id(Some(id.replace("{}", &operation_key(templates))))
            .response("400", problem("The id is not a UUID", &[ProblemKind::InvalidId]))
            .response(
                "403",
                problem(&format!("The caller may no longer read a {template} of the chain"), &[ProblemKind::Forbidden]),
            )
    };
    match route {
        TemplateRoute::Resolved => {
            common(format!("The params of a {template} with its parents', deep-merged root first"), "resolve_{}").response(
                "200",
                ResponseBuilder::new()
                    .description("The merged values")
                    .content("application/json", json_content(schema_ref(&format!("{name}Patch")))),
            )
        }
        TemplateRoute::Clone => {
            let overrides = RequestBodyBuilder::new()
                .description(Some(format!(
                    "Values of {name} fields (shaped like a PATCH body, plus `owner_id`), deep-merged over the resolved params"
                )))
                .content("application/json", json_content(schema_ref(&overrides_name(spec))))
                .build();
            common(format!("Create a {name} from a {template}"), "clone_{}")
                .description(Some(
                    "Needs `read` on the template and `create` on the type; the merged values are validated as a create. \
                     Later changes to the template do not change the clone.",
                ))
                .request_body(Some(overrides))
                .response(
                    "201",
                    ResponseBuilder::new()
                        .description(format!("The new {name}, with its URL in `Location`"))
                        .content("application/json", json_content(schema_ref(name))),
                )
                .response(
                    "400",
                    problem(
                        "The merged values are not a valid create",
                        &[ProblemKind::InvalidId, ProblemKind::MalformedJson, ProblemKind::Validation],
                    ),
                )
                .response(
                    "403",
                    problem(
                        &format!("The caller may not create this, or may no longer read a {template} of the chain"),
                        &[ProblemKind::Forbidden],
                    ),
                )
                .response("415", problem("The body is not JSON", &[ProblemKind::UnsupportedMediaType]))
        }
    }
    .build()
}

/// Whether `op` acts on one object (`/items/{id}`) rather than the collection.
fn is_item_operation(op: Operation) -> bool {
    matches!(op, Operation::Read | Operation::Update | Operation::Delete)
}

/// Adds what every operation of `op`'s kind shares: tag, id parameter,
/// success response and the problem responses.
fn finish_operation(spec: &ResourceSpec, op: Operation, mut builder: OperationBuilder) -> OperationBuilder {
    let on_item = is_item_operation(op);
    let name = spec.name;
    builder = builder
        .tag(name)
        .operation_id(Some(match op {
            Operation::List | Operation::Clear => format!("{}_{}", op.as_str(), operations_key(spec)),
            _ => format!("{}_{}", op.as_str(), operation_key(spec)),
        }))
        .description((!spec.doc.is_empty()).then_some(spec.doc));
    if on_item {
        builder = builder
            .parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(scalar(FieldKind::Uuid))),
            )
            .response("404", problem(&format!("No such {name}"), &[ProblemKind::NotFound]));
    }
    builder = match op {
        Operation::Read | Operation::Update => builder.response(
            "200",
            ResponseBuilder::new()
                .description(format!("The {name}"))
                .content("application/json", json_content(schema_ref(name))),
        ),
        Operation::Delete => builder.response("204", ResponseBuilder::new().description("Deleted")),
        Operation::List => builder.response(
            "200",
            ResponseBuilder::new()
                .description(format!("A page of {name} records"))
                .content("application/json", json_content(schema_ref(&format!("{name}Page")))),
        ),
        Operation::Clear => builder.response(
            "200",
            ResponseBuilder::new().description("How many were deleted").content(
                "application/json",
                json_content(
                    ObjectBuilder::new().property("deleted", scalar(FieldKind::Int64)).required("deleted").into(),
                ),
            ),
        ),
        Operation::Create => builder.response(
            "201",
            ResponseBuilder::new()
                .description(format!("The new {name}, with its URL in `Location`"))
                .content("application/json", json_content(schema_ref(name))),
        ),
    };
    let mut bad_request = Vec::new();
    if on_item {
        bad_request.push(ProblemKind::InvalidId);
    }
    match op {
        Operation::Create | Operation::Update => {
            bad_request.extend([ProblemKind::MalformedJson, ProblemKind::Validation]);
            builder = builder
                .response("409", problem("A unique field is taken", &[ProblemKind::Conflict]))
                .response("413", problem("The body is over the limit", &[ProblemKind::PayloadTooLarge]))
                .response("415", problem("The body is not JSON", &[ProblemKind::UnsupportedMediaType]));
        }
        Operation::List => bad_request.push(ProblemKind::InvalidQuery),
        _ => {}
    }
    if !bad_request.is_empty() {
        builder = builder.response("400", problem("The request is invalid", &bad_request));
    }
    if !matches!(op, Operation::Read | Operation::List) {
        builder = builder.response("403", problem("Not allowed", &[ProblemKind::Forbidden]));
    }
    if spec.table == TEMPLATES_TABLE && matches!(op, Operation::Create | Operation::Update) {
        let missing = if on_item { format!("No such {name}, or no such parent") } else { "No such parent".to_owned() };
        builder = builder.response(
            "404",
            problem(&format!("{missing} (`parent_id`), or the caller may not read it"), &[ProblemKind::NotFound]),
        );
    }
    builder
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .response("401", problem("No valid access token", &[ProblemKind::Unauthorized]))
        .response("405", problem("The operation is disabled", &[ProblemKind::MethodNotAllowed]))
        .response("500", problem("The server failed", &[ProblemKind::Internal]))
}

fn with_body(spec: &ResourceSpec, body: Body) -> OperationBuilder {
    let suffix = match body {
        Body::Create => "Create",
        Body::Replace => "Replace",
        Body::Patch => "Patch",
    };
    let schema = format!("{}{suffix}", spec.name);
    OperationBuilder::new().request_body(Some(
        RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", json_content(schema_ref(&schema)))
            .build(),
    ))
}

fn list_parameters(spec: &ResourceSpec) -> OperationBuilder {
    let query = |name: &str, schema: RefOr<Schema>, description: String| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema))
    };
    let bounded = |min: u64, max: u64, default: u64| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min as f64))
            .maximum(Some(max as f64))
            .default(Some(default.into()))
            .into()
    };
    let mut builder = OperationBuilder::new()
        .parameter(query("page", bounded(1, MAX_PAGE, 1), "The 1-based page".into()))
        .parameter(query("page_size", bounded(1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE), "Rows per page".into()))
        .parameter(query("total", scalar(FieldKind::Bool), "`false` omits `total`, which costs a count".into()))
        .parameter(query(
            "after",
            scalar(FieldKind::Text),
            "The `next` cursor of a page: the page after it, as cheap as the first at any depth (not with `page`; \
             400 for a cursor of another sort or filter, or one that was altered)"
                .into(),
        ));
    let sortable: Vec<String> = spec
        .fields
        .iter()
        .filter(|field| field.sort)
        .flat_map(|field| [field.name.to_owned(), format!("-{}", field.name)])
        .collect();
    if !sortable.is_empty() {
        let schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(sortable)).into();
        builder = builder.parameter(query("sort", schema, "A field, ascending; prefixed by `-`, descending".into()));
    }
    for field in spec.fields.iter().filter(|field| field.filter) {
        builder = builder.parameter(query(
            field.name,
            scalar(field.kind),
            format!("Only rows whose `{}` equals this", field.name),
        ));
    }
    builder
}

/// A problem+json response of `kinds`, described.
pub(crate) fn problem(description: &str, kinds: &[ProblemKind]) -> utoipa::openapi::Response {
    let types: Vec<&str> = kinds.iter().map(|kind| kind.type_uri()).collect();
    ResponseBuilder::new()
        .description(format!("{description} (problem type: {})", types.join(", ")))
        .content(PROBLEM_JSON, json_content(schema_ref("Problem")))
        .build()
}

/// The 403 of a route the caller may not use.
pub(crate) fn forbidden() -> (&'static str, utoipa::openapi::Response) {
    ("403", problem("Not allowed", &[ProblemKind::Forbidden]))
}

/// The 429 of a route with a rate limit.
pub(crate) fn rate_limited() -> utoipa::openapi::Response {
    problem("Too many attempts; see Retry-After", &[ProblemKind::RateLimited])
}

fn problem_schema() -> ObjectBuilder {
    let types: Vec<&str> = ProblemKind::ALL.iter().map(|kind| kind.type_uri()).collect();
    ObjectBuilder::new()
        .description(Some("An RFC 9457 problem; `type` identifies the kind of error"))
        .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(types)))
        .property("title", scalar(FieldKind::Text))
        .property("status", scalar(FieldKind::Int32))
        .property("detail", scalar(FieldKind::Text))
        .property("errors", ArrayBuilder::new().items(schema_ref("FieldError")))
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
}

fn field_error_schema() -> ObjectBuilder {
    let codes = ["wrong_type", "missing", "unknown", "read_only", "not_nullable", "invalid"];
    ObjectBuilder::new()
        .property("field", scalar(FieldKind::Text))
        .property("code", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes)))
        .property("message", scalar(FieldKind::Text))
        .required("field")
        .required("code")
        .required("message")
}

/// The references of `spec` that `?expand=` may embed: (name, target).
fn expandable(spec: &ResourceSpec) -> Vec<(&'static str, &'static ResourceSpec)> {
    spec.fields
        .iter()
        .filter_map(|field| {
            field.reference.filter(|reference| reference.expand).map(|r| (field.expansion(), (r.target)()))
        })
        .collect()
}

/// `builder` with the `expand` parameter, if `spec` has references to expand.
fn with_expand(builder: OperationBuilder, spec: &ResourceSpec) -> OperationBuilder {
    let names: Vec<&str> = expandable(spec).into_iter().map(|(name, _)| name).collect();
    if names.is_empty() {
        return builder;
    }
    builder.parameter(
        ParameterBuilder::new()
            .name("expand")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(format!(
                "References to embed under `expand`, comma-separated, from: {} (one the caller cannot read is left out)",
                names.join(", ")
            )))
            .schema(Some(scalar(FieldKind::Text))),
    )
}

fn record_schema(spec: &ResourceSpec) -> ObjectBuilder {
    let mut object = ObjectBuilder::new().description((!spec.doc.is_empty()).then_some(spec.doc));
    for (name, kind, nullable) in
        [(FRAMEWORK_COLUMNS[0], FieldKind::Uuid, false), (FRAMEWORK_COLUMNS[1], FieldKind::Uuid, true)]
    {
        object = object.property(name, read_only(field_schema(kind, nullable))).required(name);
    }
    for field in spec.fields.iter().filter(|field| field.access.is_readable()) {
        object = object.property(field.name, value_schema(field, Place::Record)).required(field.name);
    }
    for name in &FRAMEWORK_COLUMNS[2..4] {
        object = object.property(*name, read_only(field_schema(FieldKind::DateTime, false))).required(*name);
    }
    let expandable = expandable(spec);
    if !expandable.is_empty() {
        let mut embedded = ObjectBuilder::new()
            .description(Some("With `?expand=`: the objects the references name, those the caller may read"));
        for (name, target) in expandable {
            embedded = embedded.property(name, schema_ref(target.name));
        }
        object = object.property("expand", embedded);
    }
    if spec.templates.is_some() {
        let template_id = read_only(field_schema(FieldKind::Uuid, true))
            .description(Some("The template this record was cloned from; null if it was not"));
        object = object.property(FRAMEWORK_COLUMNS[4], template_id).required(FRAMEWORK_COLUMNS[4]);
    }
    object
}

/// Which body of a resource a schema describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// A create: every required field.
    Create,
    /// A PUT: every required field but the write-only ones, which a PUT
    /// that leaves them out keeps.
    Replace,
    /// A PATCH: any subset.
    Patch,
}

impl Body {
    fn requires(self, field: &FieldSpec) -> bool {
        match self {
            Body::Create => field.is_required_on_create(),
            Body::Replace => field.is_required_on_create() && field.access != Access::WriteOnly,
            Body::Patch => false,
        }
    }
}

fn input_schema(spec: &ResourceSpec, body: Body) -> ObjectBuilder {
    let mut object = ObjectBuilder::new().additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for field in spec.fields.iter().filter(|field| field.access.is_writable()) {
        object = object.property(field.name, value_schema(field, Place::Body));
        if body.requires(field) {
            object = object.required(field.name);
        }
    }
    object
}

/// The name of the schema of the params of `spec`'s templates.
fn params_name(spec: &ResourceSpec) -> String {
    format!("{}TemplateParams", spec.name)
}

/// The name of the schema of a clone's body for `spec`.
fn overrides_name(spec: &ResourceSpec) -> String {
    format!("{}CloneOverrides", spec.name)
}

/// The params of a template of `spec` (`access` `ReadWrite`: write-only
/// values are not kept where others may read them) or the overrides of a
/// clone (`WriteOnly`: any writable field): values of its fields, each
/// optional and checked by its rules; `null` removes a value of the chain.
fn params_schema(spec: &ResourceSpec, access: Access) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .description(Some(format!(
            "Values of {} fields, each optional; `null` removes a value of the chain",
            spec.name
        )))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let kept = |field: &&FieldSpec| {
        field.access == Access::ReadWrite || (access == Access::WriteOnly && field.access == Access::WriteOnly)
    };
    for field in spec.fields.iter().filter(kept) {
        let nullable = field.with_nullable(true);
        object = object.property(field.name, value_schema(&nullable, Place::Body));
    }
    object
}

/// A clone's body: values of `spec`'s fields deep-merged over the
/// template's params, and the new object's owner.
fn overrides_schema(spec: &ResourceSpec) -> ObjectBuilder {
    let owner = field_schema(FieldKind::Uuid, true)
        .description(Some("The owner of the new object: the caller (default) or an organization it administers"));
    params_schema(spec, Access::WriteOnly).property(FRAMEWORK_COLUMNS[1], owner)
}

fn page_schema(spec: &ResourceSpec) -> ObjectBuilder {
    ObjectBuilder::new()
        .property("items", ArrayBuilder::new().items(schema_ref(spec.name)))
        .property("page", scalar(FieldKind::Int64))
        .property("page_size", scalar(FieldKind::Int64))
        .property("total", scalar(FieldKind::Int64))
        .property(
            "next",
            field_schema(FieldKind::Text, true)
                .description(Some("The cursor of the next page (`?after=`); null on the last")),
        )
        .required("items")
        .required("page")
        .required("page_size")
        .required("next")
}

fn field_schema(kind: FieldKind, nullable: bool) -> ObjectBuilder {
    let (ty, format) = match kind {
        FieldKind::Text => (Type::String, None),
        FieldKind::Bool => (Type::Boolean, None),
        FieldKind::Int32 => (Type::Integer, Some("int32")),
        FieldKind::Int64 => (Type::Integer, Some("int64")),
        FieldKind::Float => (Type::Number, Some("double")),
        FieldKind::Uuid => (Type::String, Some("uuid")),
        FieldKind::DateTime => (Type::String, Some("date-time")),
        // Any JSON value (`serde_json::Value` holds `null` too).
        FieldKind::Json => return ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        // Lists and maps are described by `kind_schema`.
        FieldKind::Array(_) => (Type::Array, None),
        FieldKind::Object(_) => (Type::Object, None),
        FieldKind::Enum(_) => (Type::String, None),
    };
    let mut schema = ObjectBuilder::new()
        .schema_type(self::nullable(ty, nullable))
        .format(format.map(|format| SchemaFormat::Custom(format.to_owned())));
    if let FieldKind::Enum(variants) = kind {
        schema = schema.enum_values(Some(variants.iter().copied()));
    }
    if kind == FieldKind::Text {
        // Databases refuse U+0000 in text, so the server does.
        schema = schema.pattern(Some(NO_NUL));
    }
    schema
}

fn scalar(kind: FieldKind) -> RefOr<Schema> {
    field_schema(kind, false).into()
}

fn read_only(schema: ObjectBuilder) -> ObjectBuilder {
    schema.read_only(Some(true))
}

/// Where a field's schema is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the record the API answers.
    Record,
    /// In a body the API reads: with the field's rules.
    Body,
}

/// The schema of a resource field: its kind (with the items of a list and
/// the values of a map), whether `null` is a value, its doc comment, its
/// access, and in bodies its validation rules.
fn value_schema(field: &FieldSpec, place: Place) -> RefOr<Schema> {
    let link = field.reference.map(|reference| {
        let target = (reference.target)();
        format!("The id of a {} (`{}/{{id}}`).", target.name, target.path)
    });
    let description = match (field.doc, link) {
        ("", None) => None,
        (doc, None) => Some(doc.to_owned()),
        ("", Some(link)) => Some(link),
        (doc, Some(link)) => Some(format!("{doc}\n\n{link}")),
    };
    let (min, max) = field
        .rules
        .iter()
        .find_map(|rule| match *rule {
            Rule::Length { min, max } if place == Place::Body => Some((count(min), count(max))),
            _ => None,
        })
        .unwrap_or_default();
    let read_only = place == Place::Record && field.access == Access::ReadOnly;
    let write_only = place == Place::Body && field.access == Access::WriteOnly;
    match field.kind {
        FieldKind::Array(items) => {
            // JSON Schema's arrays have no readOnly/writeOnly in this builder;
            // bodies leave read-only fields out and records write-only ones.
            ArrayBuilder::new()
                .schema_type(nullable(Type::Array, field.nullable))
                .items(kind_schema(*items))
                .description(description)
                .min_items(min)
                .max_items(max)
                .into()
        }
        FieldKind::Object(values) => ObjectBuilder::new()
            .schema_type(nullable(Type::Object, field.nullable))
            .additional_properties(Some(kind_schema(*values)))
            .description(description)
            .min_properties(min)
            .max_properties(max)
            .read_only(read_only.then_some(true))
            .write_only(write_only.then_some(true))
            .into(),
        kind => {
            let schema = field_schema(kind, field.nullable).description(description);
            let schema = if place == Place::Body { constrained(field, schema) } else { schema };
            schema.read_only(read_only.then_some(true)).write_only(write_only.then_some(true)).into()
        }
    }
}

/// The schema of a value of `kind` (an element of a list, a value of a map).
fn kind_schema(kind: FieldKind) -> RefOr<Schema> {
    match kind {
        FieldKind::Array(items) => ArrayBuilder::new().items(kind_schema(*items)).into(),
        FieldKind::Object(values) => {
            ObjectBuilder::new().schema_type(Type::Object).additional_properties(Some(kind_schema(*values))).into()
        }
        kind => scalar(kind),
    }
}

fn nullable(ty: Type, nullable: bool) -> SchemaType {
    if nullable { [ty, Type::Null].into_iter().collect() } else { ty.into() }
}

/// The pattern of text without U+0000.
const NO_NUL: &str = "^[^\\u0000]*$";

/// A length bound as a count.
fn count(bound: Option<u64>) -> Option<usize> {
    bound.and_then(|n| usize::try_from(n).ok())
}

/// Adds the field's validation rules as JSON Schema keywords.
fn constrained(field: &FieldSpec, mut schema: ObjectBuilder) -> ObjectBuilder {
    for rule in field.rules {
        schema = match *rule {
            Rule::Length { min, max } => schema.min_length(count(min)).max_length(count(max)),
            Rule::Range { min, max } => schema.minimum(min).maximum(max),
            Rule::Email => schema.format(Some(SchemaFormat::Custom("email".to_owned()))),
            Rule::Pattern(pattern) => schema.pattern(Some(format!("^(?:{pattern})$"))),
        };
    }
    schema
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn json_content(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}
