//! Placing a 12345 order by its free-text Chinese address (地址落点).
//!
//! A hotline order arrives with an address such as 「北京市朝阳区小关街道惠新西街33号院2号楼3单元」
//! and sometimes a point. [`AddressIndex`] matches the registry's subdistrict, community and
//! courtyard names inside that text and says where the order goes: one courtyard, or a
//! dispatcher's queue with the reason ([`Unplaced`]) and whatever subdistrict / community was
//! recognised, so a community's supervisor queue can take it.
//!
//! Two promises shape every rule here: **an order is never refused** (every input, even empty or
//! garbage, gives a [`Placement`]), and **an order is never filed at a far courtyard** (a placement
//! that involves a point is always within [`POINT_AGREES_M`] of it, and a point-only placement
//! within [`POINT_ONLY_MAX_M`]). When the text or the point leaves any doubt the order goes to a
//! person, never to a guess.
//!
//! Pure: no IO, no clock, no randomness. The index is built once from a [`Registry`]; a lookup
//! walks a character trie from each position of the (short) address, so it never scans the
//! courtyard names.

use crate::ids::{CommunityId, CourtyardId, SubdistrictId};
use crate::registry::{in_chaoyang, GeoPoint, Registry};
use crate::vocab::vocab;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// A name match whose courtyard lies farther than this from the caller's point is not trusted:
/// one of the two is wrong (a mistyped number, a caller reporting from elsewhere), and filing it
/// at either would risk sending a worker to the wrong place. 1.5 km is about a walk of 20
/// minutes, well beyond a courtyard's size and a phone fix's error.
pub const POINT_AGREES_M: f64 = 1_500.0;

/// With no name match, the point alone places an order at the nearest courtyard only if that
/// courtyard is at most this far away. Farther than that, "nearest" is a guess.
pub const POINT_ONLY_MAX_M: f64 = 500.0;

/// The mean Earth radius (IUGG), for [`haversine_m`].
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two WGS-84 points (haversine; at Beijing's scale its
/// error against the ellipsoid is a few tenths of a percent, far below the thresholds here).
pub fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Where an order goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// Matched one courtyard. `by` says what decided it.
    Courtyard { courtyard: CourtyardId, by: MatchedBy },
    /// Not placeable at a courtyard: goes to a dispatcher's queue with the reason. Carries the
    /// subdistrict / community when those were recognised (and are the same for every reading of
    /// the address), so a community's supervisor queue can take it.
    Unplaced { reason: Unplaced, subdistrict: Option<SubdistrictId>, community: Option<CommunityId> },
}

impl Placement {
    /// The courtyard, when the order was placed at one.
    pub fn courtyard(&self) -> Option<CourtyardId> {
        match self {
            Placement::Courtyard { courtyard, .. } => Some(*courtyard),
            Placement::Unplaced { .. } => None,
        }
    }
}

vocab!(
    /// What decided a courtyard placement.
    MatchedBy {
        /// The address names exactly one courtyard (after the subdistrict / community it names).
        Name => ("name", "按地址匹配", "Matched by address"),
        /// The address names the courtyard and the caller's point agrees (or picks it among
        /// courtyards of the same name).
        NameAndPoint => ("name_and_point", "地址与坐标一致", "Matched by address, point agrees"),
        /// The address names no courtyard; the point is close to this one.
        Point => ("point", "按坐标就近匹配", "Nearest courtyard to the point"),
    }
);

vocab!(
    /// Why an order could not be placed at a courtyard.
    Unplaced {
        /// The address names another Beijing district, another city or province, or the point
        /// lies outside Chaoyang.
        OutsideDistrict => ("outside_district", "不属于朝阳区", "Outside Chaoyang district"),
        /// No courtyard name in the address, and no point near a courtyard.
        NoMatch => ("no_match", "地址未匹配到楼院", "Address matches no courtyard"),
        /// The address fits several courtyards and nothing tells them apart.
        Ambiguous => ("ambiguous", "地址对应多个楼院", "Address fits several courtyards"),
        /// The address names a courtyard far from the caller's point.
        PointDisagrees => ("point_disagrees", "地址与坐标不符", "Point is far from the named courtyard"),
        /// The address names places that do not belong together (a courtyard or community of
        /// another subdistrict than the one named).
        Conflicting => ("conflicting", "地址中的地名互相矛盾", "Address names places that do not belong together"),
    }
);

/// How a registry name was found in the address. A full name (小关街道, 惠新西街社区) is strong;
/// a bare stem (小关, 惠新西街) is weak, because stems are also parts of road and estate names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strength {
    Strong = 0,
    Weak = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hit {
    Subdistrict(u32, Strength),
    Community(u32, Strength),
    Yard(u32),
}

/// What a courtyard's number may be followed by in an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumClass {
    /// 号院 / 院 / 号 / 小区: written as any of 33号院, 33院, 33号, 33号小区, 33小区.
    Yard,
    /// 巷 (a village lane): 3巷 or 3号巷.
    Lane,
}

/// A numbered courtyard hanging at the trie node of its name's prefix (惠新西街 › 33, 号院).
#[derive(Clone, Copy, Debug)]
struct Numbered {
    number: u32,
    class: NumClass,
    yard: u32,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Children, sorted by char (binary search).
    next: Vec<(char, u32)>,
    /// Names that end exactly here.
    fixed: Vec<Hit>,
    /// Numbered courtyards whose prefix ends here; the number and suffix are read from the text.
    numbered: Vec<Numbered>,
}

#[derive(Clone, Debug)]
struct YardInfo {
    id: CourtyardId,
    community: u32,
    subdistrict: u32,
    point: GeoPoint,
}

#[derive(Clone, Debug)]
struct CommunityInfo {
    id: CommunityId,
    subdistrict: u32,
    yards: Vec<u32>,
    /// For 「惠新西街社区33号院」: the community's numbered courtyards, whatever their prefix.
    numbered: Vec<Numbered>,
}

#[derive(Clone, Debug)]
struct SubdistrictInfo {
    id: SubdistrictId,
    yards: Vec<u32>,
}

/// The registry's names, indexed for [`AddressIndex::locate`]. Built once; cheap to query.
#[derive(Clone)]
pub struct AddressIndex {
    nodes: Vec<Node>,
    yards: Vec<YardInfo>,
    communities: Vec<CommunityInfo>,
    subdistricts: Vec<SubdistrictInfo>,
    /// (lat, yard) sorted by latitude, for the nearest-courtyard search in a latitude band.
    by_lat: Vec<(f64, u32)>,
}

impl fmt::Debug for AddressIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressIndex")
            .field("subdistricts", &self.subdistricts.len())
            .field("communities", &self.communities.len())
            .field("courtyards", &self.yards.len())
            .field("trie_nodes", &self.nodes.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Text

/// Full-width forms → ASCII (３３ → 33, Ａ → A), ASCII letters upper-cased, and everything that is
/// not a letter, digit or ideograph dropped (whitespace, ，。、（）「」-# …). Callers type addresses
/// with any of these; the registry's names go through the same function, so both sides compare
/// equal. Dropping a separator can join two numbers (2-3-301 → 23301); that only matters after a
/// courtyard's number, which the suffix (号, 院 …) has already ended.
fn normalise(text: &str) -> Vec<char> {
    text.chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn starts(s: &[char], p: &str) -> bool {
    let mut it = s.iter();
    p.chars().all(|c| it.next() == Some(&c))
}

fn strip<'a>(s: &'a [char], p: &str) -> Option<&'a [char]> {
    starts(s, p).then(|| &s[p.chars().count()..])
}

