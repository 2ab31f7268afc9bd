//! The deterministic demo registry of Chaoyang district, and the CSV import of a real one.
//! Both are pure: the caller reads files, this only parses text.

use crate::ids::*;
use crate::registry::*;
use crate::validate;

/// The 43 subdistricts and townships, as shipped in `data/chaoyang-subdistricts.csv`.
pub const SUBDISTRICTS_CSV: &str = include_str!("../../../data/chaoyang-subdistricts.csv");

pub const DEMO_COMMUNITIES: usize = 604;
pub const DEMO_COURTYARDS: usize = 5710;
pub const DEMO_MANAGEMENT_GRIDS: usize = 322;
pub const DEMO_TECHNICAL_GRIDS: usize = 8260;

/// Registry ids are derived from codes, so the same code always has the same id: a re-import
/// or a re-generated demo registry is idempotent. The time part is a fixed epoch (2020-01-01).
const REGISTRY_EPOCH_MS: u64 = 1_577_836_800_000;

fn code_bytes(kind: &str, code: &str) -> [u8; 10] {
    // Two FNV-1a passes with different offsets give 16 well-mixed bytes; 10 are used.
    let mut out = [0u8; 10];
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h2: u64 = 0x6c62_272e_07bb_0142;
    for b in kind.bytes().chain([0u8]).chain(code.bytes()) {
        h1 = (h1 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        h2 = (h2 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(7);
    }
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes()[..2]);
    out
}

macro_rules! id_from_code {
    ($fn:ident, $ty:ty, $kind:literal) => {
        pub fn $fn(code: &str) -> $ty {
            <$ty>::from_parts(REGISTRY_EPOCH_MS, code_bytes($kind, code))
        }
    };
}
id_from_code!(subdistrict_id, SubdistrictId, "subdistrict");
id_from_code!(community_id, CommunityId, "community");
id_from_code!(courtyard_id, CourtyardId, "courtyard");
id_from_code!(management_grid_id, ManagementGridId, "management_grid");
id_from_code!(technical_grid_id, TechnicalGridId, "technical_grid");

/// splitmix64: a tiny seeded generator so the demo registry is the same on every machine.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const NAME_HEADS: &[&str] = &[
    "东", "西", "南", "北", "金", "华", "光", "和", "安", "新", "惠", "康", "瑞", "祥", "兴", "丽", "朝", "阳", "望", "顺", "平", "乐",
    "福", "春", "秀", "翠", "文", "明", "泰", "嘉",
];
const NAME_TAILS: &[&str] =
    &["园", "里", "苑", "庄", "坊", "湖", "桥", "门", "街", "台", "景", "城", "花园", "家园", "新村", "北里", "南里", "西里", "东里"];
const VILLAGE_TAILS: &[&str] = &["村", "庄村", "营村", "店村", "各庄村"];

/// Split `total` into `parts` near-equal shares, the first ones one bigger.
fn shares(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    (0..parts).map(move |i| total / parts + usize::from(i < total % parts))
}

pub fn parse_subdistricts(csv: &str) -> Result<Vec<Subdistrict>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, kind] = cols[..] else {
            return Err(ImportError::new(line_no, "expected 3 columns: code,name,kind"));
        };
        let kind = match kind {
            "street" => SubdistrictKind::Street,
            "township" => SubdistrictKind::Township,
            other => return Err(ImportError::new(line_no, format!("unknown kind {other:?}"))),
        };
        out.push(Subdistrict { id: subdistrict_id(code), code: code.into(), name: name.into(), kind });
    }
    Ok(out)
}

/// The three real places the source article names, pinned into the demo registry as
/// (subdistrict name, community name, courtyard name).
pub const ARTICLE_PLACES: [(&str, &str, Option<&str>); 3] =
    [("八里庄街道", "甘西社区", None), ("望京街道", "花家地南里社区", None), ("小关街道", "惠新西街社区", Some("惠新西街33号院"))];

