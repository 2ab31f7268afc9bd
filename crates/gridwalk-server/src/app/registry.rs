//! The district registry as the server holds it: indexed in memory for scope checks and
//! dispatch, and versioned so tablets pull it only when it changed.

use crate::error::{Error, Result};
use crate::model::{Place, Scope};
use crate::store::Reader;
use gridwalk_domain::address::AddressIndex;
use gridwalk_domain::{CommunityId, Courtyard, CourtyardId, Registry, SubdistrictId, WorkerId};
use gridwalk_proto::{RegistrySnapshot, ResponsibleWorker, ScopeUnit};
use std::collections::{HashMap, HashSet};

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
    /// Each courtyard's responsible grid worker and their name.
    responsible: HashMap<CourtyardId, (WorkerId, String)>,
    /// Built on first use: only intake needs it.
    address: std::sync::OnceLock<AddressIndex>,
}

impl RegistryIndex {
    pub fn new(registry: Registry, version: u64) -> Self {
        let courtyard_by_id = registry.courtyards.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let courtyard_by_code = registry.courtyards.iter().enumerate().map(|(i, c)| (c.code.clone(), i)).collect();
        let community_parent = registry.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
        let community_by_code = registry.communities.iter().map(|c| (c.code.clone(), c.id)).collect();
        let subdistrict_by_code = registry.subdistricts.iter().map(|s| (s.code.clone(), s.id)).collect();
        RegistryIndex {
            registry,
            version,
            courtyard_by_id,
            courtyard_by_code,
            community_parent,
            community_by_code,
            subdistrict_by_code,
            responsible: HashMap::new(),
            address: std::sync::OnceLock::new(),
        }
    }

    /// The stored registry, its version and the courtyards' responsible workers. Naming a
    /// responsible worker bumps the version, so tablets pull the change with the registry.
    pub fn load(r: &dyn Reader) -> Result<RegistryIndex> {
        let mut index = RegistryIndex::new(r.registry()?, r.registry_version()?);
        let names: HashMap<WorkerId, String> = r.workers()?.into_iter().map(|w| (w.id, w.name)).collect();
        for (yard, worker) in r.responsible_workers()? {
            index.responsible.insert(yard, (worker, names.get(&worker).cloned().unwrap_or_default()));
        }
        Ok(index)
    }

    /// The registry's names, indexed for placing free addresses.
    pub fn address_index(&self) -> &AddressIndex {
        self.address.get_or_init(|| AddressIndex::new(&self.registry))
    }

    pub fn courtyard(&self, id: CourtyardId) -> Option<&Courtyard> {
        self.courtyard_by_id.get(&id).map(|&i| &self.registry.courtyards[i])
    }

    pub fn courtyard_by_code(&self, code: &str) -> Option<&Courtyard> {
        self.courtyard_by_code.get(code).map(|&i| &self.registry.courtyards[i])
    }

    /// A courtyard's responsible grid worker (责任网格员), if one is named.
    pub fn responsible(&self, id: CourtyardId) -> Option<WorkerId> {
        self.responsible.get(&id).map(|(w, _)| *w)
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
            responsible: courtyards
                .iter()
                .filter_map(|c| {
                    self.responsible.get(&c.id).map(|(w, name)| ResponsibleWorker { courtyard_id: c.id, worker_id: *w, name: name.clone() })
                })
                .collect(),
            courtyards,
            version: self.version,
        }
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
    }
}
