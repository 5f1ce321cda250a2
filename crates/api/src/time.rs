//! Display times: `dd/MM/yyyy HH:mm` in the configured zone. Storage keeps
//! UTC; only the wire format uses the zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Formats `at` as `15/04/2020 16:52` in `tz`.
pub fn display(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

/// As [`display`], with `""` for a missing time (the family never sends
/// `null` for a time).
pub fn display_opt(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    at.map(|at| display(at, tz)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_in_the_zone() {
        let at = Utc.with_ymd_and_hms(2020, 4, 15, 13, 52, 59).unwrap();
        assert_eq!(display(at, chrono_tz::UTC), "15/04/2020 13:52");
        assert_eq!(display(at, chrono_tz::Africa::Nairobi), "15/04/2020 16:52");
        assert_eq!(display_opt(None, chrono_tz::UTC), "");
    }

    #[test]
    fn pads_day_month_hour_minute() {
        let at = Utc.with_ymd_and_hms(2021, 1, 2, 3, 4, 0).unwrap();
        assert_eq!(display(at, chrono_tz::UTC), "02/01/2021 03:04");
    }
}
