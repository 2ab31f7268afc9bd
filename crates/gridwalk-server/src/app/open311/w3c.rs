//! W3C datetimes (the W3C-DTF profile of ISO 8601 that GeoReport v2 uses), by hand: every
//! datetime we write carries a timezone (we render Beijing time, `+08:00`), and every one we
//! read must carry one, because a datetime without a zone names no instant.

use super::error::Open311Error;

pub use gridwalk_domain::calendar::BEIJING_OFFSET_MS;
use gridwalk_domain::calendar::{civil_from_days, days_from_civil, DAY_MS};

fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(if m == 12 { y + 1 } else { y }, if m == 12 { 1 } else { m + 1 }, 1) - days_from_civil(y, m, 1)
}

/// `ms` since the epoch as `YYYY-MM-DDThh:mm:ss+08:00` (whole seconds, Beijing time).
pub fn format(ms: i64) -> String {
    let local = ms.div_euclid(1000) * 1000 + BEIJING_OFFSET_MS;
    let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS));
    let secs = local.rem_euclid(DAY_MS) / 1000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00", secs / 3600, secs / 60 % 60, secs % 60)
}

fn digits(s: &str, field: &str, text: &str) -> Result<i64, Open311Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Open311Error::BadDatetime { field: field.to_owned(), value: text.to_owned() });
    }
    s.parse().map_err(|_| Open311Error::BadDatetime { field: field.to_owned(), value: text.to_owned() })
}

/// Parse `YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm)` into ms since the epoch. `field` names the
/// parameter in the error.
pub fn parse(text: &str, field: &str) -> Result<i64, Open311Error> {
    let bad = || Open311Error::BadDatetime { field: field.to_owned(), value: text.to_owned() };
    let (date, rest) = text.split_once('T').ok_or_else(bad)?;
    let mut dp = date.split('-');
    let (y, mo, d) = match (dp.next(), dp.next(), dp.next(), dp.next()) {
        (Some(y), Some(m), Some(d), None) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            (digits(y, field, text)?, digits(m, field, text)?, digits(d, field, text)?)
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(bad());
    }
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (t, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':').ok_or_else(bad)?;
        if zh.len() != 2 || zm.len() != 2 {
            return Err(bad());
        }
        let (zh, zm) = (digits(zh, field, text)?, digits(zm, field, text)?);
        if zh > 14 || zm > 59 {
            return Err(bad());
        }
        (t, sign * (zh * 3_600_000 + zm * 60_000))
    };
    let (hms, frac) = time.split_once('.').map_or((time, None), |(a, b)| (a, Some(b)));
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let h = digits(parts[0], field, text)?;
    let mi = digits(parts[1], field, text)?;
    let s = if parts.len() == 3 { digits(parts[2], field, text)? } else { 0 };
    if h > 23 || mi > 59 || s > 59 || (frac.is_some() && parts.len() != 3) {
        return Err(bad());
    }
    let ms_part = match frac {
        Some(f) => {
            let n = digits(f, field, text)?;
            let scale = 10_i64.checked_pow(f.len() as u32).ok_or_else(bad)?;
            n * 1000 / scale
        }
        None => 0,
    };
    let local = days_from_civil(y, mo, d) * DAY_MS + ((h * 60 + mi) * 60 + s) * 1000 + ms_part;
    Ok(local - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
