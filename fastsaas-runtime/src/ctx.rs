//! [`Ctx`]: the app and the caller, for code that acts on someone's behalf.

use axum::extract::{FromRef, FromRequestParts};
use fastsaas_core::ApiError;
use http::request::Parts;

use crate::identity::Principal;
use crate::state::AppState;

/// The app and the signed-in caller a piece of code acts for. As an
/// extractor it answers 401 without valid credentials.
///
/// The caller's roles, organizations and type-wide ACL entries are those
/// read when the request began: a `Ctx` is for the request it came with
/// (a task that runs later acts for a caller read when it runs).
///
/// What goes through a `Ctx`, such as [`Ctx::records`](crate::Records) and
/// [`Records::clone_from_template`](crate::Records::clone_from_template),
/// applies the caller's permissions exactly as the HTTP routes do.
#[derive(Clone, Debug)]
pub struct Ctx {
    app: AppState,
    principal: Principal,
}

impl Ctx {
    /// The context of `principal` acting in `app`.
    pub fn new(app: AppState, principal: Principal) -> Ctx {
        Ctx { app, principal }
    }

    /// The app: its database and settings.
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl<S> FromRequestParts<S> for Ctx
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        Ok(Ctx { app: AppState::from_ref(state), principal })
    }
}
