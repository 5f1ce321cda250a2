//! Quiet hours: a daily window, in an organisation's local time, in which
//! nothing the bot starts by itself (a reminder, an expiry notice, a paced
//! lesson: every wake-up) is sent. A wake-up due inside the window waits
//! until it ends; replies to a learner's own message are sent at once.

use chrono::{DateTime, Days, LocalResult, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed window: `start` (inclusive) to `end` (exclusive), local times;
/// across midnight when `start > end` (`21:00`-`07:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub zone: Tz,
}

/// Reads `HH:MM` (24-hour clock).
pub fn parse_time(text: &str) -> Result<NaiveTime, String> {
    let text = text.trim();
    let well_formed = text.len() == 5 && text.as_bytes()[2] == b':';
    NaiveTime::parse_from_str(text, "%H:%M")
        .ok()
        .filter(|_| well_formed)
        .ok_or_else(|| format!("`{text}` is not a time of day: write HH:MM, e.g. 21:00"))
}

impl Window {
    /// The window from stored settings; `zone` when they name none.
    pub fn new(start: &str, end: &str, zone: Tz) -> Result<Window, String> {
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        if start == end {
            return Err("start and end are the same time: the window would be empty".to_owned());
        }
        Ok(Window { start, end, zone })
    }

    /// If `at` falls inside the window, the instant it ends; else `None`.
    pub fn holds(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.zone);
        let time = local.time();
        let today = local.date_naive();
        let end_day = if self.start < self.end {
            (self.start <= time && time < self.end).then_some(today)?
        } else if time >= self.start {
            today.checked_add_days(Days::new(1))?
        } else if time < self.end {
            today
        } else {
            return None;
        };
        let end = end_day.and_time(self.end);
        let instant = match self.zone.from_local_datetime(&end) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(first, _) => first,
            // The end falls in a gap (clocks moved forward): an hour on.
            LocalResult::None => self
                .zone
                .from_local_datetime(&(end + chrono::Duration::hours(1)))
                .earliest()?,
        };
        Some(instant.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn overnight_windows_end_the_next_morning() {
        let w = Window::new("21:00", "07:00", chrono_tz::Africa::Nairobi).unwrap();
        // Nairobi is UTC+3: 21:00 local is 18:00 UTC.
        assert_eq!(w.holds(utc("2026-12-04T17:59:00Z")), None);
        assert_eq!(
            w.holds(utc("2026-12-04T18:00:00Z")),
            Some(utc("2026-12-05T04:00:00Z"))
        );
        assert_eq!(
            w.holds(utc("2026-12-05T01:30:00Z")),
            Some(utc("2026-12-05T04:00:00Z"))
        );
        assert_eq!(w.holds(utc("2026-12-05T04:00:00Z")), None);
    }

    #[test]
    fn daytime_windows_end_the_same_day() {
        let w = Window::new("12:00", "14:00", chrono_tz::UTC).unwrap();
        assert_eq!(w.holds(utc("2026-12-04T11:59:59Z")), None);
        assert_eq!(
            w.holds(utc("2026-12-04T13:00:00Z")),
            Some(utc("2026-12-04T14:00:00Z"))
        );
        assert_eq!(w.holds(utc("2026-12-04T14:00:00Z")), None);
    }

    #[test]
    fn an_end_in_a_daylight_saving_gap_moves_an_hour_on() {
        // Europe/Paris skipped 02:00-03:00 on 2026-03-29.
        let w = Window::new("22:00", "02:30", chrono_tz::Europe::Paris).unwrap();
        assert_eq!(
            w.holds(utc("2026-03-28T23:00:00Z")),
            Some(utc("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn bad_times_are_explained() {
        for bad in ["9pm", "25:00", "7:00", "07:00:00", ""] {
            let err = Window::new(bad, "07:00", chrono_tz::UTC).unwrap_err();
            assert!(err.contains("HH:MM"), "{bad}: {err}");
        }
        let err = Window::new("07:00", "07:00", chrono_tz::UTC).unwrap_err();
        assert!(err.contains("same time"), "{err}");
    }
}
