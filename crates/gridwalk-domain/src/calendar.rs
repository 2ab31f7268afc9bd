//! Beijing time, shared by the rates (ISO weeks, months) and the server's W3C datetimes.
//!
//! The calendar itself is jiff's (proleptic Gregorian, ISO 8601 weeks). Pure: Beijing is a fixed
//! offset (UTC+8, no daylight saving), so nothing here reads the clock, the system time zone or a
//! tz database.

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::Timestamp;

/// Beijing time (UTC+8): where the district is.
pub const BEIJING: Offset = Offset::constant(8);

/// `ms` since the epoch as a timestamp. jiff's timestamps span the years -9999 to 9999; an
/// instant outside that (only a wildly wrong clock makes one) saturates at the nearer end.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// A timestamp as whole ms since the epoch, rounded down (jiff's `as_millisecond` truncates
/// toward zero, which for an instant before the epoch with a sub-ms fraction is one ms later).
pub fn millisecond(ts: Timestamp) -> i64 {
    ts.as_millisecond() - i64::from(ts.subsec_nanosecond() % 1_000_000 < 0)
}

/// `ms` since the epoch as Beijing's wall-clock date and time (saturating as [`timestamp`]).
pub fn beijing(ms: i64) -> DateTime {
    BEIJING.to_datetime(timestamp(ms))
}

/// Beijing's wall-clock `dt` as ms since the epoch; a `dt` whose instant lies outside jiff's
/// range saturates at the nearer end.
pub fn instant(dt: DateTime) -> i64 {
    let ts = BEIJING.to_timestamp(dt).unwrap_or(if dt.year() < 0 { Timestamp::MIN } else { Timestamp::MAX });
    millisecond(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn beijing_is_utc_plus_8_both_ways() {
        assert_eq!(beijing(0), date(1970, 1, 1).at(8, 0, 0, 0), "the epoch is 08:00 in Beijing");
        assert_eq!(beijing(-1), date(1970, 1, 1).at(7, 59, 59, 999_000_000), "before the epoch counts back");
        assert_eq!(instant(date(2024, 2, 29).at(0, 0, 0, 0)), 19_782 * 86_400_000 - 8 * 3_600_000, "a leap day");
        assert_eq!(instant(date(2026, 3, 1).at(0, 0, 0, 0)), 20_513 * 86_400_000 - 8 * 3_600_000);
        for ms in [0, -1, 1_760_000_000_123, -62_135_596_800_001] {
            assert_eq!(instant(beijing(ms)), ms, "{ms} round-trips through Beijing wall time");
        }
    }

    #[test]
    fn sub_millisecond_instants_round_down() {
        assert_eq!(millisecond(Timestamp::new(-1, -500_000).unwrap()), -1001, "before the epoch: down, not toward zero");
        assert_eq!(millisecond(Timestamp::new(1, 500_000).unwrap()), 1000);
        assert_eq!(millisecond(Timestamp::new(-5, -123_000_000).unwrap()), -5123, "a whole ms stays put");
    }

    #[test]
    fn instants_beyond_jiffs_years_saturate_instead_of_panicking() {
        assert_eq!(beijing(i64::MAX), BEIJING.to_datetime(Timestamp::MAX));
        assert_eq!(beijing(i64::MIN), BEIJING.to_datetime(Timestamp::MIN));
        assert_eq!(instant(DateTime::MIN), millisecond(Timestamp::MIN), "-9999-01-01 00:00 +08:00 precedes jiff's range");
        assert_eq!(instant(DateTime::MAX), millisecond(Timestamp::MAX), "9999-12-31 23:59 +08:00 follows it");
    }
}
