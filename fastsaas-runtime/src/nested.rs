//! The nested routes of references: for a type whose one reference names
//! a parent type, `GET {parent}/{id}/{children}` lists the parent's
//! children (the same page, filter, sort and `after` rules as the type's
//! own list) and `POST {parent}/{id}/{children}` creates one with the
//! reference set from the path. Both answer 404 for a parent the caller
//! may not read, as its own routes do. A type with two references to one
//! parent type has no nested route for it: the path could not say which.

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, FieldSpec, Operation, ResourceSpec};
use http::HeaderMap;
use sea_orm::ColumnTrait;
use serde_json::Value;
use uuid::Uuid;

use crate::body::{BodyShape, BodySpec, parse_json, read_json_bytes};
use crate::crud::page_answer;
use crate::db::references::references;
use crate::http::{ObjectId, created};
use crate::identity::Principal;
use crate::openapi::nested_operation;
use crate::references::readable;
use crate::resource::Resource;
use crate::route_table::Route;
use crate::state::AppState;
use crate::store::{create_row, list_rows_where};

/// A parent type and the reference of the child type that names it.
#[derive(Clone, Copy)]
struct Nesting {
    parent: &'static ResourceSpec,
    field: &'static FieldSpec,
}

/// The nested routes of `T`'s references.
pub(crate) fn routes<T: Resource>() -> Vec<Route<AppState>> {
    let spec = T::SPEC;
    let Some(segment) = spec.path.rsplit('/').next() else { return Vec::new() };
    let mut routes = Vec::new();
    for (field, reference) in references(spec) {
        let parent = (reference.target)();
        if references(spec).filter(|(_, other)| std::ptr::eq((other.target)(), parent)).count() != 1 {
            continue;
        }
        let nesting = Nesting { parent, field };
        let path = format!("{}/{{id}}/{segment}", parent.path);
        if spec.ops.contains(Operation::List) {
            let list = get(move |State(app): State<AppState>, principal: Principal, id: ObjectId, RawQuery(raw)| {
                list::<T>(app, principal, (nesting, id.0), raw)
            });
            let route = Route::new(http::Method::GET, path.clone(), list);
            routes.push(route.documented(nested_operation(spec, parent, Operation::List)).action("list"));
        }
        if spec.ops.contains(Operation::Create) && field.access.is_writable() {
            let create = post(
                move |State(app): State<AppState>,
                      principal: Principal,
                      id: ObjectId,
                      OriginalUri(uri): OriginalUri,
                      headers: HeaderMap,
                      body: Body| {
                    create::<T>(app, principal, (nesting, id.0), (uri, headers, body))
                },
            );
            let route = Route::new(http::Method::POST, path, create);
            routes.push(route.documented(nested_operation(spec, parent, Operation::Create)).action("create"));
        }
    }
    routes
}

/// `GET {parent}/{id}/{children}`.
async fn list<T: Resource>(
    app: AppState,
    principal: Principal,
    (nesting, parent_id): (Nesting, Uuid),
    raw: Option<String>,
) -> ApiResult<Response> {
    let subject = principal.subject();
    readable(app.db(), nesting.parent, &subject, parent_id).await?;
    let column = reference_column::<T>(nesting.field)?;
    let page = list_rows_where::<T>(app.store(), &subject, raw.as_deref(), column.eq(parent_id)).await?;
    page_answer::<T>(&app, &subject, raw.as_deref(), page).await
}

/// `POST {parent}/{id}/{children}`: 201 with the record; its `Location` is
/// the child's own path.
async fn create<T: Resource>(
    app: AppState,
    principal: Principal,
    (nesting, parent_id): (Nesting, Uuid),
    (uri, headers, body): (http::Uri, HeaderMap, Body),
) -> ApiResult<Response> {
    readable(app.db(), nesting.parent, &principal.subject(), parent_id).await?;
    let bytes = read_json_bytes(&headers, body, app.body_limit()).await?;
    let bytes = with_reference(bytes, nesting, parent_id)?;
    let input: T::Create = parse_json(BodySpec::of(T::SPEC), BodyShape::Create, &bytes)?;
    let model = create_row::<T>(app.store(), &principal, input, None).await?;
    // The app may be nested under a prefix: the child's path keeps it.
    let nested = format!("{}/{parent_id}/{}", nesting.parent.path, last_segment(T::SPEC));
    let requested = uri.path().trim_end_matches('/');
    let prefix = requested.strip_suffix(nested.as_str()).unwrap_or_default();
    Ok(created(&format!("{prefix}{}", T::SPEC.path), T::id_of(&model), model))
}

fn last_segment(spec: &ResourceSpec) -> &str {
    spec.path.rsplit('/').next().unwrap_or_default()
}

/// `T`'s column of `field`; a 500 (logged) if the derive and the spec
/// disagree, which they cannot.
fn reference_column<T: Resource>(field: &FieldSpec) -> ApiResult<T::Column> {
    field.name.parse::<T::Column>().map_err(|_| {
        tracing::error!(resource = T::SPEC.name, field = field.name, "a reference field has no column");
        ApiError::Internal
    })
}

/// The body with the reference set to the parent of the path: added when
/// left out, kept when it names the same parent, a 400 otherwise. A body
/// that is no JSON object is left for the typed parse to explain.
fn with_reference(bytes: Bytes, nesting: Nesting, parent_id: Uuid) -> ApiResult<Bytes> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(bytes);
    };
    let name = nesting.field.name;
    match object.get(name) {
        None => {
            object.insert(name.to_owned(), Value::String(parent_id.to_string()));
        }
        Some(Value::String(sent)) if sent.parse::<Uuid>().is_ok_and(|sent| sent == parent_id) => {}
        Some(_) => {
            return Err(ApiError::field(
                name,
                FieldErrorCode::Invalid,
                format!(
                    "the path names the {} (`{parent_id}`); leave `{name}` out or send the same",
                    nesting.parent.name
                ),
            ));
        }
    }
    serde_json::to_vec(&Value::Object(object)).map(Bytes::from).map_err(|err| {
        tracing::error!(error = %err, "a JSON object could not be written back");
        ApiError::Internal
    })
}
