//! The district registry as the server holds it: stored in SQLite, indexed in memory for scope
//! checks and dispatch, and versioned so tablets pull it only when it changed.

use crate::db::{meta_get, meta_set};
use crate::error::{Error, Result};
use gridwalk_domain::{CommunityId, Courtyard, CourtyardId, Registry, SubdistrictId};
use gridwalk_proto::{RegistrySnapshot, ScopeUnit};
use rusqlite::{params, Connection};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Where a courtyard sits: what scope checks and the event table's denormalized columns need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub courtyard: CourtyardId,
    pub community: CommunityId,
    pub subdistrict: SubdistrictId,
}

/// The registry with lookups by id and code.
#[derive(Debug, Default)]
pub struct RegistryIndex {
    pub registry: Registry,
    pub version: u64,
    courtyard_by_id: HashMap<CourtyardId, usize>,
    courtyard_by_code: HashMap<String, usize>,
    community_parent: HashMap<CommunityId, SubdistrictId>,
    community_by_code: HashMap<String, CommunityId>,
    subdistrict_by_code: HashMap<String, SubdistrictId>,
}

impl RegistryIndex {
    pub fn new(registry: Registry, version: u64) -> Self {
        let courtyard_by_id = registry.courtyards.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let courtyard_by_code = registry.courtyards.iter().enumerate().map(|(i, c)| (c.code.clone(), i)).collect();
        let community_parent = registry.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
        let community_by_code = registry.communities.iter().map(|c| (c.code.clone(), c.id)).collect();
        let subdistrict_by_code = registry.subdistricts.iter().map(|s| (s.code.clone(), s.id)).collect();
        RegistryIndex { registry, version, courtyard_by_id, courtyard_by_code, community_parent, community_by_code, subdistrict_by_code }
    }

    pub fn courtyard(&self, id: CourtyardId) -> Option<&Courtyard> {
        self.courtyard_by_id.get(&id).map(|&i| &self.registry.courtyards[i])
    }

    pub fn courtyard_by_code(&self, code: &str) -> Option<&Courtyard> {
        self.courtyard_by_code.get(code).map(|&i| &self.registry.courtyards[i])
    }

    pub fn place(&self, id: CourtyardId) -> Option<Place> {
        let c = self.courtyard(id)?;
        let subdistrict = *self.community_parent.get(&c.community)?;
        Some(Place { courtyard: c.id, community: c.community, subdistrict })
    }

    /// Resolve scope units (codes) to ids. Fails on a code the registry does not have, so a
    /// typo never silently gives a worker nothing (or the wrong thing).
    pub fn resolve(&self, units: &[ScopeUnit]) -> Result<Scope> {
        let mut scope = Scope::default();
        for u in units {
            match u {
                ScopeUnit::District => scope.district = true,
                ScopeUnit::Subdistrict(code) => {
                    let id = self.subdistrict_by_code.get(code).ok_or_else(|| Error::UnknownScopeUnit(format!("subdistrict:{code}")))?;
                    scope.subdistricts.insert(*id);
                }
                ScopeUnit::Community(code) => {
                    let id = self.community_by_code.get(code).ok_or_else(|| Error::UnknownScopeUnit(format!("community:{code}")))?;
                    scope.communities.insert(*id);
                }
                ScopeUnit::Courtyard(code) => {
                    let c = self.courtyard_by_code(code).ok_or_else(|| Error::UnknownScopeUnit(format!("courtyard:{code}")))?;
                    scope.courtyards.insert(c.id);
                }
                // Departments are not in the registry: a department is whatever name the
                // whistle calls (e.g. 区城管委).
                ScopeUnit::Department(code) => {
                    scope.departments.insert(code.clone());
                }
            }
        }
        Ok(scope)
    }

    /// Like [`RegistryIndex::resolve`], but skips units the registry no longer has (a registry
    /// re-import may drop a unit a worker was given; that worker then simply sees less).
    pub fn resolve_lenient(&self, units: &[ScopeUnit]) -> Scope {
        let mut scope = Scope::default();
        for u in units {
            if let Ok(s) = self.resolve(std::slice::from_ref(u)) {
                scope.district |= s.district;
                scope.subdistricts.extend(s.subdistricts);
                scope.communities.extend(s.communities);
                scope.courtyards.extend(s.courtyards);
                scope.departments.extend(s.departments);
            }
        }
        scope
    }

