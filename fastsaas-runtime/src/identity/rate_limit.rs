//! Limits on sign-in and registration, designed so that guessing stays slow
//! while nobody can lock someone else out (docs/permissions.md, "Login and
//! registration limits"):
//!
//! - every attempt counts per client address (an IPv6 client by its /64,
//!   the block one subscriber gets), and per address and e-mail;
//! - failed logins count per e-mail; past the limit the e-mail is slowed
//!   down (429), except for an address that signed in to it successfully
//!   before, so a third party hammering an account does not keep its owner
//!   out.
//!
//! Counts are governor's GCRA, kept in memory per process. Every table is
//! bounded: keys are validated before they are counted, stale keys are
//! swept, and a table that is full of fresh keys refuses new ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastsaas_core::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys tracked before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;
/// Keys a table holds at most; beyond, new keys are refused until the
/// sweep frees room (an attack from more addresses than this per minute).
const MAX_KEYS: usize = 100_000;
/// How long a successful sign-in makes its address known to the account.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

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
            self.limiter.shrink_to_fit();
        }
        if self.limiter.len() > MAX_KEYS {
            tracing::warn!(keys = self.limiter.len(), "an attempt table is full; new keys wait");
            return Err(ApiError::RateLimited(60));
        }
        self.limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}

/// The key of a client address: itself for IPv4, its /64 for IPv6.
pub(crate) fn address_group(address: Option<IpAddr>) -> String {
    match address {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// Failed logins per e-mail, the slow-down they cause, and the addresses
/// that have signed in to each account (which the slow-down lets through).
#[derive(Debug)]
pub(crate) struct AccountGuard {
    failures: AttemptLimiter,
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    /// Slowed-down e-mails, until when.
    slowed: HashMap<String, Instant>,
    /// `(e-mail, address group)` → the last successful sign-in.
    known: HashMap<(String, String), Instant>,
}

impl AccountGuard {
    /// An account is slowed down once it has had `failures` failed logins
    /// within a minute (at the rate `failures` a minute).
    pub(crate) fn failures_per_minute(failures: u32) -> AccountGuard {
        let rate = NonZeroU32::new(failures).unwrap_or(NonZeroU32::MIN);
        // The failure that empties the bucket is the one that slows down.
        let burst = NonZeroU32::new(failures.saturating_sub(1)).unwrap_or(NonZeroU32::MIN);
        let failures = AttemptLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        };
        AccountGuard { failures, state: Mutex::default() }
    }

    /// 429 while `email` is slowed down, unless `address` has signed in to
    /// it before.
    pub(crate) fn admit(&self, email: &str, address: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(until) = state.slowed.get(email).filter(|until| **until > now) else {
            return Ok(());
        };
        let key = (email.to_owned(), address.to_owned());
        if state.known.get(&key).is_some_and(|last| now.duration_since(*last) < KNOWN_FOR) {
            return Ok(());
        }
        let wait = until.duration_since(now);
        Err(ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)))
    }

    /// Records a failed login; past the limit the e-mail is slowed down.
    pub(crate) fn failed(&self, email: &str) {
        if let Err(ApiError::RateLimited(seconds)) = self.failures.attempt(email) {
            let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            if state.slowed.len() >= MAX_KEYS {
                state.slowed.retain(|_, until| *until > now);
            }
            // A full table of fresh slow-downs adds none: failing open here
            // never locks an owner out.
            if state.slowed.len() < MAX_KEYS {
                state.slowed.insert(email.to_owned(), now + Duration::from_secs(seconds.max(1)));
            }
        }
    }

    /// Records a successful sign-in from `address`.
    pub(crate) fn succeeded(&self, email: &str, address: &str) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if state.known.len() >= MAX_KEYS {
            state.known.retain(|_, last| now.duration_since(*last) < KNOWN_FOR);
        }
        if state.known.len() < MAX_KEYS {
            state.known.insert((email.to_owned(), address.to_owned()), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(IpAddr::from([0; 4]));
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(address_group(Some(one)), address_group(Some(other)));
        assert_ne!(address_group(Some(one)), address_group(Some(elsewhere)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(address_group(Some(mapped)), "192.0.2.7");
    }

    #[test]
    fn a_slowed_account_still_admits_an_address_it_knows() {
        let guard = AccountGuard::failures_per_minute(2);
        guard.succeeded("ann@example.com", "198.51.100.1");
        for _ in 0..3 {
            guard.failed("ann@example.com");
        }
        assert!(guard.admit("ann@example.com", "203.0.113.9").is_err(), "a stranger is slowed down");
        assert!(guard.admit("ann@example.com", "198.51.100.1").is_ok(), "the owner's address is not");
        assert!(guard.admit("ben@example.com", "203.0.113.9").is_ok(), "other accounts are untouched");
    }
}
