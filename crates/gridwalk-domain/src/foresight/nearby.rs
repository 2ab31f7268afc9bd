//! "Already reported nearby" (一事一单): before a worker saves a report, the open issues it may
//! repeat; at hotline intake, the open issue an order probably duplicates.
//!
//! # Definitions
//! - **Nearby** an intended report (courtyard `c`, category `k`, point `p`): every open issue
//!   at courtyard `c` (any category), and every open issue of category `k` whose point lies
//!   within `nearby_radius_m` of `p`. Same courtyard first, then by distance, then newest.
//! - **Probable duplicate** of a hotline order: the nearest open issue of the same category
//!   within `nearby_radius_m` of the order's point, received at most `duplicate_days` days
//!   before the order (and not after it). The district chooses whether such an order opens its
//!   own ticket linked to the other (`link`) or is attached to it as a "me too" (`attach`).
//!
//! An issue's point is its report's GPS point, else its courtyard's registry point.

use super::geo::distance_m;
use super::DAY_MS;
use crate::ids::*;
use crate::registry::GeoPoint;
use crate::vocab::Category;
use serde::{Deserialize, Serialize};

/// An open issue as the check needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenIssue {
    pub id: IssueId,
    pub courtyard: CourtyardId,
    pub category: Category,
    pub point: GeoPoint,
    pub received_at_ms: i64,
}

/// One match, and why it matched.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NearbyMatch {
    pub issue: IssueId,
    pub same_courtyard: bool,
    pub same_category: bool,
    pub distance_m: f64,
}

/// The open issues near an intended report, in the order the Report screen lists them.
pub fn nearby(candidates: &[OpenIssue], courtyard: CourtyardId, category: Category, point: GeoPoint, radius_m: f64) -> Vec<NearbyMatch> {
    let mut out: Vec<(NearbyMatch, i64)> = candidates
        .iter()
        .filter_map(|c| {
            let d = distance_m(point, c.point);
            let same_courtyard = c.courtyard == courtyard;
            let same_category = c.category == category;
            (same_courtyard || (same_category && d <= radius_m))
                .then_some((NearbyMatch { issue: c.id, same_courtyard, same_category, distance_m: d }, c.received_at_ms))
        })
        .collect();
    out.sort_by(|(a, ra), (b, rb)| {
        b.same_courtyard.cmp(&a.same_courtyard).then(a.distance_m.total_cmp(&b.distance_m)).then(rb.cmp(ra)).then(a.issue.cmp(&b.issue))
    });
    out.into_iter().map(|(m, _)| m).collect()
}

/// The open issue an order (category, point, receipt) probably duplicates, if any.
pub fn probable_duplicate(
    candidates: &[OpenIssue],
    category: Category,
    point: GeoPoint,
    received_ms: i64,
    radius_m: f64,
    days: i64,
) -> Option<NearbyMatch> {
    let since = received_ms.saturating_sub(days.saturating_mul(DAY_MS));
    candidates
        .iter()
        .filter(|c| c.category == category && (since..=received_ms).contains(&c.received_at_ms))
        .map(|c| (c, distance_m(point, c.point)))
        .filter(|(_, d)| *d <= radius_m)
        .min_by(|(a, da), (b, db)| da.total_cmp(db).then(b.received_at_ms.cmp(&a.received_at_ms)).then(a.id.cmp(&b.id)))
        .map(|(c, d)| NearbyMatch { issue: c.id, same_courtyard: false, same_category: true, distance_m: d })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(n: u8, yard: u8, category: Category, lat: f64, received: i64) -> OpenIssue {
        OpenIssue {
            id: IssueId(uuid::Uuid::from_bytes([n; 16])),
            courtyard: CourtyardId(uuid::Uuid::from_bytes([yard; 16])),
            category,
            point: GeoPoint { lat, lon: 116.45 },
            received_at_ms: received,
        }
    }
    const LAT: f64 = 39.95;
    // 0.001° of latitude is 111.2 m.

    #[test]
    fn nearby_same_courtyard_first_then_same_category_within_the_radius() {
        let here = CourtyardId(uuid::Uuid::from_bytes([1; 16]));
        let c = [
            issue(1, 1, Category::Noise, LAT + 0.003, 10),  // same courtyard, other category, 334 m
            issue(2, 2, Category::Leak, LAT + 0.001, 20),   // same category, 111 m
            issue(3, 3, Category::Leak, LAT + 0.0019, 30),  // same category, 211 m: outside 200
            issue(4, 4, Category::Noise, LAT + 0.0001, 40), // other category, 11 m, other courtyard
            issue(5, 5, Category::Leak, LAT - 0.0005, 50),  // same category, 56 m
        ];
        let m = nearby(&c, here, Category::Leak, GeoPoint { lat: LAT, lon: 116.45 }, 200.0);
        let ids: Vec<u8> = m.iter().map(|m| m.issue.0.as_bytes()[0]).collect();
        assert_eq!(ids, vec![1, 5, 2], "same courtyard first, then by distance; 211 m and other categories out");
        assert!(m[0].same_courtyard && !m[0].same_category);
        assert!(nearby(&c, here, Category::Leak, GeoPoint { lat: LAT, lon: 116.45 }, 0.0).len() == 1, "radius 0: the courtyard's own only");
    }

    #[test]
    fn a_probable_duplicate_is_the_nearest_recent_one_of_the_category() {
        let day = DAY_MS;
        let now = 100 * day;
        let c = [
            issue(1, 1, Category::Leak, LAT + 0.001, now - 2 * day),  // 111 m, 2 days
            issue(2, 2, Category::Leak, LAT + 0.0005, now - 8 * day), // 56 m, but 8 days: too old
            issue(3, 3, Category::Noise, LAT, now - day),             // other category
            issue(4, 4, Category::Leak, LAT + 0.0012, now - day),     // 133 m
            issue(5, 5, Category::Leak, LAT, now + day),              // received after the order
        ];
        let p = GeoPoint { lat: LAT, lon: 116.45 };
        let d = probable_duplicate(&c, Category::Leak, p, now, 200.0, 7).unwrap();
        assert_eq!(d.issue.0.as_bytes()[0], 1, "the nearest within 7 days and 200 m");
        assert!(probable_duplicate(&c, Category::Leak, p, now, 100.0, 7).is_none(), "nothing within 100 m and 7 days");
        assert_eq!(probable_duplicate(&c, Category::Leak, p, now, 200.0, 8).unwrap().issue.0.as_bytes()[0], 2, "8 days reach issue 2");
    }
}
