//! The outbox's retry rules: what an answer from a receiver or a gateway
//! means for a message, and how long to wait before the next attempt.
//! Pure: the caller brings the clock and the randomness.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What one attempt's answer means for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver has it.
    Delivered,
    /// Try again later; `after` is the receiver's own wish (`Retry-After`).
    Retry { after: Option<Duration> },
    /// Trying again cannot help (a 4xx other than 408 and 429).
    Permanent,
}

/// The verdict for an HTTP status: 2xx delivered; 408, 429 and 5xx
/// retried; every other status (4xx, and 1xx/3xx, which a receiver
/// should not answer) permanent.
pub fn verdict_for_status(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry { after: retry_after },
        _ => Verdict::Permanent,
    }
}

/// Reads a `Retry-After` header: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`), relative to `now`. A date in the
/// past is no wait; anything else unreadable is ignored (`None`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        at.with_timezone(&Utc)
            .signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// How many times a message is tried, and the waits between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the message is failed.
    pub max_attempts: u32,
    /// The wait after the first failure, doubled after each further one.
    pub base: Duration,
    /// The longest computed wait.
    pub cap: Duration,
    /// The longest wait a `Retry-After` can ask for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts; waits of about 1 s, 2 s, 4 s ... capped at 10 min
    /// (about 25 min from the first attempt to the last); a receiver may
    /// ask for up to an hour.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10 * 60),
            max_retry_after: Duration::from_secs(60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts` failed ones, or
    /// `None` when the message has had all its attempts. `jitter` in
    /// `[0, 1)` spreads retries: half the exponential wait is fixed, half
    /// is random, so many messages failing together do not come back
    /// together. A `Retry-After` is honoured when it asks for longer.
    pub fn next_wait(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let exponential = self.base.saturating_mul(1 << doublings).min(self.cap);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let wait = exponential / 2 + exponential.mul_f64(jitter / 2.0);
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(self.max_retry_after));
        Some(wait.max(asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(verdict_for_status(200, None), Verdict::Delivered);
        assert_eq!(verdict_for_status(204, None), Verdict::Delivered);
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                verdict_for_status(status, Some(Duration::from_secs(3))),
                Verdict::Retry {
                    after: Some(Duration::from_secs(3))
                },
                "{status}"
            );
        }
        for status in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(
                verdict_for_status(status, None),
                Verdict::Permanent,
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-5", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn waits_grow_are_jittered_capped_and_end() {
        let policy = RetryPolicy::default();
        let low: Vec<Duration> = (1..policy.max_attempts)
            .map(|n| policy.next_wait(n, None, 0.0).unwrap())
            .collect();
        let high: Vec<Duration> = (1..policy.max_attempts)
            .map(|n| policy.next_wait(n, None, 0.999).unwrap())
            .collect();
        assert_eq!(low[0], Duration::from_millis(500));
        assert_eq!(low[1], Duration::from_secs(1));
        for pair in low.windows(2) {
            assert!(pair[0] <= pair[1], "{low:?}");
        }
        for (l, h) in low.iter().zip(&high) {
            assert!(
                l < h && *h < *l * 2 + Duration::from_millis(1),
                "{l:?} {h:?}"
            );
        }
        assert!(high.iter().all(|w| *w <= policy.cap));
        assert_eq!(policy.next_wait(policy.max_attempts, None, 0.5), None);
        assert_eq!(policy.next_wait(u32::MAX, None, 0.5), None);
        // The receiver's wish wins when longer, within a bound.
        assert_eq!(
            policy.next_wait(1, Some(Duration::from_secs(30)), 0.5),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            policy.next_wait(1, Some(Duration::from_secs(86_400)), 0.5),
            Some(policy.max_retry_after)
        );
        // Nonsense jitter is no jitter.
        assert_eq!(
            policy.next_wait(1, None, f64::NAN),
            Some(Duration::from_millis(500))
        );
    }
}