/// Generate the demo registry: 43 subdistricts, 604 communities, 5,710 courtyards, 322
/// management grids and 8,260 technical grids, all inside Chaoyang's bounds. Deterministic.
pub fn demo_registry() -> Registry {
    let subdistricts = parse_subdistricts(SUBDISTRICTS_CSV).expect("shipped CSV parses");
    let mut rng = Mix(0x6772_6964_7761_6c6b); // "gridwalk"
    let (lo, hi) = CHAOYANG_BOUNDS;
    let mut reg = Registry { subdistricts: subdistricts.clone(), ..Default::default() };

    let community_counts: Vec<usize> = shares(DEMO_COMMUNITIES, subdistricts.len()).collect();
    let grid_counts: Vec<usize> = shares(DEMO_MANAGEMENT_GRIDS, subdistricts.len()).collect();
    let courtyard_counts: Vec<usize> = shares(DEMO_COURTYARDS, DEMO_COMMUNITIES).collect();
    // Courtyards that get a second technical grid, so the total is exactly 8,260.
    let extra_technical = DEMO_TECHNICAL_GRIDS - DEMO_COURTYARDS;
    let mut community_index = 0usize;
    let mut courtyard_index = 0usize;
    let cols = 7usize;
    for (si, sd) in subdistricts.iter().enumerate() {
        // Lay subdistricts on a 7-column grid over the bounding box; communities scatter inside.
        let cell_lat = (hi.lat - lo.lat) / 7.0;
        let cell_lon = (hi.lon - lo.lon) / cols as f64;
        let base_lat = lo.lat + cell_lat * (si / cols) as f64;
        let base_lon = lo.lon + cell_lon * (si % cols) as f64;

        let grids: Vec<ManagementGrid> = (0..grid_counts[si])
            .map(|g| {
                let code = format!("{}-M{:02}", sd.code, g + 1);
                ManagementGrid { id: management_grid_id(&code), code, subdistrict: sd.id }
            })
            .collect();
        let pinned: Vec<_> = ARTICLE_PLACES.iter().filter(|(s, _, _)| *s == sd.name).collect();
        for c in 0..community_counts[si] {
            let code = format!("{}-C{:02}", sd.code, c + 1);
            let base = format!("{}{}", NAME_HEADS[rng.below(NAME_HEADS.len())], NAME_HEADS[rng.below(NAME_HEADS.len())]);
            let village = sd.kind == SubdistrictKind::Township && c % 2 == 1;
            let name = match pinned.get(c) {
                Some((_, community, _)) => community.to_string(),
                None if village => format!("{base}{}", VILLAGE_TAILS[rng.below(VILLAGE_TAILS.len())]),
                None => format!("{base}{}社区", NAME_TAILS[rng.below(NAME_TAILS.len())]),
            };
            let community = Community { id: community_id(&code), code: code.clone(), name: name.clone(), subdistrict: sd.id };
            let c_lat = base_lat + cell_lat * (0.1 + 0.8 * rng.unit());
            let c_lon = base_lon + cell_lon * (0.1 + 0.8 * rng.unit());
            let stem = name.trim_end_matches("社区").trim_end_matches('村').to_string();
            for y in 0..courtyard_counts[community_index] {
                let y_code = format!("{code}-Y{:02}", y + 1);
                let y_name = match pinned.get(c).and_then(|(_, _, yard)| *yard) {
                    Some(yard) if y == 0 => yard.to_string(),
                    _ if village => format!("{stem}{}巷", y + 1),
                    _ => format!("{stem}{}号院", y + 1),
                };
                let grid = &grids[(c + y) % grids.len()];
                let point = GeoPoint {
                    lat: (c_lat + (rng.unit() - 0.5) * 0.004).clamp(lo.lat, hi.lat),
                    lon: (c_lon + (rng.unit() - 0.5) * 0.004).clamp(lo.lon, hi.lon),
                };
                let yard = Courtyard {
                    id: courtyard_id(&y_code),
                    code: y_code.clone(),
                    name: y_name,
                    community: community.id,
                    management_grid: grid.id,
                    point,
                };
                let technical = 1 + usize::from(courtyard_index < extra_technical);
                for t in 0..technical {
                    let t_code = format!("{y_code}-T{}", t + 1);
                    reg.technical_grids.push(TechnicalGrid {
                        id: technical_grid_id(&t_code),
                        code: t_code,
                        management_grid: grid.id,
                        courtyard: yard.id,
                    });
                }
                reg.courtyards.push(yard);
                courtyard_index += 1;
            }
            reg.communities.push(community);
            community_index += 1;
        }
        reg.management_grids.extend(grids);
    }
    reg
}

/// A bad row in an imported registry file, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

impl ImportError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ImportError { line, message: message.into() }
    }
    pub fn code(&self) -> &'static str {
        "registry_import_bad_row"
    }
}

/// The columns of a registry import file, one courtyard a row.
pub const IMPORT_HEADER: &str = "subdistrict_code,subdistrict_name,subdistrict_kind,community_code,community_name,management_grid_code,courtyard_code,courtyard_name,lat,lon,technical_grid_codes";

