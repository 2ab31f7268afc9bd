//! Hotspots (热点): where reports of one category gather faster than they used to.
//!
//! # Definition
//! Counts are taken per cell (courtyard × category, or community × category) over a sliding
//! window of `window_days` ending now, and over the [`BASELINE_WINDOWS`] windows of the same
//! length just before it (its own trailing baseline, 8 weeks for the default 7 days). Reports
//! count by receipt time; duplicates, cancelled reports and proactive tasks do not count.
//!
//! The test is a Poisson z-score: with `μ` the baseline's mean count per window and `x` the
//! window's count, `z = (x − μ) / √max(μ, 1)`. Reports arriving at random around their usual
//! rate are Poisson, whose variance is its mean; the floor of 1 keeps a cell that had nothing
//! from turning its first two reports into an alarm. A cell is a **hotspot** when `x` reaches
//! `hotspot_min_count` (3: one report is never a hotspot) **and** `z ≥ hotspot_z` (3.0).
//! Hotspots rank by `z`, then by count.

use super::Unit;
use crate::vocab::Category;
use serde::{Deserialize, Serialize};

/// Trailing windows in the baseline.
pub const BASELINE_WINDOWS: usize = 8;

/// A cell's counts: `baseline` oldest first, then the current window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellCounts {
    pub unit: Unit,
    pub category: Category,
    pub baseline: [u64; BASELINE_WINDOWS],
    pub current: u64,
}

/// What the test says of one cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Judgement {
    pub count: u64,
    /// `μ`: the baseline's mean per window.
    pub baseline_mean: f64,
    pub z: f64,
    pub hot: bool,
}

/// The Poisson z-test of `current` against `baseline` (see the module's definition).
pub fn judge(baseline: &[u64], current: u64, min_count: u64, z_at: f64) -> Judgement {
    let n = baseline.len().max(1) as f64;
    let mean = baseline.iter().sum::<u64>() as f64 / n;
    let z = (current as f64 - mean) / mean.max(1.0).sqrt();
    Judgement { count: current, baseline_mean: mean, z, hot: current >= min_count && z >= z_at }
}

/// One hotspot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hotspot {
    pub unit: Unit,
    pub category: Category,
    #[serde(flatten)]
    pub judgement: Judgement,
}

/// The hotspots among `cells`, hottest first (by z, then count, then unit and category, so the
/// order is the same everywhere).
pub fn hotspots(cells: &[CellCounts], min_count: u64, z_at: f64) -> Vec<Hotspot> {
    let mut out: Vec<Hotspot> = cells
        .iter()
        .map(|c| Hotspot { unit: c.unit, category: c.category, judgement: judge(&c.baseline, c.current, min_count, z_at) })
        .filter(|h| h.judgement.hot)
        .collect();
    out.sort_by(|a, b| {
        b.judgement
            .z
            .total_cmp(&a.judgement.z)
            .then(b.judgement.count.cmp(&a.judgement.count))
            .then(a.unit.cmp(&b.unit))
            .then(a.category.cmp(&b.category))
    });
    out
}

/// How hot a place is on the console's map: 0 not a hotspot; 1 a hotspot (`z ≥ hotspot_z`);
/// 2 from twice the threshold; 3 from three times. A place's level is that of its hottest cell,
/// so the map and the 预警 list never disagree on what is hot.
pub fn map_level(hottest: Option<&Judgement>, z_at: f64) -> u8 {
    match hottest {
        Some(j) if j.hot => {
            // A threshold of 0 or less makes every hot cell level 3 (any z is "three times").
            let times = if z_at > 0.0 { j.z / z_at } else { f64::INFINITY };
            if times >= 3.0 {
                3
            } else if times >= 2.0 {
                2
            } else {
                1
            }
        }
        _ => 0,
    }
}

/// Which window a report received at `received_ms` falls in, for a window of `window_ms`
/// ending at `now_ms` (exclusive of later times): 0 is the oldest baseline window,
/// [`BASELINE_WINDOWS`] the current one; `None` outside them all. A store's GROUP BY buckets
/// with the same arithmetic: `(received − (now + 1 − 9 × window)) / window`.
pub fn window_of(received_ms: i64, now_ms: i64, window_ms: i64) -> Option<usize> {
    let start = first_window_start(now_ms, window_ms);
    if received_ms < start || received_ms > now_ms {
        return None;
    }
    usize::try_from((received_ms - start) / window_ms).ok().filter(|w| *w <= BASELINE_WINDOWS)
}

