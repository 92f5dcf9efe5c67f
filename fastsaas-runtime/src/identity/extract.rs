//! The identity extractors: who calls ([`Principal`]) and from where
//! ([`ClientAddress`]), read from the request with the app's services.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts};
use fastsaas_core::ApiError;
use http::request::Parts;

use super::client_address::ClientAddress;
use super::principal::{Principal, from_credentials, from_token};
use crate::state::AppState;
use crate::telemetry::requests::record_principal;

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = <Principal as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await?;
        principal.ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <access token>`".into()))
    }
}

/// The principal of a request once read, so that every later extractor of
/// the same request (the route's guard, `Authorized<T>`, `Ctx`) reuses it
/// instead of reading the session again.
#[derive(Clone)]
struct KnownPrincipal(Principal);

impl<S> OptionalFromRequestParts<S> for Principal
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if let Some(KnownPrincipal(known)) = parts.extensions.get::<KnownPrincipal>() {
            return Ok(Some(known.clone()));
        }
        let state = AppState::from_ref(state);
        let identity = state.identity();
        let caches = state.notifier().caches();
        let principal =
            from_credentials(&parts.headers, state.db(), (&identity.keys, caches), state.registry()).await?;
        if let Some(principal) = &principal {
            record_principal(principal.id);
            parts.extensions.insert(KnownPrincipal(principal.clone()));
        }
        Ok(principal)
    }
}

impl<S> FromRequestParts<S> for ClientAddress
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(ClientAddress(peer.map(|peer| app.identity().trusted_proxies.client_of(peer, &parts.headers))))
    }
}

/// The principal of `token` (an access token or an API key, as sent in a
/// bearer header or a WebSocket's `?token=`) and, for an access token, when it expires: for a
/// connection that outlives its request (`/ws`), which must end when its
/// credentials do. 401 for anything but valid credentials.
pub(crate) async fn principal_of_token(
    state: &AppState,
    token: &str,
) -> Result<(Principal, Option<chrono::DateTime<chrono::Utc>>), ApiError> {
    let identity = state.identity();
    let caches = state.notifier().caches();
    let principal = from_token(token, state.db(), (&identity.keys, caches), state.registry()).await?;
    let expires = identity.keys.verify(token).and_then(|claims| chrono::DateTime::from_timestamp(claims.exp, 0));
    Ok((principal, expires))
}