/// Parse a registry CSV (see [`IMPORT_HEADER`]; `technical_grid_codes` is `;`-separated and may
/// be empty). Every bad row is reported with its line number; nothing is returned unless all
/// rows are good, so an import is all or nothing.
pub fn parse_registry_csv(text: &str) -> Result<Registry, Vec<ImportError>> {
    use std::collections::{BTreeMap, HashSet};
    let mut errors = Vec::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim().trim_start_matches('\u{feff}') == IMPORT_HEADER => {}
        _ => return Err(vec![ImportError::new(1, format!("header must be: {IMPORT_HEADER}"))]),
    }
    let mut reg = Registry::default();
    let mut subdistricts: BTreeMap<String, Subdistrict> = BTreeMap::new();
    let mut communities: BTreeMap<String, Community> = BTreeMap::new();
    let mut grids: BTreeMap<String, ManagementGrid> = BTreeMap::new();
    let mut seen_yards = HashSet::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != 11 {
            errors.push(ImportError::new(n, format!("expected 11 columns, found {}", cols.len())));
            continue;
        }
        if let Some(empty) = cols[..10].iter().position(|c| c.is_empty()) {
            errors.push(ImportError::new(n, format!("column {} is empty", IMPORT_HEADER.split(',').nth(empty).unwrap_or("?"))));
            continue;
        }
        let kind = match cols[2] {
            "street" => SubdistrictKind::Street,
            "township" => SubdistrictKind::Township,
            k => {
                errors.push(ImportError::new(n, format!("subdistrict_kind must be street or township, not {k:?}")));
                continue;
            }
        };
        let (lat, lon) = match (cols[8].parse::<f64>(), cols[9].parse::<f64>()) {
            (Ok(a), Ok(b)) if validate::point(a, b).is_ok() => (a, b),
            _ => {
                errors.push(ImportError::new(n, format!("lat/lon {:?},{:?} are not valid coordinates", cols[8], cols[9])));
                continue;
            }
        };
        if !seen_yards.insert(cols[6].to_string()) {
            errors.push(ImportError::new(n, format!("courtyard code {} appears twice", cols[6])));
            continue;
        }
        let sd = subdistricts.entry(cols[0].into()).or_insert_with(|| Subdistrict {
            id: subdistrict_id(cols[0]),
            code: cols[0].into(),
            name: cols[1].into(),
            kind: kind.clone(),
        });
        if sd.name != cols[1] {
            errors.push(ImportError::new(n, format!("subdistrict {} was named {} before", cols[0], sd.name)));
            continue;
        }
        let sd_id = sd.id;
        let community = communities.entry(cols[3].into()).or_insert_with(|| Community {
            id: community_id(cols[3]),
            code: cols[3].into(),
            name: cols[4].into(),
            subdistrict: sd_id,
        });
        if community.subdistrict != sd_id {
            errors.push(ImportError::new(n, format!("community {} belongs to another subdistrict", cols[3])));
            continue;
        }
        let community_id = community.id;
        let grid = grids.entry(cols[5].into()).or_insert_with(|| ManagementGrid {
            id: management_grid_id(cols[5]),
            code: cols[5].into(),
            subdistrict: sd_id,
        });
        let yard = Courtyard {
            id: courtyard_id(cols[6]),
            code: cols[6].into(),
            name: cols[7].into(),
            community: community_id,
            management_grid: grid.id,
            point: GeoPoint { lat, lon },
        };
        for t in cols[10].split(';').map(str::trim).filter(|t| !t.is_empty()) {
            reg.technical_grids.push(TechnicalGrid {
                id: technical_grid_id(t),
                code: t.into(),
                management_grid: grid.id,
                courtyard: yard.id,
            });
        }
        reg.courtyards.push(yard);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    reg.subdistricts = subdistricts.into_values().collect();
    reg.communities = communities.into_values().collect();
    reg.management_grids = grids.into_values().collect();
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_registry_has_the_district_numbers() {
        let r = demo_registry();
        assert_eq!(r.subdistricts.len(), 43, "43 subdistricts");
        assert_eq!(r.communities.len(), DEMO_COMMUNITIES, "604 communities");
        assert_eq!(r.courtyards.len(), DEMO_COURTYARDS, "5,710 courtyards");
        assert_eq!(r.management_grids.len(), DEMO_MANAGEMENT_GRIDS, "322 management grids");
        assert_eq!(r.technical_grids.len(), DEMO_TECHNICAL_GRIDS, "8,260 technical grids");
        assert!(r.courtyards.iter().all(|c| in_chaoyang(c.point)), "every courtyard lies inside Chaoyang");
        assert_eq!(r, demo_registry(), "the generator is deterministic");
        for (sd, community, yard) in ARTICLE_PLACES {
            let s = r.subdistricts.iter().find(|s| s.name == sd).expect("article subdistrict exists");
            let c = r.communities.iter().find(|c| c.name == community && c.subdistrict == s.id);
            let c = c.unwrap_or_else(|| panic!("article community {community} sits under {sd}"));
            if let Some(yard) = yard {
                assert!(
                    r.courtyards.iter().any(|y| y.name == yard && y.community == c.id),
                    "article courtyard {yard} sits under {community}"
                );
            }
        }
    }

    #[test]
    fn import_reports_bad_rows_by_line() {
        let text = format!(
            "{IMPORT_HEADER}\nCY01,建外街道,street,CY01-C01,建外社区,CY01-M01,Y1,建外1号院,39.9,116.45,T1;T2\nCY01,建外街道,moon,CY01-C01,建外社区,CY01-M01,Y2,x,39.9,116.45,\nCY01,建外街道,street,CY01-C01,建外社区,CY01-M01,Y3,x,99,116.45,\n"
        );
        let errs = parse_registry_csv(&text).unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4], "each bad row is reported with its own line number");
        let good = format!("{IMPORT_HEADER}\nCY01,建外街道,street,CY01-C01,建外社区,CY01-M01,Y1,建外1号院,39.9,116.45,T1;T2\n");
        let reg = parse_registry_csv(&good).expect("a good file imports");
        assert_eq!((reg.courtyards.len(), reg.technical_grids.len()), (1, 2));
        assert_eq!(reg.courtyards[0].id, courtyard_id("Y1"), "ids derive from codes, so re-imports are idempotent");
    }
}