    /// The part of the registry inside `scope`, as tablets receive it.
    pub fn snapshot(&self, scope: &Scope) -> RegistrySnapshot {
        let r = &self.registry;
        let courtyards: Vec<Courtyard> =
            r.courtyards.iter().filter(|c| self.place(c.id).is_some_and(|p| scope.contains(&p))).cloned().collect();
        let yard_ids: HashSet<CourtyardId> = courtyards.iter().map(|c| c.id).collect();
        let communities: HashSet<CommunityId> = courtyards.iter().map(|c| c.community).collect();
        let subdistricts: HashSet<SubdistrictId> = communities.iter().filter_map(|c| self.community_parent.get(c).copied()).collect();
        let grids: HashSet<_> = courtyards.iter().map(|c| c.management_grid).collect();
        RegistrySnapshot {
            subdistricts: r.subdistricts.iter().filter(|s| subdistricts.contains(&s.id)).cloned().collect(),
            communities: r.communities.iter().filter(|c| communities.contains(&c.id)).cloned().collect(),
            management_grids: r.management_grids.iter().filter(|g| grids.contains(&g.id)).cloned().collect(),
            technical_grids: r.technical_grids.iter().filter(|t| yard_ids.contains(&t.courtyard)).cloned().collect(),
            courtyards,
            version: self.version,
        }
    }
}

/// What a worker may see and write: the whole district, or a set of subdistricts, communities
/// and courtyards (resolved to ids), plus the departments whose whistled issues they see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub district: bool,
    pub subdistricts: HashSet<SubdistrictId>,
    pub communities: HashSet<CommunityId>,
    pub courtyards: HashSet<CourtyardId>,
    /// Whistle targets: issues whistled to one of these are in scope (department staff).
    pub departments: BTreeSet<String>,
}

impl Scope {
    pub fn contains(&self, p: &Place) -> bool {
        self.district
            || self.courtyards.contains(&p.courtyard)
            || self.communities.contains(&p.community)
            || self.subdistricts.contains(&p.subdistrict)
    }

    /// A SQL condition over a table's `courtyard_id`, `community_id` and `subdistrict_id`
    /// columns, with its parameters. Ids go in as parameters, never into the SQL text.
    pub fn sql_filter(&self) -> (String, Vec<String>) {
        if self.district {
            return ("1".into(), Vec::new());
        }
        let mut parts = Vec::new();
        let mut params = Vec::new();
        let mut add = |column: &str, ids: Vec<String>| {
            if !ids.is_empty() {
                let marks = vec!["?"; ids.len()].join(",");
                parts.push(format!("{column} IN ({marks})"));
                params.extend(ids);
            }
        };
        add("subdistrict_id", self.subdistricts.iter().map(|i| i.to_string()).collect());
        add("community_id", self.communities.iter().map(|i| i.to_string()).collect());
        add("courtyard_id", self.courtyards.iter().map(|i| i.to_string()).collect());
        if parts.is_empty() {
            return ("0".into(), Vec::new());
        }
        (format!("({})", parts.join(" OR ")), params)
    }

    /// [`Scope::sql_filter`] for rows about issues, widened by the department rule: a row whose
    /// `id_column` names an issue whistled to one of the scope's departments is in scope too.
    pub fn issue_sql_filter(&self, id_column: &str) -> (String, Vec<String>) {
        let (geo, mut params) = self.sql_filter();
        if self.district || self.departments.is_empty() {
            return (geo, params);
        }
        let marks = vec!["?"; self.departments.len()].join(",");
        params.extend(self.departments.iter().cloned());
        (format!("({geo} OR {id_column} IN (SELECT issue_id FROM issue_whistles WHERE target IN ({marks})))"), params)
    }

