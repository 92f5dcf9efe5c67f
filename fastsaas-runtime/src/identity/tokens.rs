//! Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque random
//! strings, stored as SHA-256 hashes).

use crate::cursor::CursorKey;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use fastsaas_core::{ApiError, Environment, Settings};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::StartupError;

/// The `iss` of every access token.
const ISSUER: &str = "fastsaas";
/// The `aud` of every access token.
const AUDIENCE: &str = "fastsaas-api";
/// The shortest signing key accepted (HS256 wants 256 bits).
const MIN_SECRET_BYTES: usize = 32;

/// What an access token says.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user.
    pub(crate) sub: Uuid,
    /// The session: the refresh-token family the token was issued with.
    pub(crate) sid: Uuid,
    /// This token's id.
    pub(crate) jti: Uuid,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) iss: String,
    pub(crate) aud: String,
}

/// The keys and lifetimes of tokens.
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    /// The key of list cursors, derived from the same secret.
    pub(crate) cursors: CursorKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// The keys from `FASTSAAS_JWT_SECRET`. Production refuses a missing or
    /// short secret; elsewhere a missing one is replaced by a random key.
    pub(crate) fn from_settings(settings: &Settings) -> Result<TokenKeys, StartupError> {
        let secret = match &settings.jwt_secret {
            Some(secret) if secret.expose().len() >= MIN_SECRET_BYTES => secret.expose().as_bytes().to_vec(),
            Some(_) => {
                return Err(StartupError::Config(format!(
                    "FASTSAAS_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes"
                )));
            }
            None if settings.env == Environment::Production => {
                return Err(StartupError::Config(
                    "FASTSAAS_JWT_SECRET is required when FASTSAAS_ENV=production".into(),
                ));
            }
            None => {
                tracing::warn!("no FASTSAAS_JWT_SECRET: tokens are signed with a random key and end with the process");
                random_bytes::<32>().map_err(StartupError::Config)?.to_vec()
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            access_ttl: Duration::from_secs(settings.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(settings.refresh_token_ttl_secs),
            cursors: CursorKey::derive(&secret),
        })
    }

    /// A signed access token for `user` in session `session`.
    pub(crate) fn access_token(&self, user: Uuid, session: Uuid) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let lifetime = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user,
            sid: session,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now.saturating_add(lifetime),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|err| {
            tracing::error!(error = %err, "cannot sign an access token");
            ApiError::Internal
        })
    }

    /// The claims of a valid token: right algorithm, signature, issuer,
    /// audience, and not expired. `None` for anything else.
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

/// The prefix of API keys, which tells them from access tokens.
pub(crate) const API_KEY_PREFIX: &str = "fsk_";

/// A new refresh token and the hash to store.
pub(crate) fn new_refresh_token() -> Result<(String, String), ApiError> {
    new_secret("")
}

/// A new API key (`fsk_` and 256 random bits) and the hash to store.
pub(crate) fn new_api_key() -> Result<(String, String), ApiError> {
    new_secret(API_KEY_PREFIX)
}

fn new_secret(prefix: &str) -> Result<(String, String), ApiError> {
    let bytes = random_bytes::<32>().map_err(|err| {
        tracing::error!(error = %err, "no randomness for a secret token");
        ApiError::Internal
    })?;
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: its SHA-256, base64url. A database leak does
/// not reveal usable tokens.
pub(crate) fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).map_err(|err| format!("the system has no randomness: {err}"))?;
    Ok(bytes)
}

/// Deletes the refresh tokens that expired before `before`; how many. A
/// session lives while one of its tokens is stored unrevoked, so `before`
/// leaves the access tokens issued with the last ones time to expire.
pub(crate) async fn delete_expired(
    db: &impl sea_orm::ConnectionTrait,
    before: chrono::DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    use super::entities::refresh_token;
    let deleted =
        refresh_token::Entity::delete_many().filter(refresh_token::Column::ExpiresAt.lt(before)).exec(db).await?;
    Ok(deleted.rows_affected)
}