const COUNTRY_AND_CITY: [&str; 4] = ["中华人民共和国", "中国", "北京市", "北京"];
const CHAOYANG: &str = "朝阳区";

/// Strips the leading country and city words; says whether Beijing was named.
fn skip_city(mut s: &[char]) -> (&[char], bool) {
    let mut beijing = false;
    'again: loop {
        for p in COUNTRY_AND_CITY {
            if let Some(rest) = strip(s, p) {
                beijing |= p.starts_with("北京");
                s = rest;
                continue 'again;
            }
        }
        return (s, beijing);
    }
}

/// Strips 「北京市」「北京」「朝阳区」 (in any order) from the front. The same is done to the
/// registry's names, so a name that itself starts with 北京 (北京城建3号院) still matches.
fn skip_admin(s: &[char]) -> &[char] {
    let (s, _) = skip_city(s);
    match strip(s, CHAOYANG) {
        Some(rest) => skip_city(rest).0,
        None => s,
    }
}

/// The other Beijing districts, with their suffix (and the old names 宣武区 / 崇文区 / 密云县 /
/// 延庆县, still common in addresses people type). Named at the start, they are decisive.
const OTHER_DISTRICTS: [&str; 19] = [
    "东城区",
    "西城区",
    "海淀区",
    "丰台区",
    "石景山区",
    "门头沟区",
    "房山区",
    "通州区",
    "顺义区",
    "昌平区",
    "大兴区",
    "怀柔区",
    "平谷区",
    "密云区",
    "延庆区",
    "宣武区",
    "崇文区",
    "密云县",
    "延庆县",
];

/// The same without the suffix (北京海淀中关村). Only taken when no registry name starts there,
/// since bare stems can begin a Chaoyang name.
const OTHER_DISTRICT_STEMS: [&str; 15] =
    ["东城", "西城", "海淀", "丰台", "石景山", "门头沟", "房山", "通州", "顺义", "昌平", "大兴", "怀柔", "平谷", "密云", "延庆"];

const PROVINCES: [&str; 33] = [
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
];
const PROVINCE_SUFFIXES: [&str; 7] = ["省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区"];

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// 「廊坊市…」「三河市…」「石家庄市…」「X县…」: two or three ideographs and a 市 / 省 / 县 at the very
/// start. 市场 / 市民 are not cities.
fn starts_with_city(s: &[char]) -> bool {
    (2..=3).any(|k| {
        s.len() > k
            && s[..k].iter().all(|&c| is_han(c))
            && matches!(s[k], '市' | '省' | '县')
            && !(s[k] == '市' && matches!(s.get(k + 1), Some('场' | '民')))
    })
}

// ---------------------------------------------------------------------------------------------
// Names

/// The suffixes a numbered courtyard name may end with, longest first.
const NUMBERED_SUFFIXES: [(&str, NumClass); 9] = [
    ("号小区", NumClass::Yard),
    ("号大院", NumClass::Yard),
    ("号院", NumClass::Yard),
    ("号巷", NumClass::Lane),
    ("小区", NumClass::Yard),
    ("大院", NumClass::Yard),
    ("院", NumClass::Yard),
    ("号", NumClass::Yard),
    ("巷", NumClass::Lane),
];

/// 「惠新西街33号院」 → (惠新西街, 33, Yard); 「文朝店3巷」 → (文朝店, 3, Lane). A name without a
/// number right before its suffix is not numbered. 里 is never a suffix here: it is part of real
/// names (花家地南里5号院 → prefix 花家地南里), so stripping it would match the wrong places.
fn parse_numbered(name: &[char]) -> Option<(&[char], u32, NumClass)> {
    for (suffix, class) in NUMBERED_SUFFIXES {
        let n = suffix.chars().count();
        if name.len() <= n || !suffix.chars().eq(name[name.len() - n..].iter().copied()) {
            continue;
        }
        let head = &name[..name.len() - n];
        let digits = head.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        let start = head.len() - digits;
        if let Some((number, _)) = read_number(head, start) {
            return Some((&head[..start], number, class));
        }
    }
    None
}

/// The whole run of ASCII digits at `pos`, as a number, and where the run ends. Reading the whole
/// run is what keeps 3号院 from matching inside 33号院, and 33号院 inside 133号院.
fn read_number(s: &[char], pos: usize) -> Option<(u32, usize)> {
    let mut end = pos;
    let mut n: u32 = 0;
    while let Some(d) = s.get(end).and_then(|c| c.to_digit(10)).filter(|_| s[end].is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(d)?;
        end += 1;
    }
    (end > pos).then_some((n, end))
}

/// How many chars after a courtyard's number belong to it, if the text writes one of the usual
/// variants. 「33号」 counts only when it is not the start of 「33号楼」「33号单元」… (a building,
/// not a courtyard) — 「33号2号楼」 is fine.
fn suffix_len(class: NumClass, s: &[char], k: usize) -> Option<usize> {
    let rest = &s[k..];
    let (long, bare_hao): (&[&str], bool) = match class {
        NumClass::Yard => (&["号小区", "号大院", "号院", "小区", "大院", "院"], true),
        NumClass::Lane => (&["号巷", "巷"], false),
    };
    if let Some(suffix) = long.iter().find(|p| starts(rest, p)) {
        return Some(suffix.chars().count());
    }
    let building = matches!(rest.get(1), Some('楼' | '栋' | '幢' | '座' | '单' | '室' | '层' | '线'));
    (bare_hao && rest.first() == Some(&'号') && !building).then_some(1)
}

/// A fixed name must not start inside a number or end inside one.
fn digit_boundary_ok(s: &[char], start: usize, end: usize) -> bool {
    let digit = |i: usize| s.get(i).is_some_and(|c| c.is_ascii_digit());
    let starts_inside = start > 0 && digit(start) && digit(start - 1);
    let ends_inside = digit(end - 1) && digit(end);
    !starts_inside && !ends_inside
}

fn shared<T: PartialEq + Copy>(mut it: impl Iterator<Item = T>) -> Option<T> {
    let first = it.next()?;
    it.all(|x| x == first).then_some(first)
}

fn sort_dedup(v: &mut Vec<u32>) {
    v.sort_unstable();
    v.dedup();
}

/// The names recognised in one address, before they are weighed.
#[derive(Debug, Default)]
struct Evidence {
    yards: Vec<u32>,
    /// Indexed by [`Strength`].
    communities: [Vec<u32>; 2],
    subdistricts: [Vec<u32>; 2],
}

/// What the text says, after weighing.
#[derive(Debug)]
enum Reading {
    /// Courtyards the text names (at least one).
    Yards(Vec<u32>),
    /// No courtyard; the communities (or, if none, the subdistricts) the text names.
    Context { communities: Vec<u32>, subdistricts: Vec<u32> },
    /// Named places that do not belong together: (community, subdistrict) of each.
    Conflict(Vec<(Option<u32>, u32)>),
}

