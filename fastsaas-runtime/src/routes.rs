//! The route table of a resource, and the app-wide routes and fallbacks.

use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, get};
use axum::{Json, Router};
use fastsaas_core::{ApiError, Operation};
use http::{HeaderValue, header};

use crate::crud;
use crate::endpoints::ResourceRoutes;
use crate::http::route_both;
use crate::resource::Resource;
use crate::state::AppState;

/// Mounts `T`'s routes under its scope path, with and without a trailing
/// slash. A disabled operation answers 405 with an `Allow` header.
pub(crate) fn mount<T: ResourceRoutes>(router: Router<AppState>) -> Router<AppState> {
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

/// Adds the app-wide routes: identity (users and sessions, roles,
/// organizations), type-wide ACL entries, `/openapi.json`, `/healthz`,
/// `/readyz`.
pub(crate) fn framework(router: Router<AppState>, document: serde_json::Value) -> Router<AppState> {
    use crate::identity::{orgs, roles, routes as users};
    let router = crate::acl_routes::mount_type_wide(orgs::mount(roles::mount(users::mount(router))));
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
