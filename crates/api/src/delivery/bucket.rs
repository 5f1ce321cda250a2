//! A token bucket per channel: at most `rate` messages a second, with
//! bursts of up to one second's worth. A dozen lines instead of the
//! `governor` crate: one bucket per channel, tokens reserved ahead (a
//! negative balance is the queue), waits computed, never polled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chatcourse_storage::ChannelId;

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub(super) struct Buckets(Mutex<HashMap<ChannelId, Bucket>>);

impl Buckets {
    /// Takes a token of `channel`'s bucket; returns how long to wait
    /// before using it.
    pub(super) fn take(&self, channel: ChannelId, rate: u32) -> Duration {
        let rate = f64::from(rate.max(1));
        let now = Instant::now();
        let Ok(mut buckets) = self.0.lock() else {
            return Duration::ZERO;
        };
        let bucket = buckets.entry(channel).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = now;
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / rate)
        }
    }

    /// Returns a token taken and not used.
    pub(super) fn give_back(&self, channel: ChannelId) {
        if let Ok(mut buckets) = self.0.lock()
            && let Some(bucket) = buckets.get_mut(&channel)
        {
            bucket.tokens += 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let buckets = Buckets::default();
        let ch = ChannelId(1);
        for _ in 0..10 {
            assert_eq!(buckets.take(ch, 10), Duration::ZERO);
        }
        let wait = buckets.take(ch, 10);
        assert!(
            wait > Duration::from_millis(80) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        let wait = buckets.take(ch, 10);
        assert!(
            wait > Duration::from_millis(180) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        buckets.give_back(ch);
        let wait = buckets.take(ch, 10);
        assert!(
            wait > Duration::from_millis(180) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another channel has its own bucket.
        assert_eq!(buckets.take(ChannelId(2), 1), Duration::ZERO);
    }
}