impl AddressIndex {
    pub fn new(reg: &Registry) -> AddressIndex {
        let mut ix = AddressIndex {
            nodes: vec![Node::default()],
            yards: Vec::with_capacity(reg.courtyards.len()),
            communities: Vec::with_capacity(reg.communities.len()),
            subdistricts: Vec::with_capacity(reg.subdistricts.len()),
            by_lat: Vec::new(),
        };
        let mut sd_index = HashMap::new();
        for sd in &reg.subdistricts {
            let i = ix.subdistricts.len() as u32;
            sd_index.insert(sd.id, i);
            ix.subdistricts.push(SubdistrictInfo { id: sd.id, yards: Vec::new() });
            let name: String = normalise(&sd.name).into_iter().collect();
            // 小关街道 = 小关街道办事处 = 小关街道办; 南磨房地区 = 南磨房地区办事处 = 南磨房乡 (the
            // township's other name) = 南磨房乡政府. The bare stem (小关, 南磨房) is weak.
            let (strong, stem): (Vec<String>, Option<&str>) = if let Some(stem) = name.strip_suffix("街道") {
                (vec![name.clone(), format!("{name}办事处"), format!("{name}办")], Some(stem))
            } else if let Some(stem) = name.strip_suffix("地区") {
                (vec![name.clone(), format!("{name}办事处"), format!("{name}办"), format!("{stem}乡"), format!("{stem}乡政府")], Some(stem))
            } else if let Some(stem) = name.strip_suffix('乡').or_else(|| name.strip_suffix('镇')) {
                (vec![name.clone(), format!("{name}政府"), format!("{stem}地区")], Some(stem))
            } else {
                (vec![name.clone()], None)
            };
            for p in &strong {
                ix.insert_fixed(p, Hit::Subdistrict(i, Strength::Strong));
            }
            if let Some(stem) = stem.filter(|s| s.chars().count() >= 2) {
                ix.insert_fixed(stem, Hit::Subdistrict(i, Strength::Weak));
            }
        }

        let mut community_index = HashMap::new();
        for c in &reg.communities {
            // A community whose subdistrict is not in the registry cannot be routed; the
            // registry import refuses such rows, so this only guards hand-built registries.
            let Some(&sd) = sd_index.get(&c.subdistrict) else { continue };
            let i = ix.communities.len() as u32;
            community_index.insert(c.id, i);
            ix.communities.push(CommunityInfo { id: c.id, subdistrict: sd, yards: Vec::new(), numbered: Vec::new() });
            let name: String = skip_admin(&normalise(&c.name)).iter().collect();
            // 惠新西街社区 = 惠新西街社区居委会 = 惠新西街居委会; 新华庄村 = 新华庄村委会. The stem
            // without 社区 / 村 is weak: 惠新西街 is also the road.
            let (strong, stem): (Vec<String>, Option<&str>) = if let Some(stem) = name.strip_suffix("社区") {
                (vec![name.clone(), format!("{name}居委会"), format!("{name}居民委员会"), format!("{stem}居委会")], Some(stem))
            } else if let Some(stem) = name.strip_suffix('村') {
                (vec![name.clone(), format!("{name}委会"), format!("{name}民委员会")], Some(stem))
            } else {
                (vec![name.clone()], None)
            };
            for p in &strong {
                ix.insert_fixed(p, Hit::Community(i, Strength::Strong));
            }
            if let Some(stem) = stem.filter(|s| s.chars().count() >= 2) {
                ix.insert_fixed(stem, Hit::Community(i, Strength::Weak));
            }
        }

        for y in &reg.courtyards {
            let Some(&c) = community_index.get(&y.community) else { continue };
            let i = ix.yards.len() as u32;
            let sd = ix.communities[c as usize].subdistrict;
            ix.yards.push(YardInfo { id: y.id, community: c, subdistrict: sd, point: y.point });
            ix.communities[c as usize].yards.push(i);
            ix.subdistricts[sd as usize].yards.push(i);
            let full = normalise(&y.name);
            let name = match skip_admin(&full) {
                short if short.len() < 2 => &full[..],
                name => name,
            };
            if let Some((prefix, number, class)) = parse_numbered(name) {
                let entry = Numbered { number, class, yard: i };
                let node = ix.insert(prefix.iter().copied());
                ix.nodes[node].numbered.push(entry);
                ix.communities[c as usize].numbered.push(entry);
            } else {
                // Unnumbered: 望京花园小区 = 望京花园院 = 望京花园; a name ending in 里 / 巷 or
                // anything else keeps its whole name, optionally followed by 小区 / 院.
                let name: String = name.iter().collect();
                let core = name.strip_suffix("小区").or_else(|| name.strip_suffix('院')).filter(|c| c.chars().count() >= 2);
                let core = core.unwrap_or(&name);
                for p in [core.to_string(), format!("{core}小区"), format!("{core}院")] {
                    ix.insert_fixed(&p, Hit::Yard(i));
                }
            }
        }
        let mut by_lat: Vec<(f64, u32)> = ix.yards.iter().enumerate().map(|(i, y)| (y.point.lat, i as u32)).collect();
        by_lat.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        ix.by_lat = by_lat;
        ix
    }

    fn insert(&mut self, chars: impl Iterator<Item = char>) -> usize {
        let mut node = 0usize;
        for c in chars {
            node = match self.nodes[node].next.binary_search_by_key(&c, |e| e.0) {
                Ok(k) => self.nodes[node].next[k].1 as usize,
                Err(k) => {
                    let new = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[node].next.insert(k, (c, new as u32));
                    new
                }
            };
        }
        node
    }

    fn insert_fixed(&mut self, pattern: &str, hit: Hit) {
        if pattern.is_empty() {
            return;
        }
        let node = self.insert(pattern.chars());
        if !self.nodes[node].fixed.contains(&hit) {
            self.nodes[node].fixed.push(hit);
        }
    }

