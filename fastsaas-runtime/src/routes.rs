//! The routes of a resource and the framework's own, as entries of the
//! route table, and the app-wide fallbacks.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, delete, get, on, patch, post, put};
use fastsaas_core::acl::actions_of;
use fastsaas_core::resource::OPERATION_ROUTES;
use fastsaas_core::{ApiError, Operation, ResourceSpec};
use http::{HeaderValue, Method, header};

use crate::endpoints::ResourceRoutes;
use crate::openapi::{crud_operation, docs_operation, document_operation, health_operation, metrics_operation};
use crate::resource::Resource;
use crate::route_table::{Route, RouteTable};
use crate::state::AppState;
use crate::{acl_routes, crud, docs, endpoints, health, keys, metrics_routes, nested};

/// Adds `T`'s routes to `table`: CRUD under its scope path (a disabled
/// operation answers 405 with an `Allow` header), ACL entries, API keys,
/// templates and custom endpoints. `custom_actions` are those of its
/// endpoints, which ACL entries may name.
pub(crate) fn add_resource<T: ResourceRoutes>(table: &mut RouteTable<AppState>, custom_actions: &[&'static str]) {
    let spec = T::SPEC;
    let origin = format!("`{}`", spec.name);
    for (op, method, under) in OPERATION_ROUTES {
        let (Ok(method), path) = (Method::from_bytes(method.as_bytes()), format!("{}{under}", spec.path)) else {
            continue;
        };
        if !spec.ops.contains(op) {
            if let Ok(filter) = MethodFilter::try_from(method.clone()) {
                table.refuse(method, path, on(filter, move || disabled::<T>(op)));
            }
            continue;
        }
        let handler: MethodRouter<AppState> = match (op, &method) {
            (Operation::List, _) => get(crud::list::<T>),
            (Operation::Create, _) => post(crud::create::<T>),
            (Operation::Clear, _) => delete(crud::clear::<T>),
            (Operation::Read, _) => get(crud::read::<T>),
            (Operation::Update, &Method::PUT) => put(crud::replace::<T>),
            (Operation::Update, _) => patch(crud::patch::<T>),
            (Operation::Delete, _) => delete(crud::delete::<T>),
        };
        table.add(crud_route(Route::new(method, path, handler), spec, op).origin(origin.clone()));
    }
    let routes = acl_routes::routes::<T>(&actions_of(custom_actions)).into_iter().chain(keys::routes::<T>());
    let routes = routes.chain(T::template_routes()).chain(endpoints::routes::<T>()).chain(nested::routes::<T>());
    table.extend(routes.map(|route| route.origin(origin.clone())));
}

/// `route`, serving the built-in operation `op` of `spec`, with its
/// documentation and its action.
pub(crate) fn crud_route(route: Route<AppState>, spec: &ResourceSpec, op: Operation) -> Route<AppState> {
    let operation = crud_operation(spec, op, &route.method);
    route.documented(operation).action(op.as_str())
}

async fn disabled<T: Resource>(op: Operation) -> axum::response::Response {
    let spec = T::SPEC;
    let mut response = ApiError::MethodNotAllowed(format!("`{op}` is not enabled for {}", spec.name)).into_response();
    let allowed: Vec<&str> = OPERATION_ROUTES
        .into_iter()
        .filter(|(other, _, _)| spec.ops.contains(*other) && is_collection(*other) == is_collection(op))
        .map(|(_, method, _)| method)
        .collect();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn is_collection(op: Operation) -> bool {
    matches!(op, Operation::List | Operation::Create | Operation::Clear)
}

/// The OpenAPI document, once the whole table is known.
pub(crate) type Document = Arc<OnceLock<Bytes>>;

/// The app-wide routes: identity (users and sessions, roles,
/// organizations), type-wide ACL entries (naming one of `resources`,
/// `Type.action`), `/openapi.json` (serving `document`), `/docs` (its
/// assets are [`docs::assets`]), `/metrics`, `/healthz`, `/readyz`.
pub(crate) fn framework(document: &Document, resources: Vec<String>) -> Vec<Route<AppState>> {
    use crate::identity::{orgs, roles, routes as users};
    let document = Arc::clone(document);
    let serve_document = move || {
        let body = document.get().cloned().unwrap_or_default();
        std::future::ready(([(header::CONTENT_TYPE, "application/json")], body))
    };
    let operations = [
        Route::get("/openapi.json", serve_document).documented(document_operation()),
        Route::get("/docs", docs::page).documented(docs_operation()),
        Route::get("/metrics", metrics_routes::guarded).documented(metrics_operation()),
        Route::get("/healthz", health::live).documented(health_operation(false)),
        Route::get("/readyz", health::ready).documented(health_operation(true)),
    ];
    let identity = users::routes().into_iter().chain(roles::routes()).chain(orgs::routes());
    let routes = identity
        .chain(acl_routes::type_wide_routes(resources))
        .chain(crate::notify::routes::routes())
        .chain(crate::tasks::routes::routes())
        .chain(operations);
    routes.map(|route| route.origin("the framework")).collect()
}

/// The problem+json answers for unknown paths (404) and methods (405).
///
/// The fallback also holds `guard`, which the router thus keeps alive for
/// as long as it (or a clone) lives, at no cost per request.
pub(crate) fn fallbacks<G: Send + Sync + 'static>(router: Router<AppState>, guard: Arc<G>) -> Router<AppState> {
    router
        .merge(docs::assets())
        .fallback(move || {
            let _kept = &guard;
            std::future::ready(ApiError::NotFound("route".into()))
        })
        .method_not_allowed_fallback(|| {
            std::future::ready(ApiError::MethodNotAllowed("this method is not allowed on this path".into()))
        })
}
