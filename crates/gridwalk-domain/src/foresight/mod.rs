//! 未诉先办: finding problems before anyone complains (查·应·解·判). Walk-around coverage,
//! hotspots, trends with their seasons, the early-warning list and "already reported nearby".
//!
//! Every method here is a pure function over counts and records the caller hands in: the
//! server reads the counts with one GROUP BY each, the tablet from its own store, and both
//! call the same code. The definitions below are the ones the server README states beside the
//! three rates.
//!
//! # Weeks
//! ISO weeks in Beijing time (Monday 00:00 +08:00), as the rates use ([`week_start`]). A week
//! is named by its start in ms since the epoch and labelled `2026-W48`.
//!
//! # Where an issue or a visit is
//! An issue is at its report's GPS point, or else at its courtyard's registry point. A visit
//! is at its GPS point; a visit without one is not judged for distance.

pub mod coverage;
pub mod geo;
pub mod hotspot;
pub mod nearby;
pub mod trend;
pub mod warning;

use crate::calendar::beijing;
use crate::ids::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;

/// Monday 1969-12-29 00:00 in Beijing: the start of the ISO week holding the epoch. Every
/// week starts a whole number of weeks from it (Beijing keeps no daylight saving), which is
/// what lets a store bucket weeks with integer arithmetic: see [`week_index`].
pub const WEEK_ORIGIN_MS: i64 = -3 * DAY_MS - 8 * 3_600_000;

/// The index of the week holding `ms`, counted from [`WEEK_ORIGIN_MS`] (floor division, so
/// instants before the origin count back).
pub fn week_index(ms: i64) -> i64 {
    (ms as i128 - WEEK_ORIGIN_MS as i128).div_euclid(WEEK_MS as i128) as i64
}

/// The start of the ISO week (Beijing) holding `ms`.
pub fn week_start(ms: i64) -> i64 {
    WEEK_ORIGIN_MS.saturating_add(week_index(ms).saturating_mul(WEEK_MS))
}

/// `2026-W48`: the ISO week-year and week of the week starting at `start_ms`.
pub fn week_label(start_ms: i64) -> String {
    let iso = beijing(start_ms).date().iso_week_date();
    format!("{}-W{:02}", iso.year(), iso.week())
}

/// A unit the figures are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "level", content = "id", rename_all = "snake_case")]
pub enum Unit {
    District,
    Subdistrict(SubdistrictId),
    Community(CommunityId),
    Courtyard(CourtyardId),
    Worker(WorkerId),
}

/// Where a courtyard sits, and who answers for it: what every method needs of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duty {
    pub courtyard: CourtyardId,
    pub community: CommunityId,
    pub subdistrict: SubdistrictId,
    /// The courtyard's responsible grid worker (责任网格员), if one is named.
    pub worker: Option<WorkerId>,
}

/// The district's tunables for these methods (the server's `[foresight]`, the tablet's copy).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rules {
    /// A courtyard not visited in this many days is overdue (`stale_days`, default 14).
    pub stale_days: i64,
    /// A visit whose GPS point lies farther than this from its courtyard counts only as
    /// flagged (`far_visit_m`, default 300).
    pub far_visit_m: f64,
    /// Fewer reports than this in a window is never a hotspot (`hotspot_min_count`, default 3).
    pub hotspot_min_count: u64,
    /// The z-score a window's count must reach over its trailing baseline (`hotspot_z`,
    /// default 3.0).
    pub hotspot_z: f64,
    /// "Already reported nearby": the same category within this radius (`nearby_radius_m`,
    /// default 200).
    pub nearby_radius_m: f64,
    /// A hotline order is a probable duplicate of an open issue received at most this many
    /// days before it (`duplicate_days`, default 7).
    pub duplicate_days: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { stale_days: 14, far_visit_m: 300.0, hotspot_min_count: 3, hotspot_z: 3.0, nearby_radius_m: 200.0, duplicate_days: 7 }
    }
}

/// Bounds on what a caller may ask, checked before any arithmetic.
pub const MAX_RADIUS_M: f64 = 5_000.0;
pub const MAX_WINDOW_DAYS: i64 = 90;
pub const MAX_WEEKS: i64 = 53;
pub const MAX_STALE_DAYS: i64 = 365;

/// A request the methods refuse, with the field and why. The server answers it as
/// `invalid_query`, the tablet as the same code.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AskError {
    #[error("{field} must be between {min} and {max}, not {value}")]
    OutOfRange { field: String, value: String, min: String, max: String },
    #[error("{from} must come before {to}")]
    WrongOrder { from: String, to: String },
}

impl AskError {
    pub fn zh(&self) -> String {
        match self {
            AskError::OutOfRange { field, value, min, max } => format!("{field} 应在 {min} 到 {max} 之间，实为 {value}"),
            AskError::WrongOrder { from, to } => format!("{from} 应早于 {to}"),
        }
    }
}

/// `value` within `[min, max]`, else the refusal naming `field`.
pub fn bounded_i64(field: &str, value: i64, min: i64, max: i64) -> Result<i64, AskError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AskError::OutOfRange { field: field.into(), value: value.to_string(), min: min.to_string(), max: max.to_string() })
    }
}

/// `value` within `[min, max]` and a number (NaN is refused), else the refusal naming `field`.
pub fn bounded_f64(field: &str, value: f64, min: f64, max: f64) -> Result<f64, AskError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AskError::OutOfRange { field: field.into(), value: value.to_string(), min: min.to_string(), max: max.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rates::Period;

    #[test]
    fn week_buckets_are_the_rates_iso_weeks() {
        assert_eq!(WEEK_ORIGIN_MS, Period::Week.start(0), "the origin is the ISO week of the epoch, Beijing time");
        // 2026-12-28 (Monday) 00:00 Beijing starts 2026-W53; one ms earlier is 2026-W52.
        let w53 = crate::calendar::instant(jiff::civil::date(2026, 12, 28).at(0, 0, 0, 0));
        for ms in [w53, w53 - 1, w53 + WEEK_MS - 1, 0, -1, WEEK_ORIGIN_MS - 1, 1_764_000_000_000] {
            assert_eq!(week_start(ms), Period::Week.start(ms), "week of {ms}");
        }
        assert_eq!(week_label(w53), "2026-W53");
        assert_eq!(week_label(w53 - 1), "2026-W52");
        assert_eq!(week_label(w53 + WEEK_MS), "2027-W01", "2027-W01 starts on 2027-01-04");
        assert_eq!(week_index(WEEK_ORIGIN_MS - 1), -1, "before the origin counts back");
    }

    #[test]
    fn bounds_refuse_nan_and_the_out_of_range() {
        assert!(bounded_f64("radius_m", f64::NAN, 0.0, 10.0).is_err());
        assert!(bounded_f64("radius_m", -1.0, 0.0, 10.0).is_err(), "a negative radius is refused");
        assert_eq!(bounded_i64("weeks", 4, 1, 53), Ok(4));
        let e = bounded_i64("weeks", 54, 1, 53).unwrap_err();
        assert_eq!(e.to_string(), "weeks must be between 1 and 53, not 54");
        assert_eq!(e.zh(), "weeks 应在 1 到 53 之间，实为 54");
    }
}
