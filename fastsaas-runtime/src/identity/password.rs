//! Password hashing: argon2id at OWASP's recommended cost (19 MiB, 2
//! iterations, 1 lane), run off the async executor, at most two per core
//! at a time: a burst of logins waits briefly for a turn, then is refused
//! with 429 and `Retry-After`, so its memory is bounded (19 MiB a turn)
//! whatever the number of requests.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use fastsaas_core::ApiError;

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|err| {
        tracing::error!(error = %err, "invalid argon2 parameters");
        ApiError::Internal
    })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A hash of a password nobody has, so that a login for an unknown e-mail
/// costs the same verification as one for a known e-mail.
static DECOY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let decoy = uuid::Uuid::new_v4().to_string();
    hasher().ok()?.hash_password(decoy.as_bytes()).ok().map(|hash| hash.to_string())
});

/// The PHC string of `password` with a fresh random salt.
pub(crate) async fn hash(password: String) -> Result<String, ApiError> {
    blocking(move || {
        hasher()?.hash_password(password.as_bytes()).map(|hash| hash.to_string()).map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::Internal
        })
    })
    .await
}

/// Whether `password` matches `stored` (a PHC string). With no stored hash
/// (unknown user) the decoy is checked instead, and the answer is `false`.
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    blocking(move || {
        let known = stored.is_some();
        let Some(phc) = stored.or_else(|| DECOY_HASH.clone()) else {
            return Err(ApiError::Internal);
        };
        let parsed = PasswordHash::new(&phc).map_err(|err| {
            tracing::error!(error = %err, "a stored password hash does not parse");
            ApiError::Internal
        })?;
        let matches = hasher()?.verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await
}

/// Hashings running at once: two per core, so the cores stay busy while
/// one waits to be scheduled.
static HASHING_TURNS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2))));

/// How long a request waits for a hashing turn before it is refused.
const TURN_WAIT: Duration = Duration::from_secs(2);

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let turn = match tokio::time::timeout(TURN_WAIT, Arc::clone(&HASHING_TURNS).acquire_owned()).await {
        Ok(Ok(turn)) => turn,
        Ok(Err(_)) => return Err(ApiError::Internal),
        Err(_) => return Err(ApiError::RateLimited(1)),
    };
    // The turn goes with the work: a client that hangs up does not free it
    // while its hash still runs.
    let result = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await;
    result.map_err(|err| {
        tracing::error!(error = %err, "password task failed");
        ApiError::Internal
    })?
}
