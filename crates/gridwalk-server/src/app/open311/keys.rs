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

/// A query string with every `api_key` value replaced by `[redacted]`, for the log and the
/// audit table: a key sent in a URL must not end up in either.
pub fn redact_api_key(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
            // `api_key`, however the client spelled or percent-encoded its name.
            let decoded = percent_decode(name);
            if decoded.trim().eq_ignore_ascii_case("api_key") {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn keys_are_redacted_from_query_strings() {
        let cases = [
            ("api_key=SECRET", "api_key=[redacted]"),
            ("a=1&api_key=SECRET&b=2", "a=1&api_key=[redacted]&b=2"),
            ("api%5Fkey=SECRET&API_KEY=S2", "api%5Fkey=[redacted]&API_KEY=[redacted]"),
            ("api_key", "api_key=[redacted]"),
            ("status=open&page_size=5", "status=open&page_size=5"),
            ("", ""),
        ];
        for (q, want) in cases {
            assert_eq!(redact_api_key(q), want, "{q:?}: no api_key value survives, everything else does");
        }
    }

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
