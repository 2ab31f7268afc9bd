//! The registry on the tablet: loading it and searching courtyards by Chinese substring.

use crate::error::Result;
use crate::tablet::Tablet;
use gridwalk_domain::{CommunityId, CourtyardId, ManagementGridId, Registry, SubdistrictKind};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

/// Each courtyard's responsible grid worker, as the server's snapshot names them: what "my
/// courtyards this week" counts.
pub(crate) fn set_responsible(tx: &Transaction, responsible: &[gridwalk_proto::ResponsibleWorker]) -> Result<()> {
    tx.execute("UPDATE courtyards SET responsible_id = NULL WHERE responsible_id IS NOT NULL", [])?;
    let mut st = tx.prepare("UPDATE courtyards SET responsible_id = ?2 WHERE id = ?1")?;
    for r in responsible {
        st.execute(params![r.courtyard_id.to_string(), r.worker_id.to_string()])?;
    }
    Ok(())
}

pub(crate) fn replace(tx: &Transaction, reg: &Registry) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM courtyards_fts; DELETE FROM courtyards; DELETE FROM technical_grids;
         DELETE FROM management_grids; DELETE FROM communities; DELETE FROM subdistricts;",
    )?;
    let mut sd_names = std::collections::HashMap::new();
    {
        let mut st = tx.prepare("INSERT INTO subdistricts (id, code, name, kind) VALUES (?1, ?2, ?3, ?4)")?;
        for s in &reg.subdistricts {
            let kind = if s.kind == SubdistrictKind::Street { "street" } else { "township" };
            st.execute(params![s.id.to_string(), s.code, s.name, kind])?;
            sd_names.insert(s.id, s.name.as_str());
        }
    }
    let mut community_names = std::collections::HashMap::new();
    {
        let mut st = tx.prepare("INSERT INTO communities (id, code, name, subdistrict_id) VALUES (?1, ?2, ?3, ?4)")?;
        for c in &reg.communities {
            st.execute(params![c.id.to_string(), c.code, c.name, c.subdistrict.to_string()])?;
            community_names.insert(c.id, (c.name.as_str(), sd_names.get(&c.subdistrict).copied().unwrap_or("")));
        }
    }
    {
        let mut st = tx.prepare("INSERT INTO management_grids (id, code, subdistrict_id) VALUES (?1, ?2, ?3)")?;
        for g in &reg.management_grids {
            st.execute(params![g.id.to_string(), g.code, g.subdistrict.to_string()])?;
        }
        let mut st = tx.prepare("INSERT INTO technical_grids (id, code, management_grid_id, courtyard_id) VALUES (?1, ?2, ?3, ?4)")?;
        for t in &reg.technical_grids {
            st.execute(params![t.id.to_string(), t.code, t.management_grid.to_string(), t.courtyard.to_string()])?;
        }
    }
    let mut yard = tx.prepare(
        "INSERT INTO courtyards (id, code, name, community_id, management_grid_id, lat, lon) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut fts = tx.prepare("INSERT INTO courtyards_fts (rowid, search_text) VALUES (?1, ?2)")?;
    for c in &reg.courtyards {
        yard.execute(params![
            c.id.to_string(),
            c.code,
            c.name,
            c.community.to_string(),
            c.management_grid.to_string(),
            c.point.lat,
            c.point.lon
        ])?;
        let rid = tx.last_insert_rowid();
        let (community, subdistrict) = community_names.get(&c.community).copied().unwrap_or(("", ""));
        fts.execute(params![rid, format!("{} {} {} {}", c.name, community, subdistrict, c.code)])?;
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourtyardRow {
    pub id: CourtyardId,
    pub code: String,
    pub name: String,
    pub community_id: CommunityId,
    pub community_name: String,
    pub subdistrict_name: String,
    pub management_grid_id: ManagementGridId,
    pub management_grid_code: String,
    pub lat: f64,
    pub lon: f64,
    pub open_issues: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommunityRow {
    pub id: CommunityId,
    pub code: String,
    pub name: String,
    pub subdistrict_name: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CourtyardQuery {
    /// Chinese (or code) substring; empty lists all.
    pub text: String,
    pub community: Option<CommunityId>,
    pub management_grid: Option<ManagementGridId>,
    pub limit: u32,
}

const COURTYARD_COLUMNS: &str = "c.id, c.code, c.name, c.community_id, m.name, s.name, c.management_grid_id, g.code, c.lat, c.lon,
    (SELECT count(*) FROM issues i WHERE i.courtyard_id = c.id AND i.status != 'closed')";

impl Tablet {
    /// Courtyards matching a Chinese substring of their name, community, subdistrict or code.
    /// Three or more characters go through the FTS5 trigram index; one or two characters
    /// (路灯, 甘西) cannot be trigrams, so they fall back to LIKE over the same text.
    pub fn search_courtyards(&self, q: &CourtyardQuery) -> Result<Vec<CourtyardRow>> {
        let text = q.text.trim();
        let limit = if q.limit == 0 { 50 } else { q.limit.min(500) };
        let mut sql = format!(
            "SELECT {COURTYARD_COLUMNS} FROM courtyards c
             JOIN communities m ON m.id = c.community_id
             JOIN subdistricts s ON s.id = m.subdistrict_id
             JOIN management_grids g ON g.id = c.management_grid_id WHERE 1 = 1"
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !text.is_empty() {
            if text.chars().count() >= 3 {
                sql.push_str(" AND c.rid IN (SELECT rowid FROM courtyards_fts WHERE courtyards_fts MATCH ?)");
                // Quote as one FTS5 string so user text is never parsed as query syntax.
                args.push(format!("\"{}\"", text.replace('"', "\"\"")).into());
            } else {
                sql.push_str(" AND c.rid IN (SELECT rowid FROM courtyards_fts WHERE search_text LIKE ? ESCAPE '\\')");
                let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                args.push(format!("%{escaped}%").into());
            }
        }
        if let Some(c) = q.community {
            sql.push_str(" AND c.community_id = ?");
            args.push(c.to_string().into());
        }
        if let Some(g) = q.management_grid {
            sql.push_str(" AND c.management_grid_id = ?");
            args.push(g.to_string().into());
        }
        sql.push_str(&format!(" ORDER BY c.code LIMIT {limit}"));
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), courtyard_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn courtyard(&self, id: CourtyardId) -> Result<CourtyardRow> {
        let sql = format!(
            "SELECT {COURTYARD_COLUMNS} FROM courtyards c
             JOIN communities m ON m.id = c.community_id
             JOIN subdistricts s ON s.id = m.subdistrict_id
             JOIN management_grids g ON g.id = c.management_grid_id WHERE c.id = ?1"
        );
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(&sql, [id.to_string()], courtyard_row)
            .optional()?
            .ok_or(crate::error::CoreError::NotFound { what: "courtyard" })
    }

    /// The communities this tablet's registry holds (a supervisor's 转派 picker).
    pub fn communities(&self) -> Result<Vec<CommunityRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT m.id, m.code, m.name, s.name FROM communities m JOIN subdistricts s ON s.id = m.subdistrict_id ORDER BY m.code",
        )?;
        let rows = st.query_map([], |r| {
            Ok(CommunityRow { id: parse_text_id(r.get(0)?)?, code: r.get(1)?, name: r.get(2)?, subdistrict_name: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts of what the registry holds, for summaries.
    pub fn registry_counts(&self) -> Result<[u64; 5]> {
        let mut out = [0u64; 5];
        for (i, t) in ["subdistricts", "communities", "courtyards", "management_grids", "technical_grids"].iter().enumerate() {
            out[i] = self.conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0))? as u64;
        }
        Ok(out)
    }
}

pub(crate) fn parse_text_id<T: std::str::FromStr>(s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|_| rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Text))
}

fn courtyard_row(r: &rusqlite::Row) -> rusqlite::Result<CourtyardRow> {
    Ok(CourtyardRow {
        id: parse_text_id(r.get(0)?)?,
        code: r.get(1)?,
        name: r.get(2)?,
        community_id: parse_text_id(r.get(3)?)?,
        community_name: r.get(4)?,
        subdistrict_name: r.get(5)?,
        management_grid_id: parse_text_id(r.get(6)?)?,
        management_grid_code: r.get(7)?,
        lat: r.get(8)?,
        lon: r.get(9)?,
        open_issues: r.get(10)?,
    })
}