    /// Whether an issue is in scope by the department rule (whistled to one of our departments).
    pub fn whistled_to_us(&self, conn: &Connection, issue: gridwalk_domain::IssueId) -> Result<bool> {
        if self.departments.is_empty() {
            return Ok(false);
        }
        let mut stmt = conn.prepare_cached("SELECT 1 FROM issue_whistles WHERE issue_id = ?1 AND target = ?2 LIMIT 1")?;
        for d in &self.departments {
            if stmt.exists(params![issue.to_string(), d])? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Parse a scope unit as typed on the command line: `district`, `subdistrict:CODE`,
/// `community:CODE`, `courtyard:CODE` or `department:NAME` (a whistle target).
pub fn parse_scope_unit(s: &str) -> Result<ScopeUnit> {
    let s = s.trim();
    if s == "district" {
        return Ok(ScopeUnit::District);
    }
    let (level, code) = s.split_once(':').ok_or_else(|| Error::BadScope(s.to_owned()))?;
    if code.is_empty() {
        return Err(Error::BadScope(s.to_owned()));
    }
    match level {
        "subdistrict" => Ok(ScopeUnit::Subdistrict(code.to_owned())),
        "community" => Ok(ScopeUnit::Community(code.to_owned())),
        "courtyard" => Ok(ScopeUnit::Courtyard(code.to_owned())),
        "department" => Ok(ScopeUnit::Department(code.to_owned())),
        _ => Err(Error::BadScope(s.to_owned())),
    }
}

pub fn stored_version(conn: &Connection) -> Result<u64> {
    Ok(meta_get(conn, "registry_version")?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Load the stored registry and its version.
pub fn load(conn: &Connection) -> Result<RegistryIndex> {
    fn all<T: serde::de::DeserializeOwned>(conn: &Connection, table: &str) -> Result<Vec<T>> {
        let mut stmt = conn.prepare(&format!("SELECT json FROM {table} ORDER BY code"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }
    let registry = Registry {
        subdistricts: all(conn, "subdistricts")?,
        communities: all(conn, "communities")?,
        management_grids: all(conn, "management_grids")?,
        technical_grids: all(conn, "technical_grids")?,
        courtyards: all(conn, "courtyards")?,
    };
    Ok(RegistryIndex::new(registry, stored_version(conn)?))
}

/// Replace the stored registry wholesale and bump its version. Runs in the caller's
/// transaction, so an import is all or nothing.
pub fn replace(conn: &Connection, registry: &Registry) -> Result<u64> {
    conn.execute_batch(
        "DELETE FROM subdistricts; DELETE FROM communities; DELETE FROM management_grids;
         DELETE FROM technical_grids; DELETE FROM courtyards;",
    )?;
    let parent: HashMap<CommunityId, SubdistrictId> = registry.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
    for s in &registry.subdistricts {
        conn.execute(
            "INSERT INTO subdistricts (id, code, json) VALUES (?1, ?2, ?3)",
            params![s.id.to_string(), s.code, serde_json::to_string(s)?],
        )?;
    }
    for c in &registry.communities {
        conn.execute(
            "INSERT INTO communities (id, code, subdistrict_id, json) VALUES (?1, ?2, ?3, ?4)",
            params![c.id.to_string(), c.code, c.subdistrict.to_string(), serde_json::to_string(c)?],
        )?;
    }
    for g in &registry.management_grids {
        conn.execute(
            "INSERT INTO management_grids (id, code, json) VALUES (?1, ?2, ?3)",
            params![g.id.to_string(), g.code, serde_json::to_string(g)?],
        )?;
    }
    for t in &registry.technical_grids {
        conn.execute(
            "INSERT INTO technical_grids (id, code, json) VALUES (?1, ?2, ?3)",
            params![t.id.to_string(), t.code, serde_json::to_string(t)?],
        )?;
    }
    for y in &registry.courtyards {
        let sub = parent.get(&y.community).ok_or_else(|| Error::UnknownCourtyard(format!("{} names an unknown community", y.code)))?;
        conn.execute(
            "INSERT INTO courtyards (id, code, community_id, subdistrict_id, json) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![y.id.to_string(), y.code, y.community.to_string(), sub.to_string(), serde_json::to_string(y)?],
        )?;
    }
    let version = stored_version(conn)? + 1;
    meta_set(conn, "registry_version", &version.to_string())?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_domain::registry_gen::demo_registry;

    #[test]
    fn scope_units_resolve_and_contain_their_courtyards() {
        let reg = demo_registry();
        let idx = RegistryIndex::new(reg.clone(), 1);
        let yard = &reg.courtyards[0];
        let place = idx.place(yard.id).unwrap();
        let sub_code = reg.subdistricts.iter().find(|s| s.id == place.subdistrict).unwrap().code.clone();
        let other = reg.courtyards.iter().find(|c| idx.place(c.id).unwrap().subdistrict != place.subdistrict).unwrap();
        let scope = idx.resolve(&[ScopeUnit::Subdistrict(sub_code)]).unwrap();
        assert!(scope.contains(&place), "a subdistrict scope contains its courtyards");
        assert!(!scope.contains(&idx.place(other.id).unwrap()), "a subdistrict scope excludes other subdistricts");
        assert!(idx.resolve(&[ScopeUnit::Community("nope".into())]).is_err(), "unknown scope codes are refused");
        let snap = idx.snapshot(&scope);
        assert!(snap.courtyards.iter().all(|c| scope.contains(&idx.place(c.id).unwrap())), "the snapshot holds only the scope");
        assert_eq!(snap.subdistricts.len(), 1, "the snapshot carries the one subdistrict in scope");
        assert_eq!(parse_scope_unit("courtyard:A-1").unwrap(), ScopeUnit::Courtyard("A-1".into()));
        assert!(parse_scope_unit("planet:x").is_err(), "unknown scope levels are refused");
        assert_eq!(
            parse_scope_unit("department:区城管委").unwrap(),
            ScopeUnit::Department("区城管委".into()),
            "departments are scope units"
        );
        let dept = idx.resolve(&[ScopeUnit::Department("区城管委".into())]).unwrap();
        assert!(!dept.contains(&place), "a department scope holds no place: only what is whistled to it");
        assert_eq!(dept.sql_filter().0, "0", "a department scope matches no row by place");
    }
}