    /// The longest registry name starting at `i`, with every reading of that length (a name can
    /// be a community stem and a courtyard's at once, or be shared by several courtyards).
    /// Longest wins: 花家地南里5号院 beats the community stem 花家地南里, 惠新西街社区 beats 惠新西街.
    fn longest_at(&self, s: &[char], i: usize) -> Option<(usize, Vec<Hit>)> {
        let mut best: (usize, Vec<Hit>) = (0, Vec::new());
        fn offer(best: &mut (usize, Vec<Hit>), end: usize, hit: Hit) {
            if end > best.0 {
                *best = (end, Vec::new());
            }
            if end == best.0 && !best.1.contains(&hit) {
                best.1.push(hit);
            }
        }
        let mut node = 0usize;
        let mut pos = i;
        loop {
            let nd = &self.nodes[node];
            if pos > i && !nd.fixed.is_empty() && digit_boundary_ok(s, i, pos) {
                for &h in &nd.fixed {
                    offer(&mut best, pos, h);
                }
            }
            // The number must start a digit run (never 3 inside 33); the prefix itself never ends
            // in a digit, so this only bites for names that are a bare number (3号院).
            if !nd.numbered.is_empty() && (pos == 0 || !s[pos - 1].is_ascii_digit()) {
                if let Some((number, dend)) = read_number(s, pos) {
                    for n in nd.numbered.iter().filter(|n| n.number == number) {
                        if let Some(l) = suffix_len(n.class, s, dend) {
                            offer(&mut best, dend + l, Hit::Yard(n.yard));
                        }
                    }
                }
            }
            let Some(&c) = s.get(pos) else { break };
            match nd.next.binary_search_by_key(&c, |e| e.0) {
                Ok(k) => {
                    node = nd.next[k].1 as usize;
                    pos += 1;
                }
                Err(_) => break,
            }
        }
        if best.0 == 0 {
            return None;
        }
        // 「惠新西街社区33号院」: a community followed by a number is that community's numbered
        // courtyard, whatever the courtyard's own prefix.
        if let Some((number, dend)) = read_number(s, best.0) {
            let mut ext: Vec<(usize, u32)> = Vec::new();
            for h in &best.1 {
                if let Hit::Community(c, _) = *h {
                    for n in self.communities[c as usize].numbered.iter().filter(|n| n.number == number) {
                        if let Some(l) = suffix_len(n.class, s, dend) {
                            ext.push((dend + l, n.yard));
                        }
                    }
                }
            }
            if let Some(end) = ext.iter().map(|e| e.0).max() {
                best.0 = end;
                best.1.extend(ext.iter().filter(|e| e.0 == end).map(|e| Hit::Yard(e.1)));
            }
        }
        Some(best)
    }

    /// Every name in the text, left to right, each the longest one starting where it starts.
    fn scan(&self, s: &[char]) -> Evidence {
        let mut ev = Evidence::default();
        let mut i = 0;
        while i < s.len() {
            match self.longest_at(s, i) {
                Some((end, hits)) => {
                    for h in hits {
                        match h {
                            Hit::Yard(y) => ev.yards.push(y),
                            Hit::Community(c, st) => ev.communities[st as usize].push(c),
                            Hit::Subdistrict(sd, st) => ev.subdistricts[st as usize].push(sd),
                        }
                    }
                    i = end;
                }
                None => i += 1,
            }
        }
        sort_dedup(&mut ev.yards);
        for v in ev.communities.iter_mut().chain(ev.subdistricts.iter_mut()) {
            sort_dedup(v);
        }
        ev
    }

    /// Whether the text (after the country and city words) starts in another district, city or
    /// province. Only the start is looked at: a Chaoyang address may mention 海淀区 later (「近海淀区界」).
    fn names_elsewhere(&self, s: &[char], beijing: bool) -> bool {
        if starts(s, CHAOYANG) {
            return false;
        }
        if OTHER_DISTRICTS.iter().any(|d| starts(s, d)) {
            return true;
        }
        let province = PROVINCES.iter().find_map(|p| strip(s, p));
        if province.is_some_and(|rest| PROVINCE_SUFFIXES.iter().any(|x| starts(rest, x))) {
            return true;
        }
        // The rest are heuristics, so a registry name starting right here outweighs them.
        if self.longest_at(s, 0).is_some() {
            return false;
        }
        if OTHER_DISTRICT_STEMS.iter().any(|d| starts(s, d)) {
            return true;
        }
        // 「吉林长春…」「长春市朝阳区…」(Changchun has a 朝阳区 too) «辽宁省朝阳市», but not after 北京.
        !beijing && (province.is_some() || starts_with_city(s))
    }

    /// Weigh the names: narrow the courtyards by the communities and subdistricts named, strong
    /// names first. A strong name that rules out every candidate is a contradiction for a person
    /// to sort out; a weak stem that does so is ignored (it was probably part of a road name).
    fn weigh(&self, ev: &Evidence) -> Reading {
        let (cs, cw) = (&ev.communities[0], &ev.communities[1]);
        let (ss, sw) = (&ev.subdistricts[0], &ev.subdistricts[1]);
        let strong_places = || {
            let cs = cs.iter().map(|&c| (Some(c), self.communities[c as usize].subdistrict));
            cs.chain(ss.iter().map(|&s| (None, s)))
        };
        if !ev.yards.is_empty() {
            let mut yards = ev.yards.clone();
            for (set, by_community, strong) in [(cs, true, true), (ss, false, true), (cw, true, false), (sw, false, false)] {
                if set.is_empty() {
                    continue;
                }
                let kept: Vec<u32> = yards
                    .iter()
                    .copied()
                    .filter(|&y| {
                        let y = &self.yards[y as usize];
                        set.contains(if by_community { &y.community } else { &y.subdistrict })
                    })
                    .collect();
                if !kept.is_empty() {
                    yards = kept;
                } else if strong {
                    let named = yards.iter().map(|&y| (Some(self.yards[y as usize].community), self.yards[y as usize].subdistrict));
                    return Reading::Conflict(named.chain(strong_places()).collect());
                }
            }
            return Reading::Yards(yards);
        }
        // No courtyard: the communities named (strong ones if any), checked against the
        // subdistricts named (strong ones if any).
        let (mut communities, c_strong) = if cs.is_empty() { (cw.clone(), false) } else { (cs.clone(), true) };
        let (mut subdistricts, s_strong) = if ss.is_empty() { (sw.clone(), false) } else { (ss.clone(), true) };
        if !communities.is_empty() && !subdistricts.is_empty() {
            let kept: Vec<u32> =
                communities.iter().copied().filter(|&c| subdistricts.contains(&self.communities[c as usize].subdistrict)).collect();
            match (kept.is_empty(), c_strong, s_strong) {
                (false, _, _) => communities = kept,
                (true, true, true) => return Reading::Conflict(strong_places().collect()),
                // A weak stem loses against a full name; two weak stems that disagree both go.
                (true, false, true) => communities.clear(),
                (true, true, false) => subdistricts.clear(),
                (true, false, false) => {
                    communities.clear();
                    subdistricts.clear();
                }
            }
        }
        if !communities.is_empty() {
            subdistricts = communities.iter().map(|&c| self.communities[c as usize].subdistrict).collect();
            sort_dedup(&mut subdistricts);
        }
        Reading::Context { communities, subdistricts }
    }

    /// The subdistrict and community every reading shares, as ids.
    fn context_of(&self, places: &[(Option<u32>, u32)]) -> (Option<SubdistrictId>, Option<CommunityId>) {
        let sd = shared(places.iter().map(|p| p.1)).map(|s| self.subdistricts[s as usize].id);
        let c = shared(places.iter().map(|p| p.0)).flatten().map(|c| self.communities[c as usize].id);
        (sd, c)
    }

    fn reading_context(&self, r: &Reading) -> (Option<SubdistrictId>, Option<CommunityId>) {
        let places: Vec<(Option<u32>, u32)> = match r {
            Reading::Yards(ys) => {
                ys.iter().map(|&y| (Some(self.yards[y as usize].community), self.yards[y as usize].subdistrict)).collect()
            }
            Reading::Context { communities, subdistricts } if !communities.is_empty() => {
                communities.iter().map(|&c| (Some(c), self.communities[c as usize].subdistrict)).collect()
            }
            Reading::Context { subdistricts, .. } => subdistricts.iter().map(|&s| (None, s)).collect(),
            Reading::Conflict(places) => places.clone(),
        };
        self.context_of(&places)
    }

