//! The audit log: who did what, when. Written in the same transaction as the action it records,
//! so an action and its audit row stand or fall together.

use crate::error::Result;
use rusqlite::{params, Connection};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

pub fn record(conn: &Connection, at_ms: i64, actor: &str, action: &str, detail: &str) -> Result<()> {
    conn.execute("INSERT INTO audit (at_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)", params![at_ms, actor, action, detail])?;
    tracing::info!(actor, action, detail, "audit");
    Ok(())
}

/// The most recent entries, newest first.
pub fn recent(conn: &Connection, limit: u32) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare("SELECT id, at_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry { id: r.get(0)?, at_ms: r.get(1)?, actor: r.get(2)?, action: r.get(3)?, detail: r.get(4)? })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
