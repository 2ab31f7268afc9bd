//! Dispatch: which courtyard a work order belongs to. Plain functions over the registry, so the
//! hotline intake and a later Open311 GeoReport endpoint place requests the same way.

use gridwalk_domain::Courtyard;

const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// Great-circle distance in metres.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The courtyard nearest to a point, with its distance in metres. A linear scan: 5,710
/// courtyards take microseconds, and work orders come in by the minute, not the microsecond.
pub fn nearest_courtyard(courtyards: &[Courtyard], lat: f64, lon: f64) -> Option<(&Courtyard, f64)> {
    courtyards
        .iter()
        .map(|c| (c, haversine_m(lat, lon, c.point.lat, c.point.lon)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.code.cmp(&b.0.code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_domain::registry_gen::demo_registry;

    #[test]
    fn a_courtyards_own_point_dispatches_to_it() {
        let reg = demo_registry();
        for c in reg.courtyards.iter().step_by(997) {
            let (found, d) = nearest_courtyard(&reg.courtyards, c.point.lat, c.point.lon).unwrap();
            assert_eq!(found.point, c.point, "a point on a courtyard dispatches to that courtyard");
            assert!(d < 1.0, "distance to itself is ~0");
        }
        assert!(nearest_courtyard(&[], 39.9, 116.4).is_none(), "an empty registry dispatches nowhere");
        let d = haversine_m(39.9, 116.4, 40.0, 116.4);
        assert!((d - 11_119.0).abs() < 50.0, "0.1 degree of latitude is about 11.1 km, got {d}");
    }
}