    fn nearest(&self, yards: impl Iterator<Item = u32>, p: GeoPoint) -> Option<(u32, f64)> {
        yards.map(|y| (y, haversine_m(self.yards[y as usize].point, p))).min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
    }

    /// The nearest courtyard within `max_m` of `p`, among all of them: only those in the band of
    /// latitude that could be that close are measured.
    fn nearest_anywhere(&self, p: GeoPoint, max_m: f64) -> Option<(u32, f64)> {
        // A degree of latitude is at least 110,574 m, so this band holds every courtyard within max_m.
        let dlat = max_m / 110_574.0;
        let lo = self.by_lat.partition_point(|e| e.0 < p.lat - dlat);
        // Likewise a degree of longitude is at least 111,320 m × cos(latitude) over the band
        // (the band's pole-ward edge is where it is shortest); near the poles, no such bound.
        let cos = (p.lat.abs() + dlat).min(90.0).to_radians().cos();
        let dlon = if cos > 0.01 { max_m / (111_320.0 * cos) } else { f64::INFINITY };
        let band = self.by_lat[lo..].iter().take_while(|e| e.0 <= p.lat + dlat).map(|e| e.1);
        let near = band.filter(|&y| (self.yards[y as usize].point.lon - p.lon).abs() <= dlon);
        self.nearest(near, p).filter(|n| n.1 <= max_m)
    }