/// Where the oldest baseline window starts: the current window is `(now − window, now]`.
pub fn first_window_start(now_ms: i64, window_ms: i64) -> i64 {
    now_ms.saturating_add(1).saturating_sub(window_ms.saturating_mul(BASELINE_WINDOWS as i64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::foresight::DAY_MS;

    fn unit(n: u8) -> Unit {
        Unit::Courtyard(crate::CourtyardId(uuid::Uuid::from_bytes([n; 16])))
    }

    #[test]
    fn the_z_test_by_hand() {
        // Baseline 1,0,2,1,0,1,1,2: mean 1. Five now: z = (5 − 1) / √1 = 4 → hot.
        let j = judge(&[1, 0, 2, 1, 0, 1, 1, 2], 5, 3, 3.0);
        assert_eq!((j.baseline_mean, j.z, j.hot), (1.0, 4.0, true));
        // Baseline all 4: mean 4, √4 = 2. Ten: z = 3 → hot (at the line). Nine: 2.5 → not.
        assert_eq!(judge(&[4; 8], 10, 3, 3.0).z, 3.0);
        assert!(judge(&[4; 8], 10, 3, 3.0).hot, "z exactly at the threshold is hot");
        assert!(!judge(&[4; 8], 9, 3, 3.0).hot, "z 2.5 is not");
        // An empty baseline: the floor of 1 makes z = x. Two reports: z 2, and under the minimum.
        let j = judge(&[0; 8], 2, 3, 3.0);
        assert_eq!((j.z, j.hot), (2.0, false), "two reports where there were none: under the minimum count");
        // Just under the minimum count with a huge z still is not a hotspot.
        assert!(!judge(&[0; 8], 2, 3, 1.0).hot, "one below the minimum count is never a hotspot, whatever z");
        assert!(judge(&[0; 8], 3, 3, 3.0).hot, "three where there were none: z 3, at the minimum");
        // One report is never a hotspot under the default minimum, even with no threshold on z.
        assert!(!judge(&[0; 8], 1, crate::foresight::Rules::default().hotspot_min_count, 0.0).hot, "one report is never a hotspot");
    }

    #[test]
    fn map_levels_by_hand() {
        let j = |count: u64, z: f64, hot: bool| Judgement { count, baseline_mean: 1.0, z, hot };
        let cases: &[(Option<Judgement>, f64, u8, &str)] = &[
            (None, 3.0, 0, "no cell: not hot"),
            (Some(j(2, 9.0, false)), 3.0, 0, "a cell the test did not call hot stays 0, whatever its z"),
            (Some(j(3, 3.0, true)), 3.0, 1, "at the threshold: 1"),
            (Some(j(6, 5.9, true)), 3.0, 1, "under twice the threshold: 1"),
            (Some(j(7, 6.0, true)), 3.0, 2, "twice the threshold: 2"),
            (Some(j(10, 9.0, true)), 3.0, 3, "three times: 3"),
            (Some(j(3, 0.5, true)), 0.0, 3, "a threshold of 0: every hot cell is 3"),
        ];
        for (hottest, z_at, want, rule) in cases {
            assert_eq!(map_level(hottest.as_ref(), *z_at), *want, "{rule}");
        }
    }

    #[test]
    fn hotspots_rank_by_z_then_count() {
        let cell = |n: u8, baseline: [u64; 8], current: u64| CellCounts { unit: unit(n), category: Category::Leak, baseline, current };
        let cells = [cell(1, [1; 8], 5), cell(2, [0; 8], 6), cell(3, [4; 8], 9), cell(4, [1; 8], 5)];
        let h = hotspots(&cells, 3, 3.0);
        // z: cell 2 = 6, cells 1 and 4 = 4 (tie: by unit), cell 3 = 2.5 (out).
        assert_eq!(h.iter().map(|h| h.unit).collect::<Vec<_>>(), vec![unit(2), unit(1), unit(4)]);
    }

    #[test]
    fn windows_slide_with_now() {
        let now = 100 * DAY_MS;
        let w = 7 * DAY_MS;
        assert_eq!(window_of(now, now, w), Some(8), "now is in the current window");
        assert_eq!(window_of(now - w + 1, now, w), Some(8), "the current window is (now − 7 d, now]");
        assert_eq!(window_of(now - w, now, w), Some(7), "exactly 7 days ago is the last baseline window");
        assert_eq!(window_of(now - 9 * w + 1, now, w), Some(0));
        assert_eq!(window_of(now - 9 * w, now, w), None, "nine windows back is outside");
        assert_eq!(window_of(now + 1, now, w), None, "the future is in no window");
    }
}
