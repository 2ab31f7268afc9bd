//! Trends and seasons (趋势): weekly counts per category and unit, with the same week of last
//! year beside each, so that a seasonal matter reads as seasonal and not as a surge.
//!
//! # Definitions
//! - A week's **count**: reports of the category received in the unit that ISO week (Beijing),
//!   as hotspots count them.
//! - **The same week last year**: the ISO week with the same number in the previous ISO year.
//!   Week 53 compares with the previous year's week 53 if it had one, else with its week 52
//!   (its last). Both sit at the turn of the year, the same season.
//! - A week **rises** when its count against the 8 weeks before it passes the hotspot test
//!   ([`super::hotspot::judge`]).
//! - A rising week is **seasonal** when the same week last year also rose against its own 8
//!   weeks before: the same jump came at the same time a year ago (heating in November, leaks in
//!   the rainy season). A rising week that is not seasonal is a **surge**.

use super::hotspot::{judge, BASELINE_WINDOWS};
use super::{week_label, Unit, WEEK_MS};
use crate::calendar::{beijing, instant};
use crate::vocab::Category;
use jiff::civil::{ISOWeekDate, Time, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The start of the same ISO week last year (see the module's definition).
pub fn same_week_last_year(week_start_ms: i64) -> i64 {
    let iso = beijing(week_start_ms).date().iso_week_date();
    let year = iso.year().saturating_sub(1);
    let monday = ISOWeekDate::new(year, iso.week(), Weekday::Monday)
        .or_else(|_| ISOWeekDate::new(year, 52, Weekday::Monday))
        .map(|w| w.date())
        .unwrap_or(jiff::civil::Date::MIN);
    instant(monday.to_datetime(Time::midnight()))
}

/// One week of a series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendPoint {
    pub week_start_ms: i64,
    pub label: String,
    pub count: u64,
    pub last_year_week_start_ms: i64,
    pub last_year_label: String,
    pub last_year: u64,
    pub rising: bool,
    pub seasonal: bool,
}

/// One category's series in one unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    pub unit: Unit,
    pub category: Category,
    pub points: Vec<TrendPoint>,
}

/// The weeks whose counts a series over `weeks` needs: the weeks themselves and the 8 before,
/// this year and last. A store reads counts for `[earliest, latest + 1 week)`.
pub fn weeks_needed(weeks: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    for w in weeks {
        for base in [*w, same_week_last_year(*w)] {
            for back in 0..=BASELINE_WINDOWS as i64 {
                out.push(base - back * WEEK_MS);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The series of one (unit, category) from its weekly counts (week start → count; missing
/// weeks count 0).
pub fn series(counts: &HashMap<i64, u64>, weeks: &[i64], min_count: u64, z_at: f64) -> Vec<TrendPoint> {
    let count = |w: i64| counts.get(&w).copied().unwrap_or(0);
    let rises = |w: i64| {
        let baseline: Vec<u64> = (1..=BASELINE_WINDOWS as i64).rev().map(|b| count(w - b * WEEK_MS)).collect();
        judge(&baseline, count(w), min_count, z_at).hot
    };
    weeks
        .iter()
        .map(|w| {
            let ly = same_week_last_year(*w);
            let rising = rises(*w);
            TrendPoint {
                week_start_ms: *w,
                label: week_label(*w),
                count: count(*w),
                last_year_week_start_ms: ly,
                last_year_label: week_label(ly),
                last_year: count(ly),
                rising,
                seasonal: rising && rises(ly),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn monday(y: i16, m: i8, d: i8) -> i64 {
        instant(date(y, m, d).at(0, 0, 0, 0))
    }

    #[test]
    fn the_same_week_last_year_across_the_turn_of_the_year() {
        // 2027-W01 starts 2027-01-04; 2026-W01 started 2025-12-29, in the calendar year before.
        assert_eq!(same_week_last_year(monday(2027, 1, 4)), monday(2025, 12, 29), "W01 ↔ W01 across a calendar year");
        // 2026 has 53 ISO weeks (it starts on a Thursday); 2025 has 52.
        assert_eq!(week_label(monday(2026, 12, 28)), "2026-W53");
        assert_eq!(same_week_last_year(monday(2026, 12, 28)), monday(2025, 12, 22), "W53 ↔ the last week, W52");
        assert_eq!(week_label(monday(2025, 12, 22)), "2025-W52");
        // 2021-W01 ↔ 2020-W01; and 2021-W52 ↔ 2020-W52 although 2020 had a W53.
        assert_eq!(same_week_last_year(monday(2021, 12, 27)), monday(2020, 12, 21));
        assert_eq!(same_week_last_year(monday(2015, 12, 28)), monday(2014, 12, 22), "2015-W53 ↔ 2014-W52");
        assert_eq!(same_week_last_year(monday(2021, 1, 4)), monday(2019, 12, 30), "2021-W01 ↔ 2020-W01, which began in 2019");
    }

    #[test]
    fn heating_in_november_is_seasonal_a_leak_surge_is_not() {
        let w = monday(2026, 11, 16); // 2026-W47
        let ly = same_week_last_year(w);
        assert_eq!(week_label(ly), "2025-W47");
        let mut heating = HashMap::new();
        for b in 1..=8 {
            heating.insert(w - b * WEEK_MS, 1);
            heating.insert(ly - b * WEEK_MS, 1);
        }
        heating.insert(w, 9); // z = (9 − 1) / 1 = 8
        heating.insert(ly, 7); // last year too: z = 6
        let p = &series(&heating, &[w], 3, 3.0)[0];
        assert_eq!((p.count, p.last_year, p.rising, p.seasonal), (9, 7, true, true), "the same jump a year ago: seasonal");
        let mut leak = heating.clone();
        leak.insert(ly, 1);
        let p = &series(&leak, &[w], 3, 3.0)[0];
        assert_eq!((p.rising, p.seasonal), (true, false), "no jump a year ago: a surge");
        let empty = series(&HashMap::new(), &[w], 3, 3.0);
        assert_eq!((empty[0].count, empty[0].rising), (0, false), "an empty week is 0 and does not rise");
    }

    #[test]
    fn weeks_needed_cover_both_baselines() {
        let w = monday(2026, 11, 16);
        let need = weeks_needed(&[w]);
        assert_eq!(need.len(), 18, "9 weeks this year, 9 last year");
        assert!(need.contains(&(w - 8 * WEEK_MS)) && need.contains(&(same_week_last_year(w) - 8 * WEEK_MS)));
    }
}
