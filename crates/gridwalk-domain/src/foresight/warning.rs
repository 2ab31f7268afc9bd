//! Early warning (预警): one ranked list per scope, each entry with its reason.
//!
//! # Definitions
//! An entry is raised for:
//! - **a rising hotspot**: a courtyard × category hotspot ([`super::hotspot`]). Strength: `z ÷
//!   hotspot_z`.
//! - **repeated recurrences (愈后防复)**: a courtyard where at least [`RECURRENCE_MIN`] reports
//!   received in the last [`LOOKBACK_DAYS`] days repeat an earlier closed issue. Strength:
//!   recurrences ÷ [`RECURRENCE_MIN`].
//! - **a falling rate**: a community whose response or resolution rate over the last 28 days
//!   is at least [`RATE_DROP`] (10 points) below the 28 days before, both periods with at least
//!   [`RATE_MIN_RECEIVED`] issues. Strength: the drop ÷ [`RATE_DROP`] (the larger of the two).
//! - **unvisited but complaining**: a courtyard overdue for a visit ([`super::coverage`]) where
//!   at least one report came in over the last `stale_days`. Strength: reports × days since
//!   the last visit (or the lookback, if none) ÷ `stale_days`.
//!
//! Every strength is "times over its own line", so 1 is just raised and the kinds compare. The
//! list ranks by strength, then kind (the order above), then unit.

use super::hotspot::Hotspot;
use super::{Unit, DAY_MS};
use crate::ids::*;
use crate::rates::Ratio;
use crate::vocab::Category;
use serde::{Deserialize, Serialize};

pub const RECURRENCE_MIN: u64 = 2;
pub const LOOKBACK_DAYS: i64 = 28;
pub const RATE_DROP: f64 = 0.10;
pub const RATE_MIN_RECEIVED: u64 = 5;

/// Why an entry is on the list, with its facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    RisingHotspot { category: Category, count: u64, baseline_mean: f64, z: f64 },
    RepeatedRecurrence { recurrences: u64, days: i64 },
    FallingRate { rate: RateKind, before: f64, now: f64, received_before: u64, received_now: u64 },
    UnvisitedWithIssues { last_visit_ms: Option<i64>, days_unvisited: i64, reports: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RateKind {
    Response,
    Resolution,
}

impl Reason {
    fn rank(&self) -> u8 {
        match self {
            Reason::RisingHotspot { .. } => 0,
            Reason::RepeatedRecurrence { .. } => 1,
            Reason::FallingRate { .. } => 2,
            Reason::UnvisitedWithIssues { .. } => 3,
        }
    }

    /// The reason in Chinese, for the list.
    pub fn zh(&self) -> String {
        match self {
            Reason::RisingHotspot { category, count, baseline_mean, z } => {
                format!("{}诉求上升：本期 {count} 件，前 8 期平均 {baseline_mean:.1} 件（z = {z:.1}）", category.label_zh())
            }
            Reason::RepeatedRecurrence { recurrences, days } => format!("近 {days} 天 {recurrences} 件诉求为已办结问题复发"),
            Reason::FallingRate { rate, before, now, .. } => format!(
                "{}由 {:.0}% 降至 {:.0}%",
                match rate {
                    RateKind::Response => "响应率",
                    RateKind::Resolution => "解决率",
                },
                before * 100.0,
                now * 100.0
            ),
            Reason::UnvisitedWithIssues { days_unvisited, reports, last_visit_ms } => match last_visit_ms {
                Some(_) => format!("{days_unvisited} 天未走访，其间收到 {reports} 件诉求"),
                None => format!("近 {days_unvisited} 天无走访记录，其间收到 {reports} 件诉求"),
            },
        }
    }

    /// The reason in English.
    pub fn en(&self) -> String {
        match self {
            Reason::RisingHotspot { category, count, baseline_mean, z } => {
                format!("{} rising: {count} this window against {baseline_mean:.1} on average before (z = {z:.1})", category.label_en())
            }
            Reason::RepeatedRecurrence { recurrences, days } => format!("{recurrences} reports in {days} days repeat closed issues"),
            Reason::FallingRate { rate, before, now, .. } => format!(
                "{} fell from {:.0}% to {:.0}%",
                match rate {
                    RateKind::Response => "Response rate",
                    RateKind::Resolution => "Resolution rate",
                },
                before * 100.0,
                now * 100.0
            ),
            Reason::UnvisitedWithIssues { days_unvisited, reports, last_visit_ms } => match last_visit_ms {
                Some(_) => format!("Not visited for {days_unvisited} days; {reports} reports came in"),
                None => format!("No visit in {days_unvisited} days; {reports} reports came in"),
            },
        }
    }
}

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub unit: Unit,
    pub strength: f64,
    pub reason: Reason,
    pub reason_zh: String,
    pub reason_en: String,
}