    /// Place an order: the address text and optionally the point the caller gave. A point that is
    /// not a coordinate at all (NaN, latitude beyond ±90) is ignored and the text decides; the
    /// intake's own validation is where such a point gets reported.
    pub fn locate(&self, address: &str, point: Option<GeoPoint>) -> Placement {
        let unplaced = |reason, (subdistrict, community): (Option<SubdistrictId>, Option<CommunityId>)| Placement::Unplaced {
            reason,
            subdistrict,
            community,
        };
        let chars = normalise(address);
        let (after_city, beijing) = skip_city(&chars);
        if self.names_elsewhere(after_city, beijing) {
            // Another district's order: nothing here is recognised, whatever names look alike.
            return unplaced(Unplaced::OutsideDistrict, (None, None));
        }
        let text = skip_admin(after_city);
        let reading = self.weigh(&self.scan(text));
        let context = self.reading_context(&reading);
        let point = point.filter(|p| crate::validate::point(p.lat, p.lon).is_ok());
        if point.is_some_and(|p| !in_chaoyang(p)) {
            // The point says another district. Whatever the text says, a person decides; the
            // names recognised go along so the order can be re-routed quickly.
            return unplaced(Unplaced::OutsideDistrict, context);
        }
        match (reading, point) {
            (Reading::Conflict(_), _) => unplaced(Unplaced::Conflicting, context),
            (Reading::Yards(ys), None) if ys.len() == 1 => {
                Placement::Courtyard { courtyard: self.yards[ys[0] as usize].id, by: MatchedBy::Name }
            }
            (Reading::Yards(_), None) => unplaced(Unplaced::Ambiguous, context),
            (Reading::Yards(ys), Some(p)) => match self.nearest(ys.into_iter(), p) {
                // Agreeing point: it confirms the name, or picks among courtyards of that name.
                Some((y, d)) if d <= POINT_AGREES_M => {
                    Placement::Courtyard { courtyard: self.yards[y as usize].id, by: MatchedBy::NameAndPoint }
                }
                _ => unplaced(Unplaced::PointDisagrees, context),
            },
            (Reading::Context { communities, subdistricts }, Some(p)) => {
                // The point alone, but only inside what the text named (a community, else a
                // subdistrict, else anywhere), and only close by.
                let near = if !communities.is_empty() {
                    let yards = communities.iter().flat_map(|&c| self.communities[c as usize].yards.iter().copied());
                    self.nearest(yards, p).filter(|n| n.1 <= POINT_ONLY_MAX_M)
                } else if !subdistricts.is_empty() {
                    let yards = subdistricts.iter().flat_map(|&s| self.subdistricts[s as usize].yards.iter().copied());
                    self.nearest(yards, p).filter(|n| n.1 <= POINT_ONLY_MAX_M)
                } else {
                    self.nearest_anywhere(p, POINT_ONLY_MAX_M)
                };
                match near {
                    Some((y, _)) => Placement::Courtyard { courtyard: self.yards[y as usize].id, by: MatchedBy::Point },
                    None => unplaced(Unplaced::NoMatch, context),
                }
            }
            (Reading::Context { .. }, None) => unplaced(Unplaced::NoMatch, context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Community, Courtyard, Subdistrict, SubdistrictKind, CHAOYANG_BOUNDS};
    use crate::registry_gen::{community_id, courtyard_id, demo_registry, management_grid_id, subdistrict_id, DEMO_COURTYARDS};
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    fn demo() -> &'static (Registry, AddressIndex) {
        static DEMO: OnceLock<(Registry, AddressIndex)> = OnceLock::new();
        DEMO.get_or_init(|| {
            let r = demo_registry();
            let ix = AddressIndex::new(&r);
            (r, ix)
        })
    }

    fn sd<'a>(r: &'a Registry, name: &str) -> &'a Subdistrict {
        r.subdistricts.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("subdistrict {name} exists"))
    }
    fn community<'a>(r: &'a Registry, sd_name: &str, name: &str) -> &'a Community {
        let s = sd(r, sd_name).id;
        let mut it = r.communities.iter().filter(|c| c.subdistrict == s && c.name == name);
        let c = it.next().unwrap_or_else(|| panic!("community {name} exists under {sd_name}"));
        assert!(it.next().is_none(), "community {name} is unique under {sd_name}");
        c
    }
    fn yard<'a>(r: &'a Registry, sd_name: &str, name: &str) -> &'a Courtyard {
        let s = sd(r, sd_name).id;
        let in_sd = |y: &&Courtyard| r.communities.iter().any(|c| c.id == y.community && c.subdistrict == s);
        let mut it = r.courtyards.iter().filter(|y| y.name == name).filter(in_sd);
        let y = it.next().unwrap_or_else(|| panic!("courtyard {name} exists under {sd_name}"));
        assert!(it.next().is_none(), "courtyard {name} is unique under {sd_name}");
        y
    }
    fn north(p: GeoPoint, metres: f64) -> GeoPoint {
        GeoPoint { lat: p.lat + metres / 111_195.0, lon: p.lon }
    }

    /// A point inside Chaoyang's bounds with no courtyard within 600 m (found by a fixed scan).
    fn empty_spot(r: &Registry) -> GeoPoint {
        let (lo, hi) = CHAOYANG_BOUNDS;
        (0..60)
            .flat_map(|i| {
                (0..60).map(move |j| GeoPoint {
                    lat: lo.lat + (hi.lat - lo.lat) * i as f64 / 59.0,
                    lon: lo.lon + (hi.lon - lo.lon) * j as f64 / 59.0,
                })
            })
            .find(|p| r.courtyards.iter().all(|y| haversine_m(y.point, *p) > 600.0))
            .expect("the demo registry leaves empty spots inside the bounds")
    }

    #[derive(Clone, Copy, Debug)]
    enum At {
        No,
        /// Metres north of a courtyard (subdistrict, courtyard).
        Near(&'static str, &'static str, f64),
        Raw(f64, f64),
        /// Inside Chaoyang, > 600 m from every courtyard.
        Empty,
    }
    #[derive(Clone, Copy, Debug)]
    enum Want {
        /// (subdistrict, courtyard, by)
        Yard(&'static str, &'static str, MatchedBy),
        /// (reason, subdistrict, community under that subdistrict)
        Un(Unplaced, Option<&'static str>, Option<&'static str>),
    }
    use At::*;
    use MatchedBy::{Name, NameAndPoint, Point};
    use Unplaced::*;
    use Want::*;

    const XG: &str = "小关街道";
    const HX: &str = "惠新西街社区";
    const Y33: &str = "惠新西街33号院";
    const JIANWAI_YARD: (&str, &str) = ("建外街道", "祥文家园1号院");

    /// (address, point, expected placement, the rule it shows)
    const CASES: &[(&str, At, Want, &str)] = &[
        ("北京市朝阳区小关街道惠新西街33号院2号楼3单元", No, Yard(XG, Y33, Name), "the article's address places at its courtyard"),
        ("惠新西街33号院", No, Yard(XG, Y33, Name), "a unique courtyard name alone is enough"),
        ("朝阳区惠新西街33院", No, Yard(XG, Y33, Name), "33院 is 33号院"),
        ("北京惠新西街33号2号楼3单元301", No, Yard(XG, Y33, Name), "33号 followed by building parts is 33号院"),
        ("惠新西街33号", No, Yard(XG, Y33, Name), "33号 at the end is 33号院"),
        ("惠新西街33号小区", No, Yard(XG, Y33, Name), "33号小区 is 33号院"),
        ("小关街道惠新西街社区33号院", No, Yard(XG, Y33, Name), "community + number names that community's numbered courtyard"),
        (
            "北京市 朝阳区 小关街道办事处 惠新西街 ３３ 号院 ２号楼",
            No,
            Yard(XG, Y33, Name),
            "full-width digits, spaces and 办事处 are normalised",
        ),
        ("（小关）惠新西街33号院，2-3-301", No, Yard(XG, Y33, Name), "punctuation is dropped; a bare subdistrict stem is fine"),
        ("惠新西街3号院", No, Yard(XG, "惠新西街3号院", Name), "3号院 is its own courtyard, not 33号院"),
        ("惠新西街133号院", No, Un(NoMatch, Some(XG), Some(HX)), "33号院 does not match inside 133号院; the road is the community's stem"),
        ("惠新西街33号楼", No, Un(NoMatch, Some(XG), Some(HX)), "33号楼 is a building, not courtyard 33"),
        ("小关街道", No, Un(NoMatch, Some(XG), None), "subdistrict only: its queue"),
        ("北京市朝阳区小关", No, Un(NoMatch, Some(XG), None), "a bare subdistrict stem is recognised"),
        ("惠新西街社区居委会", No, Un(NoMatch, Some(XG), Some(HX)), "community only: its supervisor's queue"),
        ("八里庄街道甘西社区", No, Un(NoMatch, Some("八里庄街道"), Some("甘西社区")), "subdistrict + community"),
        ("望京街道花家地南里5号院", No, Yard("望京街道", "花家地南里5号院", Name), "里 inside a name stays: 花家地南里 + 5号院"),
        ("花家地南里社区", No, Un(NoMatch, Some("望京街道"), Some("花家地南里社区")), "the 里 community is a community, not a courtyard"),
        ("南磨房乡", No, Un(NoMatch, Some("南磨房地区"), None), "a township's 乡 name"),
        ("南磨房地区办事处", No, Un(NoMatch, Some("南磨房地区"), None), "a township's office"),
        ("小红门地区文朝店村3巷", No, Yard("小红门地区", "文朝店3巷", Name), "village + lane number"),
        ("文朝店3号巷", No, Yard("小红门地区", "文朝店3巷", Name), "3号巷 is 3巷"),
        ("文朝店3号院", No, Un(NoMatch, Some("小红门地区"), Some("文朝店村")), "a lane is not a 号院"),
        ("北京市海淀区中关村大街1号", No, Un(OutsideDistrict, None, None), "another Beijing district"),
        ("北京海淀中关村南大街5号院", No, Un(OutsideDistrict, None, None), "another district without 区"),
        ("东城区东直门外大街", No, Un(OutsideDistrict, None, None), "another district, no city"),
        ("北京市丰台区惠新西街33号院", No, Un(OutsideDistrict, None, None), "a Chaoyang-looking name in another district stays outside"),
        ("河北省廊坊市三河市燕郊镇", No, Un(OutsideDistrict, None, None), "another province"),
        ("吉林省长春市朝阳区人民大街", No, Un(OutsideDistrict, None, None), "Changchun's 朝阳区 is not ours"),
        ("长春市朝阳区前进大街", No, Un(OutsideDistrict, None, None), "another city"),
        ("辽宁朝阳市双塔区", No, Un(OutsideDistrict, None, None), "a bare province name"),
        ("天津市河西区", No, Un(OutsideDistrict, None, None), "a municipality"),
        (
            "惠新西街33号院",
            Raw(39.12, 117.20),
            Un(OutsideDistrict, Some(XG), Some(HX)),
            "a point outside Chaoyang, with the names recognised",
        ),
        ("", Raw(39.90, 116.30), Un(OutsideDistrict, None, None), "a point outside Chaoyang alone"),
        ("惠新西街33号院", Near(XG, Y33, 120.0), Yard(XG, Y33, NameAndPoint), "name + near point"),
        ("惠新西街33号院", Near(JIANWAI_YARD.0, JIANWAI_YARD.1, 0.0), Un(PointDisagrees, Some(XG), Some(HX)), "name + far point"),
        ("惠新西街33号院", Raw(f64::NAN, f64::NAN), Yard(XG, Y33, Name), "a point that is no coordinate is ignored"),
        ("乐和北里3号院", No, Un(Ambiguous, None, None), "a duplicated name without context"),
        ("乐和北里社区3号院", No, Un(Ambiguous, None, None), "the community name repeats too"),
        ("潘家园街道乐和北里3号院", No, Yard("潘家园街道", "乐和北里3号院", Name), "duplicate told apart by the subdistrict"),
        ("劲松街道乐和北里社区3号院", No, Yard("劲松街道", "乐和北里3号院", Name), "duplicate told apart by subdistrict + community"),
        ("劲松乐和北里3号院", No, Yard("劲松街道", "乐和北里3号院", Name), "a weak stem that narrows is used"),
        (
            "乐和北里3号院",
            Near("劲松街道", "乐和北里3号院", 80.0),
            Yard("劲松街道", "乐和北里3号院", NameAndPoint),
            "duplicate told apart by the point",
        ),
        ("乐和北里3号院", Near(JIANWAI_YARD.0, JIANWAI_YARD.1, 0.0), Un(PointDisagrees, None, None), "duplicate, far from both"),
        ("东湖惠新西街33号院", No, Yard(XG, Y33, Name), "a weak stem (东湖) that rules the courtyard out is ignored"),
        ("望京街道惠新西街33号院", No, Un(Conflicting, None, None), "a full subdistrict name that rules the courtyard out"),
        ("望京街道惠新西街社区", No, Un(Conflicting, None, None), "a community of another subdistrict"),
        ("", No, Un(NoMatch, None, None), "empty"),
        ("  ，。！", No, Un(NoMatch, None, None), "punctuation only"),
        ("朝阳区某某路100号", No, Un(NoMatch, None, None), "nothing recognised"),
        ("", Near(XG, "惠新西街5号院", 5.0), Yard(XG, "惠新西街5号院", Point), "a point alone, next to a courtyard"),
        ("某某路100号", Near(XG, "惠新西街5号院", 5.0), Yard(XG, "惠新西街5号院", Point), "unrecognised text + near point"),
        ("惠新西街社区", Near(XG, "惠新西街5号院", 5.0), Yard(XG, "惠新西街5号院", Point), "community + point inside it"),
        (
            "小关街道",
            Near(JIANWAI_YARD.0, JIANWAI_YARD.1, 5.0),
            Un(NoMatch, Some(XG), None),
            "the point is searched only inside what the text names",
        ),
        ("", Empty, Un(NoMatch, None, None), "a point far from every courtyard places nothing"),
    ];

    fn want(r: &Registry, w: Want) -> Placement {
        match w {
            Yard(s, y, by) => Placement::Courtyard { courtyard: yard(r, s, y).id, by },
            Un(reason, s, c) => Placement::Unplaced {
                reason,
                subdistrict: s.map(|s| sd(r, s).id),
                community: c.map(|c| community(r, s.expect("a community case names its subdistrict"), c).id),
            },
        }
    }

    #[test]
    fn case_table() {
        let (r, ix) = demo();
        assert!(CASES.len() >= 25);
        let mut failures = Vec::new();
        for &(address, at, w, rule) in CASES {
            let point = match at {
                No => None,
                Near(s, y, m) => Some(north(yard(r, s, y).point, m)),
                Raw(lat, lon) => Some(GeoPoint { lat, lon }),
                Empty => Some(empty_spot(r)),
            };
            let got = ix.locate(address, point);
            let expected = want(r, w);
            if got != expected {
                failures.push(format!("{rule}: {address:?} at {at:?}\n   got {got:?}\n  want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{} case(s) break their rule:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn every_demo_courtyard_is_found_by_its_full_address_and_duplicates_are_counted() {
        let (r, ix) = demo();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for y in &r.courtyards {
            *by_name.entry(&y.name).or_default() += 1;
        }
        // The generator builds courtyard names from community stems, and 11 community names
        // repeat across subdistricts, so 101 courtyard names appear twice.
        let duplicated = by_name.values().filter(|&&n| n > 1).count();
        assert_eq!(duplicated, 101, "101 courtyard names repeat in the demo registry");
        assert!(by_name.values().all(|&n| n <= 2), "no name appears more than twice");
        let mut ambiguous = 0;
        for y in &r.courtyards {
            let c = r.communities.iter().find(|c| c.id == y.community).unwrap();
            let s = r.subdistricts.iter().find(|s| s.id == c.subdistrict).unwrap();
            let placed = Placement::Courtyard { courtyard: y.id, by: MatchedBy::Name };
            let full = format!("北京市朝阳区{}{}{}2号楼", s.name, c.name, y.name);
            assert_eq!(ix.locate(&full, None), placed, "subdistrict + community + courtyard places {full}");
            // 「甘西社区3号院」「文朝店村3巷」: community + the courtyard's number.
            let (_, number, _) = parse_numbered(&normalise(&y.name)).expect("demo names are numbered");
            let suffix = if y.name.ends_with('巷') { "巷" } else { "院" };
            let short = format!("{}{}{number}{suffix}", s.name, c.name);
            assert_eq!(ix.locate(&short, None), placed, "community + number places {short}");
            let alone = ix.locate(&y.name, None);
            if by_name[y.name.as_str()] == 1 {
                assert_eq!(alone, placed, "a unique name alone places {}", y.name);
            } else {
                ambiguous += 1;
                assert_eq!(
                    alone,
                    Placement::Unplaced { reason: Unplaced::Ambiguous, subdistrict: None, community: None },
                    "a repeated name alone is ambiguous: {}",
                    y.name
                );
                let near = ix.locate(&y.name, Some(north(y.point, 50.0)));
                assert_eq!(near, Placement::Courtyard { courtyard: y.id, by: MatchedBy::NameAndPoint }, "the point picks {}", y.name);
            }
        }
        assert_eq!(ambiguous, 202, "both courtyards of each repeated name are ambiguous alone");
        assert_eq!(r.courtyards.len(), DEMO_COURTYARDS);
    }

    /// A small hand-built registry: bare-number names shared by two communities of one
    /// subdistrict, an unnumbered 小区, and a name that starts with 北京.
    fn small() -> (Registry, AddressIndex) {
        let s = Subdistrict { id: subdistrict_id("T01"), code: "T01".into(), name: "小关街道".into(), kind: SubdistrictKind::Street };
        let c = |code: &str, name: &str| Community { id: community_id(code), code: code.into(), name: name.into(), subdistrict: s.id };
        let communities = vec![c("T01-C01", "安华里社区"), c("T01-C02", "惠新苑社区")];
        let y = |code: &str, name: &str, community: usize, lat: f64| Courtyard {
            id: courtyard_id(code),
            code: code.into(),
            name: name.into(),
            community: communities[community].id,
            management_grid: management_grid_id("T01-M01"),
            point: GeoPoint { lat, lon: 116.42 + 0.05 },
        };
        let courtyards = vec![
            y("A3", "3号院", 0, 39.98),
            y("A33", "33号院", 0, 39.981),
            y("A5", "北京城建5号院", 0, 39.982),
            y("B3", "3号院", 1, 39.99),
            y("BW", "望京花园小区", 1, 39.991),
        ];
        let r = Registry { subdistricts: vec![s], communities, courtyards, ..Default::default() };
        let ix = AddressIndex::new(&r);
        (r, ix)
    }

    #[test]
    fn bare_numbers_unnumbered_names_and_shared_context() {
        let (r, ix) = small();
        let at = |code: &str| Placement::Courtyard { courtyard: courtyard_id(code), by: MatchedBy::Name };
        let s = Some(r.subdistricts[0].id);
        let cases: &[(&str, Placement, &str)] = &[
            ("安华里社区3号院", at("A3"), "a duplicated bare name told apart by the community"),
            ("惠新苑3号院2号楼", at("B3"), "… by the community's stem"),
            ("小关街道惠新苑社区3院", at("B3"), "… with the 院 variant"),
            (
                "3号院",
                Placement::Unplaced { reason: Unplaced::Ambiguous, subdistrict: s, community: None },
                "ambiguous, with the subdistrict both candidates share",
            ),
            (
                "小关街道3号院",
                Placement::Unplaced { reason: Unplaced::Ambiguous, subdistrict: s, community: None },
                "the subdistrict does not tell them apart",
            ),
            ("33号院", at("A33"), "33号院 is not 3号院"),
            ("朝阳区33号", at("A33"), "33号 is 33号院"),
            ("133号院", Placement::Unplaced { reason: Unplaced::NoMatch, subdistrict: None, community: None }, "133号院 is neither"),
            ("北京城建5号院", at("A5"), "a name starting with 北京 survives the prefix strip"),
            ("北京市朝阳区北京城建5号", at("A5"), "… after 北京市朝阳区 too"),
            ("望京花园小区", at("BW"), "an unnumbered 小区"),
            ("望京花园院", at("BW"), "… written with 院"),
            ("望京花园8号楼", at("BW"), "… or without a suffix"),
        ];
        for (address, expected, rule) in cases {
            assert_eq!(&ix.locate(address, None), expected, "{rule}: {address}");
        }
        // Two same-named courtyards 1.1 km apart: the point picks the nearer one.
        let p = GeoPoint { lat: 39.989, lon: 116.47 };
        assert_eq!(ix.locate("3号院", Some(p)), Placement::Courtyard { courtyard: courtyard_id("B3"), by: MatchedBy::NameAndPoint });
    }

    #[test]
    fn vocabularies_have_stable_codes_and_both_labels() {
        for &u in Unplaced::ALL {
            assert_eq!(Unplaced::from_code(u.code()), Some(u), "code round-trips");
            assert!(u.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "snake_case code {}", u.code());
            assert!(u.label_zh().chars().any(is_han), "Chinese label for {}", u.code());
            assert!(u.label_en().len() > 5 && u.label_en().is_ascii(), "English label for {}", u.code());
            assert_eq!(serde_json::to_value(u).unwrap(), serde_json::json!(u.code()), "serde uses the code");
        }
        for &m in MatchedBy::ALL {
            assert_eq!(MatchedBy::from_code(m.code()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!(m.code()));
        }
        let codes: std::collections::BTreeSet<_> = Unplaced::ALL.iter().map(|u| u.code()).collect();
        assert_eq!(codes.len(), Unplaced::ALL.len(), "codes are unique");
        let p = Placement::Unplaced { reason: Unplaced::NoMatch, subdistrict: None, community: None };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "unplaced", "reason": "no_match", "subdistrict": null, "community": null}));
        assert_eq!(serde_json::from_value::<Placement>(json).unwrap(), p, "placements round-trip");
    }

    #[test]
    fn haversine_is_metres() {
        let a = GeoPoint { lat: 39.98, lon: 116.41 };
        assert!((haversine_m(a, north(a, 1000.0)) - 1000.0).abs() < 1.0, "1 km north is 1 km");
        let east = GeoPoint { lat: 39.98, lon: 116.42 };
        let d = haversine_m(a, east);
        assert!((d - 852.5).abs() < 2.0, "0.01° of longitude at 40°N is about 852 m, got {d}");
        assert_eq!(haversine_m(a, a), 0.0);
        assert_eq!(haversine_m(a, east), haversine_m(east, a), "symmetric");
    }

    #[test]
    fn the_latitude_band_finds_what_a_full_scan_finds() {
        let (r, ix) = demo();
        let (lo, hi) = CHAOYANG_BOUNDS;
        for i in 0..40 {
            for j in 0..40 {
                let p = GeoPoint { lat: lo.lat + (hi.lat - lo.lat) * i as f64 / 39.0, lon: lo.lon + (hi.lon - lo.lon) * j as f64 / 39.0 };
                let brute = (0..r.courtyards.len() as u32)
                    .map(|y| (y, haversine_m(r.courtyards[y as usize].point, p)))
                    .filter(|e| e.1 <= POINT_ONLY_MAX_M)
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                assert_eq!(ix.nearest_anywhere(p, POINT_ONLY_MAX_M), brute, "band search = full scan at {p:?}");
            }
        }
    }

    /// Prints the time per `locate` over every demo courtyard's full address. Run with
    /// `cargo test --release -p gridwalk-domain locate_speed -- --nocapture`; nothing is asserted.
    #[test]
    fn locate_speed() {
        let (r, ix) = demo();
        let addresses: Vec<(String, GeoPoint)> = r
            .courtyards
            .iter()
            .map(|y| {
                let c = r.communities.iter().find(|c| c.id == y.community).unwrap();
                (format!("北京市朝阳区{}{}2号楼3单元301", c.name, y.name), north(y.point, 40.0))
            })
            .collect();
        let start = std::time::Instant::now();
        let mut placed = 0usize;
        for (a, p) in &addresses {
            placed += usize::from(ix.locate(a, Some(*p)).courtyard().is_some());
        }
        let per = start.elapsed() / addresses.len() as u32;
        println!("locate: {per:?} per address (name + point) over {} addresses, {placed} placed", addresses.len());
        let start = std::time::Instant::now();
        for (_, p) in &addresses {
            std::hint::black_box(ix.locate("", Some(*p)));
        }
        println!("locate: {:?} per point-only order", start.elapsed() / addresses.len() as u32);
        let start = std::time::Instant::now();
        let built = std::hint::black_box(AddressIndex::new(r));
        println!("AddressIndex::new: {:?} ({built:?})", start.elapsed());
    }

    fn arb_point() -> impl Strategy<Value = GeoPoint> {
        let (lo, hi) = CHAOYANG_BOUNDS;
        (lo.lat - 0.02..hi.lat + 0.02, lo.lon - 0.02..hi.lon + 0.02).prop_map(|(lat, lon)| GeoPoint { lat, lon })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Never refused (any text gives a placement, no panic) and never filed far: a
        /// placement that used the point is within its threshold of it.
        #[test]
        fn never_far_never_refused(
            yard_ix in 0..DEMO_COURTYARDS,
            noise in "[ 北京市朝阳区街道社区号院楼单元0-9３，、-]{0,12}",
            tail in "\\PC{0,12}",
            point in proptest::option::of(arb_point()),
        ) {
            let (r, ix) = demo();
            let y = &r.courtyards[yard_ix];
            for address in [format!("{noise}{}{tail}", y.name), format!("{tail}{noise}"), noise.clone()] {
                let placed = ix.locate(&address, point);
                if let (Placement::Courtyard { courtyard, by }, Some(p)) = (&placed, point) {
                    let at = r.courtyards.iter().find(|c| c.id == *courtyard).unwrap().point;
                    let d = haversine_m(at, p);
                    let max = match by { MatchedBy::Point => POINT_ONLY_MAX_M, _ => POINT_AGREES_M };
                    prop_assert!(in_chaoyang(p), "a point outside Chaoyang places nothing");
                    prop_assert!(d <= max, "{address:?} placed {d:.0} m from the point by {by:?}");
                }
                if let Placement::Courtyard { by, .. } = &placed {
                    prop_assert_eq!(*by == MatchedBy::Name, point.is_none(), "by Name exactly when there is no point");
                }
            }
        }
    }
}
