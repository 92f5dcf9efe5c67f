//! Limits on login and registration attempts, per client address and per
//! e-mail (governor's GCRA, kept in memory per process).

use std::num::NonZeroU32;

use fastsaas_core::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys tracked before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Attempts allowed per key per minute.
pub(crate) struct AttemptLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for AttemptLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttemptLimiter").finish_non_exhaustive()
    }
}

impl AttemptLimiter {
    pub(crate) fn per_minute(attempts: u32) -> AttemptLimiter {
        let quota = Quota::per_minute(NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN));
        AttemptLimiter { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default() }
    }

    /// Counts an attempt for `key`, or answers 429 with the seconds to wait.
    pub(crate) fn attempt(&self, key: &str) -> Result<(), ApiError> {
        if self.limiter.len() > SWEEP_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}
