//! Open311 API keys: made by an admin (`gridwalk-server apikey add`), shown once, stored only
//! as their sha256 (like device tokens), revocable.

use crate::app::auth::{new_token, token_hash};
use crate::error::{Error, Result};
use crate::store::Tx;
use gridwalk_clock::Clock;
use gridwalk_domain::validate::MAX_NAME_CHARS;

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

pub fn add(tx: &dyn Tx, clock: &dyn Clock, actor_name: &str, name: &str) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(gridwalk_domain::ValidationError::EmptyText { field: "name" }.into());
    }
    let now_ms = clock.now_ms();
    let key = new_token();
    let id = uuid::Builder::from_unix_timestamp_millis(now_ms.max(0) as u64, &clock.random()).into_uuid().to_string();
    tx.insert_api_key(&id, name, &token_hash(&key), now_ms)?;
    tx.audit(now_ms, actor_name, "api_key_added", &format!("{id} ({name})"))?;
    Ok(NewApiKey { id, key })
}

pub fn revoke(tx: &dyn Tx, actor_name: &str, id: &str, now_ms: i64) -> Result<()> {
    if !tx.api_key_exists(id)? {
        return Err(Error::NotFound(format!("api key {id}")));
    }
    tx.revoke_api_key(id, now_ms)?;
    tx.audit(now_ms, actor_name, "api_key_revoked", id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::admin;

    #[test]
    fn a_key_is_stored_hashed_found_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let k = admin::add_api_key(dir.path(), "12345 平台").unwrap();
        assert_eq!(k.key.len(), 64, "a key is 256 random bits in hex");
        let store = admin::open(dir.path()).unwrap();
        let (key, id) = (k.key.clone(), k.id.clone());
        let found = store.read_blocking(|r| r.api_key_by_hash(&token_hash(&key))).unwrap();
        assert_eq!(found, Some(id), "the key's sha256 finds its id");
        assert_eq!(store.read_blocking(|r| r.api_key_by_hash(&k.key)).unwrap(), None, "the key itself is never stored");
        assert_eq!(store.read_blocking(|r| r.api_key_by_hash(&token_hash(&"0".repeat(64)))).unwrap(), None, "another key finds nothing");
        admin::revoke_api_key(dir.path(), &k.id).unwrap();
        assert_eq!(store.read_blocking(|r| r.api_key_by_hash(&token_hash(&key))).unwrap(), None, "a revoked key is dead");
        assert!(admin::list_api_keys(dir.path()).unwrap()[0].revoked_ms.is_some(), "the list shows the revocation");
        assert!(matches!(admin::revoke_api_key(dir.path(), "nope"), Err(Error::NotFound(_))), "revoking an unknown key fails loudly");
        assert!(admin::add_api_key(dir.path(), " ").is_err(), "a key needs a name");
    }
}
