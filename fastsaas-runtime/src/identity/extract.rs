//! The identity extractors: who calls ([`Principal`]) and from where
//! ([`ClientAddress`]), read from the request with the app's services.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use fastsaas_core::ApiError;
use http::request::Parts;

use super::client_address::ClientAddress;
use super::principal::{Principal, from_credentials};
use crate::state::AppState;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = <Principal as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        principal.ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <access token>`".into()))
    }
}

/// The principal of a request once read, so that every later extractor of
/// the same request (the route's guard, `Authorized<T>`, `Ctx`) reuses it
/// instead of reading the session again.
#[derive(Clone)]
struct KnownPrincipal(Principal);

impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if let Some(KnownPrincipal(known)) = parts.extensions.get::<KnownPrincipal>() {
            return Ok(Some(known.clone()));
        }
        let identity = state.identity();
        let principal = from_credentials(&parts.headers, state.db(), &identity.keys, state.registry()).await?;
        if let Some(principal) = &principal {
            parts.extensions.insert(KnownPrincipal(principal.clone()));
        }
        Ok(principal)
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(ClientAddress(peer.map(|peer| app.identity().trusted_proxies.client_of(peer, &parts.headers))))
    }
}
