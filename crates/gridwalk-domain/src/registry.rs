//! The district registry: 街乡 › 社区/村 › 楼院/网格/村巷, plus the management and technical grids.

use crate::ids::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubdistrictKind {
    /// 街道
    Street,
    /// 地区 / 乡
    Township,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subdistrict {
    pub id: SubdistrictId,
    pub code: String,
    pub name: String,
    pub kind: SubdistrictKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Community {
    pub id: CommunityId,
    pub code: String,
    pub name: String,
    pub subdistrict: SubdistrictId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManagementGrid {
    pub id: ManagementGridId,
    pub code: String,
    pub subdistrict: SubdistrictId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TechnicalGrid {
    pub id: TechnicalGridId,
    pub code: String,
    pub management_grid: ManagementGridId,
    pub courtyard: CourtyardId,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Courtyard {
    pub id: CourtyardId,
    pub code: String,
    pub name: String,
    pub community: CommunityId,
    pub management_grid: ManagementGridId,
    pub point: GeoPoint,
}

/// A whole registry, as generated or imported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub subdistricts: Vec<Subdistrict>,
    pub communities: Vec<Community>,
    pub management_grids: Vec<ManagementGrid>,
    pub technical_grids: Vec<TechnicalGrid>,
    pub courtyards: Vec<Courtyard>,
}

/// Chaoyang district's bounding box (WGS-84), used by the generator and by sanity checks.
pub const CHAOYANG_BOUNDS: (GeoPoint, GeoPoint) = (GeoPoint { lat: 39.81, lon: 116.42 }, GeoPoint { lat: 40.10, lon: 116.64 });

pub fn in_chaoyang(p: GeoPoint) -> bool {
    let (lo, hi) = CHAOYANG_BOUNDS;
    (lo.lat..=hi.lat).contains(&p.lat) && (lo.lon..=hi.lon).contains(&p.lon)
}