/// A community's rates in the two periods compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateChange {
    pub community: CommunityId,
    pub before_response: Ratio,
    pub now_response: Ratio,
    pub before_resolution: Ratio,
    pub now_resolution: Ratio,
}

/// A courtyard's visit and report facts for "unvisited but complaining".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuietYard {
    pub courtyard: CourtyardId,
    pub last_visit_ms: Option<i64>,
    /// Reports received there over the last `stale_days`.
    pub reports: u64,
}

/// What the list is made from.
pub struct Inputs<'a> {
    pub hotspots: &'a [Hotspot],
    /// Per courtyard: reports over the last [`LOOKBACK_DAYS`] days that repeat a closed issue.
    pub recurrences: &'a [(CourtyardId, u64)],
    pub rates: &'a [RateChange],
    pub yards: &'a [QuietYard],
    pub now_ms: i64,
    pub stale_days: i64,
    /// How far back visits were looked for (a courtyard never visited in it counts this many days).
    pub lookback_days: i64,
    pub hotspot_z: f64,
}

fn entry(unit: Unit, strength: f64, reason: Reason) -> Warning {
    Warning { unit, strength, reason_zh: reason.zh(), reason_en: reason.en(), reason }
}

fn fall(rate: RateKind, before: &Ratio, now: &Ratio) -> Option<(f64, Reason)> {
    if before.denominator < RATE_MIN_RECEIVED || now.denominator < RATE_MIN_RECEIVED {
        return None;
    }
    let (b, n) = (before.rate?, now.rate?);
    // Compared in whole hundredths: 0.8 − 0.7 is 0.0999… in floating point, and a fall of
    // exactly ten points must count.
    let drop = ((b - n) * 10_000.0).round() / 10_000.0;
    (drop >= RATE_DROP).then(|| {
        (
            drop / RATE_DROP,
            Reason::FallingRate { rate, before: b, now: n, received_before: before.denominator, received_now: now.denominator },
        )
    })
}

/// The ranked list (see the module's definitions).
pub fn rank(i: &Inputs<'_>) -> Vec<Warning> {
    let mut out = Vec::new();
    for h in i.hotspots {
        let j = &h.judgement;
        let reason = Reason::RisingHotspot { category: h.category, count: j.count, baseline_mean: j.baseline_mean, z: j.z };
        out.push(entry(h.unit, j.z / i.hotspot_z.max(f64::MIN_POSITIVE), reason));
    }
    for (yard, n) in i.recurrences {
        if *n >= RECURRENCE_MIN {
            let reason = Reason::RepeatedRecurrence { recurrences: *n, days: LOOKBACK_DAYS };
            out.push(entry(Unit::Courtyard(*yard), *n as f64 / RECURRENCE_MIN as f64, reason));
        }
    }
    for r in i.rates {
        let falls = [
            fall(RateKind::Response, &r.before_response, &r.now_response),
            fall(RateKind::Resolution, &r.before_resolution, &r.now_resolution),
        ];
        if let Some((s, reason)) = falls.into_iter().flatten().max_by(|a, b| a.0.total_cmp(&b.0)) {
            out.push(entry(Unit::Community(r.community), s, reason));
        }
    }
    let stale_before = i.now_ms.saturating_sub(i.stale_days.saturating_mul(DAY_MS));
    for y in i.yards {
        let overdue = y.last_visit_ms.is_none_or(|l| l < stale_before);
        if !overdue || y.reports == 0 {
            continue;
        }
        let days = y.last_visit_ms.map_or(i.lookback_days, |l| i.now_ms.saturating_sub(l) / DAY_MS);
        let reason = Reason::UnvisitedWithIssues { last_visit_ms: y.last_visit_ms, days_unvisited: days, reports: y.reports };
        out.push(entry(Unit::Courtyard(y.courtyard), y.reports as f64 * days as f64 / i.stale_days.max(1) as f64, reason));
    }
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength).then(a.reason.rank().cmp(&b.reason.rank())).then(a.unit.cmp(&b.unit)));
    out
}

