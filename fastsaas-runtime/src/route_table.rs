//! The route table: every route of an app as data (method, path, the
//! action it checks, handler, documentation). The router, the clash check
//! and `/openapi.json` are all built from it, so no route is served
//! undocumented and no documented route is missing.

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use http::Method;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Operation, OperationBuilder};
use utoipa::openapi::{RefOr, ResponseBuilder, Schema};

/// One route: a method on a path, its handler, and its documentation.
///
/// The framework's routes are built as `Route`s; the routes of an app's own
/// are too ([`App::route`](crate::App::route)), so they appear in
/// `/openapi.json` like every other:
///
/// ```
/// use fastsaas_runtime::{AppState, Principal, Route};
///
/// async fn hello(principal: Principal) -> String {
///     format!("hello {}", principal.id)
/// }
///
/// let route: Route<AppState> = Route::get("/hello", hello)
///     .summary("Greets the caller")
///     .response(200, "The greeting, as text");
/// ```
pub struct Route<S> {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) handler: MethodRouter<S>,
    pub(crate) doc: RouteDoc,
}

/// What the document shows of a route: its operation and the named schemas
/// the operation refers to.
#[derive(Clone)]
pub(crate) struct RouteDoc {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The action the route checks, shown as `x-fastsaas-action`.
    pub(crate) action: Option<String>,
    pub(crate) operation: Operation,
    pub(crate) schemas: Vec<(String, RefOr<Schema>)>,
    /// Who added the route, for the clash error.
    pub(crate) origin: String,
}

impl<S> Clone for Route<S> {
    fn clone(&self) -> Self {
        Route {
            method: self.method.clone(),
            path: self.path.clone(),
            handler: self.handler.clone(),
            doc: self.doc.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Route<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Route({} {})", self.method, self.path)
    }
}

macro_rules! constructors {
    ($($name:ident => $method:ident),*) => {$(
        #[doc = concat!("A `", stringify!($method), "` route on `path`, served by `handler`.")]
        pub fn $name<H: Handler<X, S>, X: 'static>(path: impl Into<String>, handler: H) -> Route<S> {
            Route::new(Method::$method, path.into(), routing::$name(handler))
        }
    )*};
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    constructors!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

    /// A route whose documentation names only its method and path; the
    /// builder methods below fill it in.
    pub(crate) fn new(method: Method, path: String, handler: MethodRouter<S>) -> Route<S> {
        let operation_id = default_operation_id(&method, &path);
        let operation = OperationBuilder::new().operation_id(Some(operation_id)).build();
        let doc = RouteDoc {
            method: method.clone(),
            path: path.clone(),
            action: None,
            operation,
            schemas: Vec::new(),
            origin: "the app (`App::route`)".to_owned(),
        };
        Route { method, path, handler, doc }
    }

    /// The one-line summary of the route.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Route<S> {
        self.doc.operation.summary = Some(summary.into());
        self
    }

    /// A longer description (Markdown).
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Route<S> {
        self.doc.operation.description = Some(description.into());
        self
    }

    /// The group the route is listed under (default: the path's first segment).
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Route<S> {
        self.doc.operation.tags = Some(vec![tag.into()]);
        self
    }

    /// The `operationId` a client generator names its function after
    /// (default: the method and the path, `get_hello`).
    #[must_use]
    pub fn operation_id(mut self, id: impl Into<String>) -> Route<S> {
        self.doc.operation.operation_id = Some(id.into());
        self
    }

    /// Documents a status the route answers.
    #[must_use]
    pub fn response(mut self, status: u16, description: impl Into<String>) -> Route<S> {
        let response = ResponseBuilder::new().description(description).build();
        self.doc.operation.responses.responses.insert(status.to_string(), RefOr::T(response));
        self
    }

    /// Replaces the documentation with `operation`, keeping the operation
    /// id when `operation` has none.
    #[must_use]
    pub(crate) fn documented(mut self, mut operation: Operation) -> Route<S> {
        if operation.operation_id.is_none() {
            operation.operation_id = self.doc.operation.operation_id.take();
        }
        self.doc.operation = operation;
        self
    }

    /// Records the action the route checks.
    #[must_use]
    pub(crate) fn action(mut self, action: impl Into<String>) -> Route<S> {
        let action = action.into();
        let extensions = ExtensionsBuilder::new().add("x-fastsaas-action", action.clone()).build();
        self.doc.operation.extensions = Some(extensions);
        self.doc.action = Some(action);
        self
    }

    /// Adds named schemas the documentation refers to.
    #[must_use]
    pub(crate) fn with_schemas(mut self, schemas: impl IntoIterator<Item = (String, RefOr<Schema>)>) -> Route<S> {
        self.doc.schemas.extend(schemas);
        self
    }

    /// Names who added the route, for the clash error.
    #[must_use]
    pub(crate) fn origin(mut self, origin: impl Into<String>) -> Route<S> {
        self.doc.origin = origin.into();
        self
    }
}

/// Routes, and the refusals of disabled operations (405 with `Allow`,
/// which are answers, not operations, so they are not documented).
pub(crate) struct RouteTable<S> {
    routes: Vec<Route<S>>,
    refusals: Vec<(Method, String, MethodRouter<S>)>,
}

impl<S> Clone for RouteTable<S> {
    fn clone(&self) -> Self {
        RouteTable { routes: self.routes.clone(), refusals: self.refusals.clone() }
    }
}

