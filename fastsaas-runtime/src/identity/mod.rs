//! Identity: users, roles, sessions and the [`Principal`] of a request.
//!
//! Routes (see API.md, "Users and sessions"): registration, login, token
//! refresh with rotation and reuse detection, logout, `/me`, and the user
//! records. Passwords are argon2id hashes; access tokens are HS256 JWTs with
//! the algorithm pinned; refresh tokens are opaque and stored hashed.

pub(crate) mod bodies;
mod bootstrap;
mod client_address;
pub(crate) mod entities;
pub(crate) mod extract;
pub(crate) mod orgs;
mod password;
mod principal;
mod rate_limit;
pub(crate) mod roles;
pub(crate) mod routes;
pub(crate) mod tokens;

pub(crate) use bodies::{field, rejected};
pub use principal::{Membership, OrgRole, Principal, PrincipalKind, SUPERADMIN};
pub(crate) use principal::{acl_principal_of, bearer_token};

pub(crate) use bootstrap::ensure_admin;

use fastsaas_core::Settings;

use crate::error::StartupError;
use client_address::TrustedProxies;
use rate_limit::{AccountGuard, AttemptLimiter};
use tokens::TokenKeys;

/// The identity machinery an app holds: token keys and attempt limits.
#[derive(Debug)]
pub(crate) struct Identity {
    keys: TokenKeys,
    trusted_proxies: TrustedProxies,
    attempts_by_address: AttemptLimiter,
    attempts_by_address_and_email: AttemptLimiter,
    accounts: AccountGuard,
    /// The cost of new password hashes, by environment.
    hash_cost: password::HashCost,
}

impl Identity {
    /// The cost of new password hashes.
    pub(crate) fn hash_cost(&self) -> password::HashCost {
        self.hash_cost
    }

    /// The key that signs list cursors.
    pub(crate) fn cursors(&self) -> &crate::cursor::CursorKey {
        &self.keys.cursors
    }

    pub(crate) fn from_settings(settings: &Settings) -> Result<Identity, StartupError> {
        Ok(Identity {
            keys: TokenKeys::from_settings(settings)?,
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)?,
            attempts_by_address: AttemptLimiter::per_minute(settings.auth_attempts_per_minute),
            attempts_by_address_and_email: AttemptLimiter::per_minute(settings.auth_attempts_per_minute),
            accounts: AccountGuard::failures_per_minute(settings.auth_attempts_per_minute),
            hash_cost: password::HashCost::of(settings.env),
        })
    }
}
