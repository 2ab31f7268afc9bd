//! Distances on the ground, for "far from its courtyard" and "nearby". Haversine on a sphere of
//! the mean Earth radius: at a district's scale (a few km) it is within a fraction of a metre
//! of the ellipsoid, far below a tablet's GPS error.

use crate::registry::GeoPoint;

/// The great-circle distance between two points, metres: the address matcher's, so a
/// "nearby" and a "placed at" never disagree.
pub use crate::address::haversine_m as distance_m;
use crate::address::EARTH_RADIUS_M;

/// The latitude and longitude box holding every point within `radius_m` of `c`: what an index
/// on `(lat, lon)` narrows to before [`distance_m`] decides. Slightly larger than the circle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_min: f64,
    pub lon_max: f64,
}

impl BoundingBox {
    pub fn around(c: GeoPoint, radius_m: f64) -> BoundingBox {
        let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
        // Meridians converge: a degree of longitude is shorter by cos(lat). Beijing is far from
        // the poles, so the cosine never nears zero; the floor only keeps the box finite.
        let dlon = dlat / c.lat.to_radians().cos().max(0.01);
        BoundingBox { lat_min: c.lat - dlat, lat_max: c.lat + dlat, lon_min: c.lon - dlon, lon_max: c.lon + dlon }
    }

    pub fn contains(&self, p: GeoPoint) -> bool {
        (self.lat_min..=self.lat_max).contains(&p.lat) && (self.lon_min..=self.lon_max).contains(&p.lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_by_hand() {
        let a = GeoPoint { lat: 39.9, lon: 116.4 };
        assert_eq!(distance_m(a, a), 0.0);
        // One thousandth of a degree of latitude: 6,371,008.8 × π / 180 / 1000 = 111.195 m.
        let north = GeoPoint { lat: 39.901, lon: 116.4 };
        assert!((distance_m(a, north) - 111.195).abs() < 0.01, "{}", distance_m(a, north));
        // Of longitude at 39.9°: 111.195 × cos(39.9°) = 85.310 m.
        let east = GeoPoint { lat: 39.9, lon: 116.401 };
        assert!((distance_m(a, east) - 85.310).abs() < 0.01, "{}", distance_m(a, east));
    }

    #[test]
    fn the_box_holds_the_circle() {
        let c = GeoPoint { lat: 39.95, lon: 116.5 };
        let b = BoundingBox::around(c, 200.0);
        for (dlat, dlon) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (0.7, 0.7)] {
            // A point 199 m away in each direction is inside the box.
            let k = 199.0 / 111_195.0;
            let p = GeoPoint { lat: c.lat + dlat * k, lon: c.lon + dlon * k / c.lat.to_radians().cos() };
            assert!(distance_m(c, p) < 200.0 && b.contains(p), "{dlat},{dlon}");
        }
        assert!(!b.contains(GeoPoint { lat: c.lat + 0.0025, lon: c.lon }), "278 m north is outside");
    }
}
