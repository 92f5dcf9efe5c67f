//! Custom endpoints: the methods of an `#[endpoints] impl T` block, mounted
//! under `T`'s scope when `T` is registered, each checking its own action.
//!
//! `#[derive(Crud)]` cannot see an `#[endpoints]` block, so it asks, through
//! [`Probe`], whether `T` implements [`Endpoints`]: method resolution on a
//! concrete type picks the impl for `&Probe<T>` when `T: Endpoints` and
//! falls back to the one for `Probe<T>` otherwise ("autoref
//! specialization"). No second registration, no global registry.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter};
use fastsaas_core::{ApiResult, EndpointAccess, EndpointMethod, EndpointSpec, ResourceSpec};
use http::Method;
use http::request::Parts;
use utoipa::ToSchema;

use crate::access;
use crate::authorized::{Checked, RouteAction};
use crate::http::ObjectId;
use crate::identity::Principal;
pub use crate::openapi::TypeSchema;
use crate::openapi::endpoint_operation;
use crate::resource::{Resource, load_authorized};
use crate::route_table::Route;
use crate::state::AppState;

/// A resource with custom endpoints: implemented by `#[endpoints]`, never
/// by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[endpoints]` block",
    label = "custom endpoints come from an `#[endpoints] impl` block of this type"
)]
pub trait Endpoints {
    /// The endpoints, each with its handler.
    fn endpoints() -> Vec<Endpoint>;
}

/// One custom endpoint: its description, its handler, and the schemas of
/// its JSON body and response when their types implement `ToSchema`.
pub struct Endpoint {
    spec: &'static EndpointSpec,
    methods: MethodRouter<AppState>,
    request: SchemaOf,
    response: SchemaOf,
}

/// The schema of a type, if it has one (see [`SchemaProbe`]).
pub type SchemaOf = fn() -> Option<TypeSchema>;

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("spec", self.spec).finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint of `T` serving `spec` with `handler`, behind the check
    /// `spec.access` asks for: the framework authorizes the caller before
    /// the handler runs, whatever the handler takes.
    pub fn new<T, H, X>(spec: &'static EndpointSpec, handler: H) -> Endpoint
    where
        T: Resource,
        H: Handler<X, AppState>,
        X: 'static,
    {
        let filter = match spec.method {
            EndpointMethod::Get => MethodFilter::GET,
            EndpointMethod::Post => MethodFilter::POST,
            EndpointMethod::Put => MethodFilter::PUT,
            EndpointMethod::Patch => MethodFilter::PATCH,
            EndpointMethod::Delete => MethodFilter::DELETE,
        };
        let guarded = move |State(app): State<AppState>, request: Request| async move {
            let (mut parts, body) = request.into_parts();
            if let Some(action) = spec.action() {
                parts.extensions.insert(RouteAction(action));
            }
            match guard::<T>(&app, spec, &mut parts).await {
                Ok(()) => handler.call(Request::from_parts(parts, body), app).await,
                Err(refused) => refused.into_response(),
            }
        };
        Endpoint { spec, methods: MethodRouter::new().on(filter, guarded), request: || None, response: || None }
    }

    /// What the endpoint serves and checks.
    pub(crate) fn spec(&self) -> &'static EndpointSpec {
        self.spec
    }

    /// Adds the schemas of the JSON body and of the response.
    #[must_use]
    pub fn with_schemas(self, request: SchemaOf, response: SchemaOf) -> Endpoint {
        Endpoint { request, response, ..self }
    }

    /// The endpoint as a route of `spec`'s scope, with its documentation.
    fn into_route(self, spec: &ResourceSpec) -> Route<AppState> {
        let (request, response) = ((self.request)(), (self.response)());
        let operation = endpoint_operation(spec, self.spec, request.as_ref(), response.as_ref());
        let method = match self.spec.method {
            EndpointMethod::Get => Method::GET,
            EndpointMethod::Post => Method::POST,
            EndpointMethod::Put => Method::PUT,
            EndpointMethod::Patch => Method::PATCH,
            EndpointMethod::Delete => Method::DELETE,
        };
        let path = format!("{}{}", spec.path, self.spec.path.trim_end_matches('/'));
        let schemas: Vec<_> = request.iter().chain(&response).flat_map(TypeSchema::components).collect();
        let route = Route::new(method, path, self.methods).documented(operation).with_schemas(schemas);
        match self.spec.action() {
            Some(action) => route.action(action),
            None => route,
        }
    }
}