#[cfg(test)]
mod tests {
    use super::super::hotspot::Judgement;
    use super::*;

    fn yard(n: u8) -> CourtyardId {
        CourtyardId(uuid::Uuid::from_bytes([n; 16]))
    }
    fn ratio(numerator: u64, denominator: u64) -> Ratio {
        Ratio { numerator, denominator, rate: (denominator > 0).then(|| numerator as f64 / denominator as f64) }
    }

    #[test]
    fn the_list_by_hand() {
        let now = 1_000 * DAY_MS;
        let hot = [Hotspot {
            unit: Unit::Courtyard(yard(1)),
            category: Category::Heating,
            judgement: Judgement { count: 6, baseline_mean: 1.0, z: 5.0, hot: true },
        }];
        let recur = [(yard(2), 3), (yard(3), 1)];
        let community = CommunityId(uuid::Uuid::from_bytes([9; 16]));
        let rates = [RateChange {
            community,
            before_response: ratio(8, 10), // 80 %
            now_response: ratio(7, 10),    // 70 %: exactly 10 points
            before_resolution: ratio(5, 10),
            now_resolution: ratio(5, 10),
        }];
        let yards = [
            QuietYard { courtyard: yard(4), last_visit_ms: Some(now - 21 * DAY_MS), reports: 2 },
            QuietYard { courtyard: yard(5), last_visit_ms: Some(now - 3 * DAY_MS), reports: 9 }, // visited lately
            QuietYard { courtyard: yard(6), last_visit_ms: None, reports: 0 },                   // no reports
        ];
        let list = rank(&Inputs {
            hotspots: &hot,
            recurrences: &recur,
            rates: &rates,
            yards: &yards,
            now_ms: now,
            stale_days: 14,
            lookback_days: 28,
            hotspot_z: 3.0,
        });
        // Strengths: unvisited 2 × 21 / 14 = 3; hotspot 5 / 3 = 1.67; recurrences 3 / 2 = 1.5;
        // response 10 points / 10 = 1.
        let got: Vec<(Unit, String)> = list.iter().map(|w| (w.unit, format!("{:.2}", w.strength))).collect();
        assert_eq!(
            got,
            vec![
                (Unit::Courtyard(yard(4)), "3.00".into()),
                (Unit::Courtyard(yard(1)), "1.67".into()),
                (Unit::Courtyard(yard(2)), "1.50".into()),
                (Unit::Community(community), "1.00".into()),
            ],
            "ranked by strength; one recurrence, a visited courtyard and a quiet one raise nothing"
        );
        assert_eq!(list[3].reason_zh, "响应率由 80% 降至 70%");
        assert_eq!(list[0].reason_en, "Not visited for 21 days; 2 reports came in");
    }

    #[test]
    fn a_rate_needs_enough_issues_in_both_periods() {
        let c = CommunityId(uuid::Uuid::from_bytes([9; 16]));
        let thin = RateChange {
            community: c,
            before_response: ratio(4, 4),
            now_response: ratio(0, 4),
            before_resolution: ratio(0, 0),
            now_resolution: ratio(0, 0),
        };
        let list = rank(&Inputs {
            hotspots: &[],
            recurrences: &[],
            rates: &[thin],
            yards: &[],
            now_ms: 0,
            stale_days: 14,
            lookback_days: 28,
            hotspot_z: 3.0,
        });
        assert!(list.is_empty(), "100 % → 0 % over 4 issues each is too few to judge");
    }
}