impl<S> Default for RouteTable<S> {
    fn default() -> Self {
        RouteTable { routes: Vec::new(), refusals: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    /// Adds a route.
    pub(crate) fn add(&mut self, route: Route<S>) {
        self.routes.push(route);
    }

    /// Adds routes.
    pub(crate) fn extend(&mut self, routes: impl IntoIterator<Item = Route<S>>) {
        self.routes.extend(routes);
    }

    /// Answers `method` on `path` with `refusal` unless a route serves it.
    pub(crate) fn refuse(&mut self, method: Method, path: String, refusal: MethodRouter<S>) {
        self.refusals.push((method, path, refusal));
    }

    /// The documentation of every route.
    pub(crate) fn docs(&self) -> impl Iterator<Item = &RouteDoc> {
        self.routes.iter().map(|route| &route.doc)
    }

    /// The router serving every route, with and without a trailing slash;
    /// a refusal is left out where a route, here or in `served_elsewhere`,
    /// serves its method and path. Call [`clashes`] on the docs first:
    /// axum panics on a clash.
    pub(crate) fn into_router(self, served_elsewhere: &[(Method, String)]) -> Router<S> {
        let served: Vec<(Method, String)> = self
            .routes
            .iter()
            .map(|route| (route.method.clone(), key_of(&route.path)))
            .chain(served_elsewhere.iter().map(|(method, path)| (method.clone(), key_of(path))))
            .collect();
        let refusals = self.refusals.into_iter().filter(|(method, path, _)| {
            !served.iter().any(|(served_method, served_path)| served_method == method && *served_path == key_of(path))
        });
        let handlers = self.routes.into_iter().map(|route| (route.path, route.handler));
        let handlers = handlers.chain(refusals.map(|(_, path, refusal)| (path, refusal)));
        handlers.fold(Router::new(), |router, (path, methods)| {
            let path = path.trim_end_matches('/');
            router.route(&format!("{path}/"), methods.clone()).route(if path.is_empty() { "/" } else { path }, methods)
        })
    }
}

/// The first pair of routes that the router could not tell apart: the same
/// method on the same path, or one path segment named differently by two
/// routes (`/items/{id}` and `/items/{item_id}`), which the router refuses
/// whatever the methods.
pub(crate) fn clashes<'a>(docs: impl IntoIterator<Item = &'a RouteDoc>) -> Result<(), String> {
    let mut seen: BTreeMap<String, Vec<&RouteDoc>> = BTreeMap::new();
    for doc in docs {
        let shape = shape_of(&doc.path);
        let earlier = seen.entry(shape).or_default();
        for other in earlier.iter() {
            if other.method == doc.method && key_of(&other.path) == key_of(&doc.path) {
                return Err(format!(
                    "`{} {}` is served twice: by {} and by {}",
                    doc.method, doc.path, other.origin, doc.origin
                ));
            }
            if key_of(&other.path) != key_of(&doc.path) {
                return Err(format!(
                    "`{}` ({}) and `{}` ({}) name the same path parameter differently; use one name",
                    other.path, other.origin, doc.path, doc.origin
                ));
            }
        }
        earlier.push(doc);
    }
    Ok(())
}

/// `get_hello` for `GET /hello`, `post_items_id_shout` for
/// `POST /items/{id}/shout`.
fn default_operation_id(method: &Method, path: &str) -> String {
    let words = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty());
    std::iter::once(method.as_str().to_ascii_lowercase()).chain(words.map(str::to_owned)).collect::<Vec<_>>().join("_")
}

/// The path without its trailing slash.
fn key_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }
}

/// The path with its parameters' names left out: two routes of one shape
/// reach the same handler slot.
fn shape_of(path: &str) -> String {
    key_of(path)
        .split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str, origin: &str) -> Route<()> {
        Route::new(method, path.to_owned(), routing::any(|| async {})).origin(origin)
    }

    #[test]
    fn the_same_method_on_the_same_path_clashes() {
        let docs = [route(Method::GET, "/items/{id}", "Item"), route(Method::GET, "/items/{id}/", "the app")];
        let err = clashes(docs.iter().map(|route| &route.doc)).unwrap_err();
        assert_eq!(err, "`GET /items/{id}/` is served twice: by Item and by the app");
    }

    #[test]
    fn another_method_on_the_same_path_does_not_clash() {
        let docs = [route(Method::GET, "/items/{id}", "Item"), route(Method::POST, "/items/{id}", "the app")];
        assert_eq!(clashes(docs.iter().map(|route| &route.doc)), Ok(()));
    }

    #[test]
    fn one_segment_named_twice_clashes() {
        let docs = [route(Method::GET, "/items/{id}", "Item"), route(Method::POST, "/items/{item}", "the app")];
        let err = clashes(docs.iter().map(|route| &route.doc)).unwrap_err();
        assert!(err.contains("name the same path parameter differently"), "{err}");
    }

    #[test]
    fn default_operation_ids_read_as_words() {
        assert_eq!(default_operation_id(&Method::GET, "/hello"), "get_hello");
        assert_eq!(default_operation_id(&Method::POST, "/items/{id}/shout/"), "post_items_id_shout");
    }

    #[test]
    fn a_route_replaces_the_refusal_of_its_method_and_path() {
        let mut table = RouteTable::<()>::default();
        table.refuse(Method::POST, "/items".into(), routing::post(|| async { "refused" }));
        table.add(route(Method::POST, "/items", "the app"));
        // Building the router would panic on two POST handlers for one path.
        drop(table.into_router(&[]));
    }
}