/// The check of `spec.access`, before the handler: 401 without valid
/// credentials; for an action, the object check on a path with `{id}`
/// (its row then reaches the handler's `Authorized<T>` without a second
/// query) or the type-wide one on a collection path.
async fn guard<T: Resource>(app: &AppState, spec: &EndpointSpec, parts: &mut Parts) -> ApiResult<()> {
    let action = match spec.access {
        EndpointAccess::Public => return Ok(()),
        EndpointAccess::SignedIn => return Principal::from_request_parts(parts, app).await.map(drop),
        EndpointAccess::Action(action) => action,
    };
    let subject = Principal::from_request_parts(parts, app).await?.subject();
    if !spec.has_object() {
        return access::authorize_type_wide(app.db(), T::SPEC, &subject, action).await;
    }
    let ObjectId(id) = ObjectId::from_request_parts(parts, app).await?;
    let model = load_authorized::<T>(app.db(), &subject, action, id).await?;
    parts.extensions.insert(Checked::<T> { id, action, model });
    Ok(())
}

/// The routes a resource type adds beside its CRUD routes: its templates'
/// and its `#[endpoints]`. Implemented by `#[derive(Crud)]`, never by hand;
/// kept apart from [`Resource`], which knows no router.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a FastSaaS resource",
    label = "add `#[derive(Crud)]` and `#[scope(\"/path\")]` to this type",
    note = "only `#[derive(Crud)]` types can be registered with `App::resource`"
)]
pub trait ResourceRoutes: Resource {
    /// The templates' routes of a templated resource.
    fn template_routes() -> Vec<Route<AppState>> {
        Vec::new()
    }

    /// The endpoints of the type's `#[endpoints]` block, if it has one.
    fn custom_endpoints() -> Vec<Endpoint> {
        Vec::new()
    }
}

/// The routes of `T`'s templates (called by the derive's output; not a
/// public API).
#[doc(hidden)]
pub fn template_routes<T: crate::Templated>() -> Vec<Route<AppState>> {
    crate::templates::routes::routes::<T>()
}

/// The routes of `T`'s custom endpoints, under its scope path.
pub(crate) fn routes<T: ResourceRoutes>() -> Vec<Route<AppState>> {
    T::custom_endpoints().into_iter().map(|endpoint| endpoint.into_route(T::SPEC)).collect()
}

/// Asks whether `T` has custom endpoints; see the module docs.
#[doc(hidden)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default, reason = "only the derive's output makes one")]
    pub const fn new() -> Probe<T> {
        Probe(PhantomData)
    }
}

/// The endpoints of a `T` with an `#[endpoints]` block.
#[doc(hidden)]
pub trait ViaEndpoints {
    fn endpoints(&self) -> Vec<Endpoint>;
}

impl<T: Endpoints> ViaEndpoints for &Probe<T> {
    fn endpoints(&self) -> Vec<Endpoint> {
        <T as Endpoints>::endpoints()
    }
}

/// No endpoints, for a `T` without an `#[endpoints]` block.
#[doc(hidden)]
pub trait ViaNothing {
    fn endpoints(&self) -> Vec<Endpoint>;
}

impl<T> ViaNothing for Probe<T> {
    fn endpoints(&self) -> Vec<Endpoint> {
        Vec::new()
    }
}

/// Asks whether `T` implements `utoipa::ToSchema`, the same way [`Probe`]
/// asks for endpoints: a body or response type documents itself if it
/// derives `ToSchema` (through `fastsaas::utoipa`), and is shown as plain
/// JSON otherwise.
#[doc(hidden)]
pub struct SchemaProbe<T>(PhantomData<T>);

impl<T> SchemaProbe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default, reason = "only the `#[endpoints]` output makes one")]
    pub const fn new() -> SchemaProbe<T> {
        SchemaProbe(PhantomData)
    }
}

/// The schema of a `T: ToSchema`.
#[doc(hidden)]
pub trait ViaToSchema {
    fn schema(&self) -> Option<TypeSchema>;
}

impl<T: ToSchema> ViaToSchema for &SchemaProbe<T> {
    fn schema(&self) -> Option<TypeSchema> {
        let mut referenced = Vec::new();
        T::schemas(&mut referenced);
        Some(TypeSchema { name: T::name().into_owned(), schema: T::schema(), referenced })
    }
}

/// No schema, for other types.
#[doc(hidden)]
pub trait ViaNoSchema {
    fn schema(&self) -> Option<TypeSchema>;
}

impl<T> ViaNoSchema for SchemaProbe<T> {
    fn schema(&self) -> Option<TypeSchema> {
        None
    }
}

/// Compile-time checks the `#[endpoints]` output runs on each argument and
/// return type, so a wrong type is reported on the user's token rather than
/// as an unsatisfied `Handler` bound.
#[doc(hidden)]
pub mod checks {
    use axum::extract::{FromRequest, FromRequestParts};
    use axum::response::IntoResponse;

    use crate::state::AppState;

    /// Every argument but the last reads only the request's head.
    pub fn extractor_from_parts<T: FromRequestParts<AppState>>() {}

    /// The last argument may read the body.
    pub fn extractor<M, T: FromRequest<AppState, M>>() {}

    /// The returned value becomes the response.
    pub fn response<T: IntoResponse>() {}
}
