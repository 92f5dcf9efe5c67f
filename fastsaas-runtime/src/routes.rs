//! The route table of a resource, and the app-wide routes and fallbacks.

use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, get};
use axum::{Json, Router};
use fastsaas_core::{ApiError, Operation};
use http::{HeaderValue, header};

use crate::app::AppState;
use crate::crud;
use crate::resource::Resource;

/// Mounts `T`'s routes under its scope path, with and without a trailing
/// slash. A disabled operation answers 405 with an `Allow` header.
pub(crate) fn mount<T: Resource>(router: Router<AppState>) -> Router<AppState> {
    let collection = MethodRouter::new();
    let collection = on::<T, _, _>(collection, MethodFilter::GET, Operation::List, crud::list::<T>);
    let collection = on::<T, _, _>(collection, MethodFilter::POST, Operation::Create, crud::create::<T>);
    let collection = on::<T, _, _>(collection, MethodFilter::DELETE, Operation::Clear, crud::clear::<T>);
    let item = MethodRouter::new();
    let item = on::<T, _, _>(item, MethodFilter::GET, Operation::Read, crud::read::<T>);
    let item = on::<T, _, _>(item, MethodFilter::PATCH, Operation::Update, crud::patch::<T>);
    let item = on::<T, _, _>(item, MethodFilter::PUT, Operation::Update, crud::replace::<T>);
    let item = on::<T, _, _>(item, MethodFilter::DELETE, Operation::Delete, crud::delete::<T>);
    let path = T::SPEC.path;
    let router = route_both(router, path, collection);
    let router = route_both(router, &format!("{path}/{{id}}"), item);
    let router = crate::keys::mount::<T>(crate::acl_routes::mount::<T>(router));
    crate::endpoints::mount::<T>(T::mount_templates(router))
}

/// Routes each `(path, methods)` with and without a trailing slash.
pub(crate) fn route_all<P: AsRef<str>>(
    router: Router<AppState>,
    routes: impl IntoIterator<Item = (P, MethodRouter<AppState>)>,
) -> Router<AppState> {
    routes.into_iter().fold(router, |router, (path, methods)| route_both(router, path.as_ref(), methods))
}

/// A 201 with the new object's URL (the request path plus its id) in
/// `Location`, and its JSON.
pub(crate) fn created(request_path: &str, id: uuid::Uuid, body: impl serde::Serialize) -> axum::response::Response {
    let location = format!("{}/{id}", request_path.trim_end_matches('/'));
    (http::StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response()
}

/// `Ok` when a delete removed something, else the 404 for `what`.
pub(crate) fn deleted(result: &sea_orm::DeleteResult, what: &str) -> fastsaas_core::ApiResult<http::StatusCode> {
    if result.rows_affected == 0 { Err(ApiError::NotFound(what.to_owned())) } else { Ok(http::StatusCode::NO_CONTENT) }
}

/// Routes `path` with and without a trailing slash.
pub(crate) fn route_both(router: Router<AppState>, path: &str, methods: MethodRouter<AppState>) -> Router<AppState> {
    router.route(&format!("{path}/"), methods.clone()).route(path, methods)
}

/// Routes `method` to `handler` when `op` is enabled, else to a 405.
fn on<T: Resource, H: Handler<X, AppState>, X: 'static>(
    router: MethodRouter<AppState>,
    method: MethodFilter,
    op: Operation,
    handler: H,
) -> MethodRouter<AppState> {
    if T::SPEC.ops.contains(op) { router.on(method, handler) } else { router.on(method, move || disabled::<T>(op)) }
}

async fn disabled<T: Resource>(op: Operation) -> axum::response::Response {
    let spec = T::SPEC;
    let mut response = ApiError::MethodNotAllowed(format!("`{op}` is not enabled for {}", spec.name)).into_response();
    let allowed: Vec<&str> = [
        (Operation::List, "GET"),
        (Operation::Create, "POST"),
        (Operation::Clear, "DELETE"),
        (Operation::Read, "GET"),
        (Operation::Update, "PATCH, PUT"),
        (Operation::Delete, "DELETE"),
    ]
    .into_iter()
    .filter(|(other, _)| spec.ops.contains(*other) && is_collection(*other) == is_collection(op))
    .map(|(_, methods)| methods)
    .collect();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn is_collection(op: Operation) -> bool {
    matches!(op, Operation::List | Operation::Create | Operation::Clear)
}

/// Adds the app-wide routes: `/openapi.json`, `/healthz`, `/readyz`.
pub(crate) fn framework(router: Router<AppState>, document: serde_json::Value) -> Router<AppState> {
    let document = std::sync::Arc::new(document);
    router
        .route("/openapi.json", get(move || std::future::ready(Json(document.as_ref().clone()))))
        .route("/healthz", get(crate::health::live))
        .route("/readyz", get(crate::health::ready))
}

/// The problem+json answers for unknown paths (404) and methods (405).
pub(crate) fn fallbacks(router: Router<AppState>) -> Router<AppState> {
    router.fallback(|| std::future::ready(ApiError::NotFound("route".into()))).method_not_allowed_fallback(|| {
        std::future::ready(ApiError::MethodNotAllowed("this method is not allowed on this path".into()))
    })
}
