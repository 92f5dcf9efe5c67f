//! [`Ctx`]: the app and the caller, for code that acts on someone's behalf.

use axum::extract::{FromRef, FromRequestParts};
use fastsaas_core::ApiError;
use http::request::Parts;

use uuid::Uuid;

use crate::identity::Principal;
use crate::notify::store::Draft;
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

impl Ctx {
    /// Sends `recipient` (a user) a notification: it is written at once,
    /// numbered after the recipient's earlier ones, and delivered to the
    /// recipient's open `/ws` sockets on every replica; a client that
    /// reconnects with the last id it saw receives it then. Its id.
    ///
    /// The code of the app decides whom it notifies: unlike `POST /notify`,
    /// this is not limited to the caller. 400 for a `kind` or `message`
    /// outside their rules (`kind`: 1 to 64 of `A-Za-z0-9_.:-`; `message`:
    /// 1 to 2,000 characters), 404 if `recipient` is not a user.
    ///
    /// ```no_run
    /// # async fn run(ctx: fastsaas_runtime::Ctx, owner: uuid::Uuid) -> fastsaas_core::ApiResult<()> {
    /// ctx.notify(owner, "agent.done", "Your agent finished", serde_json::json!({"task": 7})).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn notify(
        &self,
        recipient: Uuid,
        kind: &str,
        message: &str,
        payload: serde_json::Value,
    ) -> Result<Uuid, ApiError> {
        let draft = Draft { recipient, kind: kind.to_owned(), message: message.to_owned(), payload };
        let view = self.app.notifier().send(self.app.db(), draft).await?;
        Ok(view.id)
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
