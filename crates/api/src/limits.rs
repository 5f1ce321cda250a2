//! Rate limits (GCRA, through the `governor` crate), per API key and per
//! client address, on what a client can repeat to hurt others:
//!
//! - **authentication failures** (a wrong or revoked key, an unknown or
//!   expired learner token), per client address: past the limit, the
//!   address gets `429 rate_limited` for every authenticated request,
//!   before its key is even looked up, until it may try again;
//! - **learner token creation**, per key and per address;
//! - **learner turns** (`POST /api/v1/message`, WebSocket frames), per key
//!   (a learner token counts as the key of its session) and per address.
//!
//! Each limit is a number per minute, with a burst of the same size (a
//! client may spend a minute's worth at once, then one every
//! 60/N seconds); `0` turns it off. Refusals are `429 rate_limited` with
//! `Retry-After` (whole seconds). Memory stays bounded: the keys that are
//! back to full allowance are dropped by [`Limiters::upkeep`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The limits, per minute; `0`: no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Authentication failures per client address.
    pub auth_failures_per_minute: u32,
    /// Learner tokens created per key and per address.
    pub tokens_per_minute: u32,
    /// Learner turns per key and per address.
    pub turns_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            auth_failures_per_minute: 30,
            tokens_per_minute: 300,
            turns_per_minute: 6000,
        }
    }
}

/// Who is asking: the hash of the key (API key, or the learner token's
/// session) and the client's address, where known.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub key: Option<String>,
    pub addr: Option<IpAddr>,
}

struct Limit<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Limit<K> {
    fn new(per_minute: u32) -> Option<Limit<K>> {
        NonZeroU32::new(per_minute).map(|n| Limit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        })
    }

    /// Spends one; `Err(wait)` when none is left.
    fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The server's limiters.
pub(crate) struct Limiters {
    auth_failures: Option<Limit<IpAddr>>,
    /// Addresses that spent their authentication failures, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    tokens_by_key: Option<Limit<String>>,
    tokens_by_addr: Option<Limit<IpAddr>>,
    turns_by_key: Option<Limit<String>>,
    turns_by_addr: Option<Limit<IpAddr>>,
}

fn refused(wait: Duration) -> ApiError {
    // Whole seconds, at least 1: a client that waits that long gets in.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

impl Limiters {
    pub(crate) fn new(limits: RateLimits) -> Limiters {
        Limiters {
            auth_failures: Limit::new(limits.auth_failures_per_minute),
            blocked: Mutex::new(HashMap::new()),
            tokens_by_key: Limit::new(limits.tokens_per_minute),
            tokens_by_addr: Limit::new(limits.tokens_per_minute),
            turns_by_key: Limit::new(limits.turns_per_minute),
            turns_by_addr: Limit::new(limits.turns_per_minute),
        }
    }

    /// Before authenticating: refused while the address is blocked.
    pub(crate) fn before_auth(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(addr) = addr else { return Ok(()) };
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&addr) {
            Some(until) if *until > Instant::now() => Err(refused(*until - Instant::now())),
            _ => Ok(()),
        }
    }

    /// An authentication failed: `error` (the 401), or `429` once the
    /// address has failed too often (it is then blocked for the wait).
    pub(crate) fn auth_failed(&self, addr: Option<IpAddr>, error: ApiError) -> ApiError {
        let (Some(addr), Some(limit)) = (addr, &self.auth_failures) else {
            return error;
        };
        match limit.check(&addr) {
            Ok(()) => error,
            Err(wait) => {
                let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                blocked.insert(addr, Instant::now() + wait);
                tracing::warn!(%addr, "too many authentication failures: address blocked");
                refused(wait)
            }
        }
    }

    /// One learner token is about to be created.
    pub(crate) fn token(&self, caller: &Caller) -> Result<(), ApiError> {
        check(&self.tokens_by_key, &self.tokens_by_addr, caller)
    }

    /// One learner turn is about to run.
    pub(crate) fn turn(&self, caller: &Caller) -> Result<(), ApiError> {
        check(&self.turns_by_key, &self.turns_by_addr, caller)
    }

    /// Forgets the keys back to full allowance and the blocks that ended.
    pub(crate) fn upkeep(&self) {
        for limit in [&self.tokens_by_key, &self.turns_by_key]
            .into_iter()
            .flatten()
        {
            limit.limiter.retain_recent();
        }
        for limit in [
            &self.auth_failures,
            &self.tokens_by_addr,
            &self.turns_by_addr,
        ]
        .into_iter()
        .flatten()
        {
            limit.limiter.retain_recent();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, until| *until > now);
    }
}

fn check(
    by_key: &Option<Limit<String>>,
    by_addr: &Option<Limit<IpAddr>>,
    caller: &Caller,
) -> Result<(), ApiError> {
    if let (Some(limit), Some(key)) = (by_key, &caller.key) {
        limit.check(key).map_err(refused)?;
    }
    if let (Some(limit), Some(addr)) = (by_addr, &caller.addr) {
        limit.check(addr).map_err(refused)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_worth_then_refused_with_a_wait() {
        let limiters = Limiters::new(RateLimits {
            auth_failures_per_minute: 2,
            tokens_per_minute: 3,
            turns_per_minute: 0,
        });
        let caller = Caller {
            key: Some("k".into()),
            addr: Some(IpAddr::from([127, 0, 0, 1])),
        };
        for _ in 0..3 {
            limiters.token(&caller).unwrap();
        }
        let e = limiters.token(&caller).unwrap_err();
        assert_eq!(e.code(), "rate_limited");
        assert!(
            matches!(e, ApiError::RateLimited { retry_after_secs } if (1..=20).contains(&retry_after_secs))
        );
        // Off: never refused.
        for _ in 0..10_000 {
            limiters.turn(&caller).unwrap();
        }
        // Two failures are 401s, the third a 429, then the address is
        // refused before authenticating.
        let addr = caller.addr;
        limiters.before_auth(addr).unwrap();
        for _ in 0..2 {
            let e = limiters.auth_failed(addr, ApiError::InvalidApiKey);
            assert_eq!(e.code(), "invalid_api_key");
        }
        assert_eq!(
            limiters.auth_failed(addr, ApiError::InvalidApiKey).code(),
            "rate_limited"
        );
        assert_eq!(
            limiters.before_auth(addr).unwrap_err().code(),
            "rate_limited"
        );
        limiters
            .before_auth(Some(IpAddr::from([10, 0, 0, 1])))
            .unwrap();
        limiters.upkeep();
        assert_eq!(
            limiters.before_auth(addr).unwrap_err().code(),
            "rate_limited"
        );
    }
}
