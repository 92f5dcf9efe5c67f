//! [`Authorized<T>`]: the one way a handler loads a resource, after the
//! access check for the route's action has passed.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts};
use fastsaas_core::ApiError;
use http::Method;
use http::request::Parts;

use crate::http::ObjectId;
use crate::identity::Principal;
use crate::resource::{Record, Resource, load_authorized};
use crate::state::AppState;
use crate::store::record_of;

/// The action a route checks, when it is not the method's default. The
/// `#[endpoint(action = "...")]` attribute sets it; custom routes may insert
/// it as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteAction(pub &'static str);

/// A `T` loaded by the `{id}` of the path, only once the caller passed the
/// access check for the route's action: `read` for GET, `delete` for
/// DELETE, `update` for other methods, or the route's [`RouteAction`]. A
/// caller who may not read the object gets 404; one who may read but not
/// act gets 403; without credentials, 401.
///
/// There is deliberately no other public way to load a resource inside a
/// handler. To load one without a check (a background job, an admin tool),
/// query its SeaORM entity, `<T as Resource>::Entity`, through the database
/// of [`AppState::db`](crate::AppState::db), and make the reason plain in
/// the code.
///
/// See the `fastsaas` crate for an example.
#[derive(Clone, Debug)]
pub struct Authorized<T> {
    record: Record<T>,
    principal: Principal,
}

impl<T> Authorized<T> {
    /// The loaded record.
    pub fn into_record(self) -> Record<T> {
        self.record
    }

    /// The caller who passed the check.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl<T> Deref for Authorized<T> {
    type Target = Record<T>;

    fn deref(&self) -> &Record<T> {
        &self.record
    }
}

/// The object a route's guard loaded and authorized, handed to the
/// handler's `Authorized<T>` so that it does not query again.
pub(crate) struct Checked<T: Resource> {
    pub(crate) id: uuid::Uuid,
    pub(crate) action: &'static str,
    pub(crate) model: T::Model,
}

impl<T: Resource> Clone for Checked<T> {
    fn clone(&self) -> Self {
        Checked { id: self.id, action: self.action, model: self.model.clone() }
    }
}

/// The action a request on a route checks: the route's own, or the
/// method's default.
pub(crate) fn route_action(parts: &Parts) -> &'static str {
    match (parts.extensions.get::<RouteAction>(), &parts.method) {
        (Some(RouteAction(action)), _) => action,
        (None, &Method::GET | &Method::HEAD) => "read",
        (None, &Method::DELETE) => "delete",
        (None, _) => "update",
    }
}

impl<T, S> FromRequestParts<S> for Authorized<T>
where
    T: Resource,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let ObjectId(id) = ObjectId::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let action = route_action(parts);
        let model = match parts.extensions.remove::<Checked<T>>() {
            Some(checked) if checked.id == id && checked.action == action => checked.model,
            _ => load_authorized::<T>(state.db(), &principal.subject(), action, id).await?,
        };
        Ok(Authorized { record: record_of::<T>(state.field_keys(), model)?, principal })
    }
}
