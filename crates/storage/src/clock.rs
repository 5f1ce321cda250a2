//! Where a store gets the time of a turn.
//!
//! A turn reads its clock once, after it has taken the session's lock, and
//! stores that time on everything it writes; so within a session stored times
//! follow commit order (as far as the clock itself never steps back). Tests
//! use a [`ManualClock`] to move time instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// The time source of a store (and of the server built on it).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock ([`Utc::now`]). The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move: for tests. Share it behind
/// an `Arc` with the store ([`crate::StoreOptions::clock`]) and keep a handle
/// to [`ManualClock::set`] or [`ManualClock::advance`] it. Microsecond
/// precision (what the stores keep).
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock showing `start` until moved.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    /// Show `at` from now on (also earlier than before).
    pub fn set(&self, at: DateTime<Utc>) {
        self.micros.store(at.timestamp_micros(), Ordering::SeqCst);
    }

    /// Move forward by `by` (saturating at the latest representable time).
    pub fn advance(&self, by: std::time::Duration) {
        let step = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let max = DateTime::<Utc>::MAX_UTC.timestamp_micros();
        // The closure always returns Some, so this cannot fail.
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(step).min(max))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp_micros(1_000_000).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_millis(1500));
        assert_eq!(clock.now().timestamp_micros(), 2_500_000);
        clock.set(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::MAX);
        assert_eq!(
            clock.now().timestamp_micros(),
            DateTime::<Utc>::MAX_UTC.timestamp_micros()
        );
    }
}
