//! Password hashing: argon2id at OWASP's recommended cost (19 MiB, 2
//! iterations, 1 lane), run off the async executor on a fixed set of
//! threads, two per core: a burst of logins waits briefly for a turn, then
//! is refused with 429 and `Retry-After`. Memory stays bounded whatever the
//! number of requests: each hashing thread reuses its own 19 MiB, where the
//! blocking pool's many threads would each keep theirs (the allocator holds
//! freed blocks per thread arena).
//!
//! In the test environment (`FASTSAAS_ENV=test`) new hashes are made at a
//! cost fit for test suites only (64 KiB, 1 iteration); checking a hash
//! always uses the parameters stored in it.

use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::Semaphore;

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use fastsaas_core::{ApiError, Environment};

/// How costly new hashes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashCost {
    /// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    Owasp,
    /// m=64 KiB, t=1, p=1: thousands of sign-ups per second for test
    /// suites, and no protection worth the name, so only the test
    /// environment gets it.
    TestsOnly,
}

impl HashCost {
    /// The cost of the environment `env`.
    pub(crate) fn of(env: Environment) -> HashCost {
        match env {
            Environment::Test => HashCost::TestsOnly,
            Environment::Development | Environment::Production => HashCost::Owasp,
        }
    }

    fn params(self) -> Result<Params, ApiError> {
        let (memory_kib, iterations) = match self {
            HashCost::Owasp => (19 * 1024, 2),
            HashCost::TestsOnly => (64, 1),
        };
        Params::new(memory_kib, iterations, 1, None).map_err(|err| {
            tracing::error!(error = %err, "invalid argon2 parameters");
            ApiError::Internal
        })
    }
}

/// The bytes of a new salt.
const SALT_LEN: usize = 16;

thread_local! {
    /// The working memory of this hashing thread (19 MiB), allocated once
    /// and reused by every hash it computes.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes argon2 of `password` with `salt` into `out`, in this thread's
/// reused memory.
fn compute(argon: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), ApiError> {
    BLOCKS
        .with_borrow_mut(|blocks| {
            if blocks.len() != params.block_count() {
                *blocks = vec![Block::default(); params.block_count()];
            }
            argon.hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice())
        })
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::Internal
        })
}

