//! Open311 API keys: made by an admin (`gridwalk-server apikey add`), shown once, stored only
//! as their sha256 (like device tokens), revocable. The `api_keys` table is migration 2's.

use crate::audit;
use crate::auth::{new_token, token_hash};
use crate::error::{Error, Result};
use gridwalk_domain::validate::MAX_NAME_CHARS;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A key as listed: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// A new key: its id and the key, which exists nowhere else once printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    pub id: String,
    pub key: String,
}

/// The audit actor of requests made with a key.
pub fn actor(key_id: &str) -> String {
    format!("open311:{key_id}")
}

pub fn add(conn: &Connection, actor_name: &str, name: &str, now_ms: i64) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(gridwalk_domain::ValidationError::EmptyText { field: "name" }.into());
    }
    let key = new_token();
    let id = uuid::Builder::from_unix_timestamp_millis(now_ms.max(0) as u64, &crate::auth::random_bits()).into_uuid().to_string();
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO api_keys (id, name, key_hash, created_ms, revoked_ms) VALUES (?1, ?2, ?3, ?4, NULL)",
        params![id, name, token_hash(&key), now_ms],
    )?;
    audit::record(&tx, now_ms, actor_name, "api_key_added", &format!("{id} ({name})"))?;
    tx.commit()?;
    Ok(NewApiKey { id, key })
}

pub fn list(conn: &Connection) -> Result<Vec<ApiKeyInfo>> {
    let mut stmt = conn.prepare("SELECT id, name, created_ms, revoked_ms FROM api_keys ORDER BY created_ms, id")?;
    let rows = stmt.query_map([], |r| Ok(ApiKeyInfo { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)?, revoked_ms: r.get(3)? }))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn revoke(conn: &Connection, actor_name: &str, id: &str, now_ms: i64) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM api_keys WHERE id = ?1)", [id], |r| r.get(0))?;
    if !exists {
        return Err(Error::NotFound(format!("api key {id}")));
    }
    tx.execute("UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", params![id, now_ms])?;
    audit::record(&tx, now_ms, actor_name, "api_key_revoked", id)?;
    tx.commit()?;
    Ok(())
}

/// The id of the live key `key` is, if any (unknown and revoked keys are both `None`).
pub fn lookup(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT id FROM api_keys WHERE key_hash = ?1 AND revoked_ms IS NULL", [token_hash(key)], |r| r.get(0)).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_hashed_found_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::admin::open(dir.path()).unwrap();
        let k = add(&conn, "cli", "12345 平台", 1_000).unwrap();
        assert_eq!(k.key.len(), 64, "a key is 256 random bits in hex");
        let stored: String = conn.query_row("SELECT key_hash FROM api_keys WHERE id = ?1", [&k.id], |r| r.get(0)).unwrap();
        assert_ne!(stored, k.key, "the key itself is never stored");
        assert_eq!(stored, token_hash(&k.key), "only its sha256 is");
        assert_eq!(lookup(&conn, &k.key).unwrap(), Some(k.id.clone()), "the key finds its id");
        assert_eq!(lookup(&conn, &"0".repeat(64)).unwrap(), None, "another key finds nothing");
        revoke(&conn, "cli", &k.id, 2_000).unwrap();
        assert_eq!(lookup(&conn, &k.key).unwrap(), None, "a revoked key is dead");
        assert_eq!(list(&conn).unwrap()[0].revoked_ms, Some(2_000), "the list shows the revocation");
        assert!(matches!(revoke(&conn, "cli", "nope", 3_000), Err(Error::NotFound(_))), "revoking an unknown key fails loudly");
        assert!(add(&conn, "cli", " ", 1).is_err(), "a key needs a name");
    }
}
