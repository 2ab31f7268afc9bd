//! W3C datetimes (the W3C-DTF profile of ISO 8601 that GeoReport v2 uses), through jiff: every
//! datetime we write carries a timezone (we render Beijing time, `+08:00`), and every one we
//! read must carry one, because a datetime without a zone names no instant.

use super::error::Open311Error;
use gridwalk_domain::calendar::{self, BEIJING};
use jiff::fmt::temporal::DateTimePrinter;
use jiff::Timestamp;

/// Whole seconds: a precision of 0 truncates the fraction, which in civil time rounds down.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(0));

/// `ms` since the epoch as `YYYY-MM-DDThh:mm:ss+08:00` (whole seconds, Beijing time). An instant
/// beyond the years -9999..=9999 (only a wildly wrong clock makes one) is written as the nearer
/// end of that range.
pub fn format(ms: i64) -> String {
    PRINTER.timestamp_with_offset_to_string(&calendar::timestamp(ms), BEIJING)
}

/// Whether `text` has W3C-DTF's shape `YYYY-MM-DDThh:mm[:ss[.s+]](Z|±hh:mm)`, with seconds at
/// most 59 and a zone at most 14 hours from UTC.
///
/// jiff's parser reads the whole of Temporal's ISO 8601 / RFC 3339 grammar, which is far more than
/// W3C-DTF, and takes all of this: a lowercase `t` or `z`, a space for the `T`, the basic format
/// (`20251009T165320Z`), a time of hours only (`T16Z`), an hour-only or colon-less zone (`+08`,
/// `+0800`), zones with seconds and offsets up to ±25:59, a comma before the fraction, six-digit
/// signed years, bracketed annotations (`[Asia/Shanghai]`, ignored for a timestamp), and a leap
/// second `:60`, which it silently reads as `:59`. GeoReport v2 names W3C-DTF and the hand-written
/// parser this replaced refused all of those, so the shape is checked here first and jiff is left
/// the calendar: real months, days in the month (2025-02-29 is refused), hours below 24, minutes
/// below 60.
fn w3c_shape(text: &str) -> bool {
    // `9` stands for any ASCII digit; every other byte stands for itself.
    fn like(s: &[u8], pattern: &[u8]) -> bool {
        s.len() == pattern.len() && s.iter().zip(pattern).all(|(c, p)| if *p == b'9' { c.is_ascii_digit() } else { c == p })
    }
    let b = text.as_bytes();
    let (datetime, zone) = match b.split_last() {
        Some((b'Z', rest)) => (rest, &b[b.len() - 1..]),
        _ if b.len() >= 6 => b.split_at(b.len() - 6),
        _ => return false,
    };
    let zone_ok = zone == b"Z" || ((like(zone, b"+99:99") || like(zone, b"-99:99")) && zone[1..3] <= b"14"[..]);
    let (minutes, seconds) = datetime.split_at(datetime.len().min(16));
    let seconds_ok = match seconds {
        [] => true,
        // Seconds 00-59, then perhaps a fraction of at least one digit (jiff takes at most nine).
        [b':', b'0'..=b'5', b'0'..=b'9'] => true,
        [b':', b'0'..=b'5', b'0'..=b'9', b'.', fraction @ ..] => !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    zone_ok && like(minutes, b"9999-99-99T99:99") && seconds_ok
}

/// Parse `YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm)` into ms since the epoch (a fraction below the
/// ms rounds down). `field` names the parameter in the error.
pub fn parse(text: &str, field: &str) -> Result<i64, Open311Error> {
    let bad = || Open311Error::BadDatetime { field: field.to_owned(), value: text.to_owned() };
    if !w3c_shape(text) {
        return Err(bad());
    }
    let ts: Timestamp = text.parse().map_err(|_| bad())?;
    Ok(calendar::millisecond(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn renders_beijing_time_with_its_zone() {
        assert_eq!(format(0), "1970-01-01T08:00:00+08:00", "the epoch is 08:00 in Beijing");
        // 2025-10-09T16:00:00Z, hand-computed: 20,370 days after the epoch.
        assert_eq!(format(20_370 * DAY_MS + 16 * 3_600_000), "2025-10-10T00:00:00+08:00", "midnight Beijing crosses the date");
        assert_eq!(format(951_782_400_000), "2000-02-29T08:00:00+08:00", "a leap day renders");
        assert_eq!(format(-1000), "1970-01-01T07:59:59+08:00", "before the epoch floors, never rounds up");
    }

    #[test]
    fn parses_every_zone_form_and_round_trips() {
        let t = 1_760_000_000_000;
        assert_eq!(parse(&format(t), "d").unwrap(), t, "what we render we read back");
        assert_eq!(parse("2025-10-09T08:53:20Z", "d").unwrap(), t, "Z is UTC");
        assert_eq!(parse("2025-10-09T01:53:20-07:00", "d").unwrap(), t, "a negative zone");
        assert_eq!(parse("2025-10-09T16:53:20.000+08:00", "d").unwrap(), t, "fractional seconds");
        assert_eq!(parse("2025-10-09T16:53+08:00", "d").unwrap(), t - 20_000, "seconds are optional in W3C-DTF");
        assert_eq!(parse("2000-02-29T00:00:00Z", "d").unwrap(), 951_782_400_000);
    }

    #[test]
    fn refuses_what_names_no_instant() {
        for bad in [
            "2025-10-09",
            "2025-10-09T16:53:20",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-10-09T24:00:00Z",
            "2025-10-09T16:53:20+8",
            "yesterday",
            "2025-10-09T16:53:20+08:00x",
            "",
        ] {
            assert!(parse(bad, "start_date").is_err(), "{bad:?} is not a W3C datetime with a timezone");
        }
    }

    #[test]
    fn refuses_the_iso_8601_that_jiff_reads_but_w3c_dtf_is_not() {
        for bad in [
            "2025-10-09t16:53:20Z",
            "2025-10-09T16:53:20z",
            "2025-10-09 16:53:20Z",
            "20251009T165320Z",
            "2025-10-09T165320Z",
            "2025-10-09T16:53:20+08",
            "2025-10-09T16:53:20+0800",
            "2025-10-09T16:53:20+08:00:00",
            "2025-10-09T16:53:20,5Z",
            "2025-10-09T16:53:20.Z",
            "2025-10-09T16:53.5Z",
            "2025-10-09T16:53:20+08:00[Asia/Shanghai]",
            "2025-10-09T16:53:20Z[UTC]",
            "+002025-10-09T16:53:20Z",
            "2025-10-09T16Z",
            "2016-12-31T23:59:60Z",
            "2025-10-09T16:53:20+15:00",
            "2025-10-09T16:53:20+08:60",
            "2025-10-09T16:60:00Z",
            "2025-10-09T16:53:20.1234567890Z",
            "２０２５-10-09T16:53:20Z",
        ] {
            assert!(parse(bad, "start_date").is_err(), "{bad:?} is not W3C-DTF (YYYY-MM-DDThh:mm[:ss[.s]]TZD)");
        }
    }

    #[test]
    fn reads_every_w3c_dtf_form() {
        let t = 1_760_000_000_000;
        assert_eq!(parse("2025-10-09T16:53:20.5+08:00", "d").unwrap(), t + 500, "one fractional digit");
        assert_eq!(parse("2025-10-09T16:53:20.1239999+08:00", "d").unwrap(), t + 123, "a fraction below the ms is dropped");
        assert_eq!(parse("2025-10-09T08:53:20-00:00", "d").unwrap(), t, "-00:00 is UTC");
        assert_eq!(parse("2025-10-09T22:53:20+14:00", "d").unwrap(), t, "the farthest zone east");
        assert_eq!(parse("1969-12-31T23:59:59.9995Z", "d").unwrap(), -1, "before the epoch a fraction rounds down");
        assert_eq!(parse("1969-12-31T23:59:59.999Z", "d").unwrap(), -1);
        assert_eq!(format(-1), "1970-01-01T07:59:59+08:00");
    }

    #[test]
    fn instants_beyond_four_digit_years_render_without_panicking() {
        assert!(format(i64::MAX).starts_with("9999-12-31T"), "saturates at jiff's last instant: {}", format(i64::MAX));
        assert!(format(i64::MIN).starts_with("-009999-01-0"), "saturates at jiff's first instant: {}", format(i64::MIN));
    }
}
