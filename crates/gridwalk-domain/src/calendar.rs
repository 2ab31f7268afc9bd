//! Calendar arithmetic for Beijing time, shared by the rates (ISO weeks, months) and the
//! server's W3C datetimes. Pure: proleptic Gregorian dates as day counts (H. Hinnant).

/// Beijing time (UTC+8): where the district is.
pub const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// (year, month 1-12, day 1-31) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_counts_round_trip_across_month_and_leap_boundaries() {
        let cases = [((1970, 1, 1), 0), ((2024, 2, 29), 19_782), ((2026, 1, 1), 20_454), ((2026, 3, 1), 20_513)];
        for ((y, m, d), days) in cases {
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d} is day {days}");
            assert_eq!(civil_from_days(days), (y, m, d), "day {days} is {y}-{m}-{d}");
        }
    }
}