/// The PHC string of `password` with a fresh random salt.
fn hash_now(password: &[u8], cost: HashCost) -> Result<String, ApiError> {
    let params = cost.params()?;
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|err| {
        tracing::error!(error = %err, "no randomness for a salt");
        ApiError::Internal
    })?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    compute(&argon, &params, password, &salt, &mut out)?;
    let unwritable = |err: &dyn std::fmt::Display| {
        tracing::error!(error = %err, "a password hash could not be written");
        ApiError::Internal
    };
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|err| unwritable(&err))?,
        salt: Some(Salt::new(&salt).map_err(|err| unwritable(&err))?),
        hash: Some(Output::new(&out).map_err(|err| unwritable(&err))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored`, recomputed with the
/// stored algorithm, version, parameters and salt.
fn matches(password: &[u8], stored: &str) -> Result<bool, ApiError> {
    let unreadable = |what: &str| {
        tracing::error!(what, "a stored password hash does not parse");
        ApiError::Internal
    };
    let parsed = PasswordHash::new(stored).map_err(|_| unreadable("the string"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| unreadable("the algorithm"))?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).map_err(|_| unreadable("the version"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|_| unreadable("the parameters"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable("the salt or hash"));
    };
    let mut out = vec![0u8; expected.len()];
    compute(&Argon2::new(algorithm, version, params.clone()), &params, password, salt.as_ref(), &mut out)?;
    // `Output` compares in constant time.
    Ok(Output::new(&out).is_ok_and(|computed| computed == expected))
}

/// Hashes of a password nobody has, one per cost, so that a login for an
/// unknown e-mail costs the same verification as one for a known e-mail.
static DECOY_HASHES: LazyLock<[Option<String>; 2]> = LazyLock::new(|| {
    let decoy = |cost| hash_now(uuid::Uuid::new_v4().to_string().as_bytes(), cost).ok();
    [decoy(HashCost::Owasp), decoy(HashCost::TestsOnly)]
});

fn decoy(cost: HashCost) -> Option<String> {
    DECOY_HASHES[usize::from(cost == HashCost::TestsOnly)].clone()
}

/// The PHC string of `password` with a fresh random salt, at `cost`.
pub(crate) async fn hash(password: String, cost: HashCost) -> Result<String, ApiError> {
    blocking(move || hash_now(password.as_bytes(), cost)).await
}

/// Whether the PHC string `stored` was made at a lower cost than `cost`
/// (less memory or fewer passes), so that it should be made again.
pub(crate) fn weaker_than(stored: &str, cost: HashCost) -> bool {
    let (Ok(parsed), Ok(wanted)) = (PasswordHash::new(stored), cost.params()) else { return false };
    Params::try_from(&parsed).is_ok_and(|params| params.m_cost() < wanted.m_cost() || params.t_cost() < wanted.t_cost())
}

/// Whether `password` matches `stored` (a PHC string). With no stored hash
/// (unknown user) the decoy of `cost` is checked instead, and the answer
/// is `false`.
pub(crate) async fn verify(password: String, stored: Option<String>, cost: HashCost) -> Result<bool, ApiError> {
    blocking(move || {
        let known = stored.is_some();
        let Some(phc) = stored.or_else(|| decoy(cost)) else {
            return Err(ApiError::Internal);
        };
        let matched = matches(password.as_bytes(), &phc)?;
        Ok(known && matched)
    })
    .await
}

/// Hashing threads, and so hashings running at once: two per core, so the
/// cores stay busy while one waits to be scheduled.
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2)
}

/// How long a request waits for a hashing turn before it is refused.
const TURN_WAIT: Duration = Duration::from_secs(2);

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and the turns at them: a job holds a turn from the
/// moment it is queued until it has run.
struct HashingPool {
    turns: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

static POOL: LazyLock<Option<HashingPool>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let mut started = 0;
    for index in 0..hashing_threads() {
        let queue = Arc::clone(&queue);
        let spawned = std::thread::Builder::new().name(format!("fastsaas-hash-{index}")).spawn(move || {
            loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    // A job that panics answers nothing (its caller gets a
                    // 500); the thread stays for the next one.
                    Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                    Err(_) => return,
                }
            }
        });
        match spawned {
            Ok(_) => started += 1,
            Err(err) => tracing::error!(error = %err, "cannot start a hashing thread"),
        }
    }
    (started > 0).then(|| HashingPool { turns: Arc::new(Semaphore::new(started)), jobs: Mutex::new(jobs) })
});

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let Some(pool) = POOL.as_ref() else {
        return Err(ApiError::Internal);
    };
    let turn = match tokio::time::timeout(TURN_WAIT, Arc::clone(&pool.turns).acquire_owned()).await {
        Ok(Ok(turn)) => turn,
        Ok(Err(_)) => return Err(ApiError::Internal),
        Err(_) => return Err(ApiError::RateLimited(1)),
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    // The turn goes with the work: a client that hangs up does not free it
    // while its hash still runs.
    let job: Job = Box::new(move || {
        let _turn = turn;
        let _ = answer.send(work());
    });
    let queued = pool.jobs.lock().map_err(|_| ApiError::Internal)?.send(job);
    if queued.is_err() {
        tracing::error!("the hashing threads are gone");
        return Err(ApiError::Internal);
    }
    answered.await.map_err(|_| {
        tracing::error!("a hashing job ended without an answer");
        ApiError::Internal
    })?
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        let ours = hash_now(b"correct horse", HashCost::Owasp).unwrap_or_default();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, HashCost::Owasp.params().unwrap_or_default());
        let parsed = PasswordHash::new(&ours).unwrap_or_else(|err| panic!("{err}"));
        assert!(standard.verify_password(b"correct horse", &parsed).is_ok(), "the argon2 crate verifies ours");
        let theirs = standard.hash_password(b"battery staple").unwrap_or_else(|err| panic!("{err}")).to_string();
        assert_eq!(matches(b"battery staple", &theirs).ok(), Some(true), "we verify the argon2 crate's");
        assert_eq!(matches(b"battery stapler", &theirs).ok(), Some(false));
        assert_eq!(matches(b"correct horse", &ours).ok(), Some(true));
        assert!(matches(b"x", "not a hash").is_err());
    }

    #[test]
    fn the_tests_only_cost_is_cheap_and_still_checks_passwords() {
        let cheap = hash_now(b"correct horse", HashCost::TestsOnly).unwrap_or_default();
        assert!(cheap.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{cheap}");
        assert_eq!(matches(b"correct horse", &cheap).ok(), Some(true));
        assert_eq!(matches(b"battery staple", &cheap).ok(), Some(false));
        let owasp = hash_now(b"correct horse", HashCost::Owasp).unwrap_or_default();
        assert!(owasp.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{owasp}");
        assert!(weaker_than(&cheap, HashCost::Owasp) && !weaker_than(&owasp, HashCost::Owasp));
        assert!(!weaker_than(&cheap, HashCost::TestsOnly) && !weaker_than("not a hash", HashCost::Owasp));
        assert_eq!(HashCost::of(Environment::Production), HashCost::Owasp);
        assert_eq!(HashCost::of(Environment::Development), HashCost::Owasp);
    }
}
