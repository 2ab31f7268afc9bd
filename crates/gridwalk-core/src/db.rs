//! Opening the encrypted file and running the embedded, append-only migrations.

use crate::error::{CoreError, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Shipped migrations, in order. Never edit one that has shipped: append a new one.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_store", include_str!("../migrations/0001_store.sql")),
    ("0002_issue_counts", include_str!("../migrations/0002_issue_counts.sql")),
    ("0003_dispatch_columns", include_str!("../migrations/0003_dispatch_columns.sql")),
    ("0004_foresight", include_str!("../migrations/0004_foresight.sql")),
];

/// The 256-bit key of a store. The shell derives it from the worker's PIN and a device secret.
#[derive(Clone)]
pub struct StoreKey(pub [u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(…)")
    }
}

/// Open (or create) the store file: key it, check the key, set WAL and durable commits, migrate.
pub fn open(path: &Path, key: &StoreKey) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A raw key skips SQLCipher's passphrase KDF: the shell already ran argon2 over the PIN.
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key.0)))?;
    // The first read decrypts page 1; a wrong key shows up here as "file is not a database".
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => return Err(CoreError::WrongKey),
        Err(e) => return Err(e.into()),
    }
    // cipher_memory_security wipes and locks every allocation; it costs a third of a record's
    // time and protects only against memory dumps of a running, unlocked app.
    conn.execute_batch(
        "PRAGMA cipher_memory_security = OFF;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         -- 32 MiB of decrypted pages: a sync reads the same log and view pages again and
         -- again, and each re-read from disk is a page decryption (a fifth of a push
         -- answer's cost in the profile at SQLite's default 2 MB).
         PRAGMA cache_size = -32768;",
    )?;
    migrate(&conn)?;
    Ok(conn)
}

/// Re-encrypt the open store under `key` (every page, in one transaction). SQLCipher re-keys
/// through the rollback journal, so the store leaves WAL for it and comes back: a crash midway
/// leaves a hot journal that rolls the file back to the old key on the next open.
pub fn rekey(conn: &Connection, key: &StoreKey) -> Result<()> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")?;
    let done = conn.execute_batch(&format!("PRAGMA rekey = \"x'{}'\";", hex::encode(key.0)));
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    Ok(done?)
}

/// Apply every migration the file has not seen, each in its own transaction.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(CoreError::SchemaTooNew { found: current, known });
    }
    for (i, (_, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_in_order_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let key = StoreKey([7; 32]);
        let conn = open(&path, &key).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64, "user_version records every applied migration");
        let names: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "migrations are listed in file order");
        drop(conn);
        let conn = open(&path, &key).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "a re-open runs no migration twice and leaves a sound file");
        let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(journal, "wal", "the store runs in WAL mode");
    }

    #[test]
    fn migrations_are_append_only() {
        // The shipped migrations' content hashes. Editing a shipped migration breaks every
        // tablet that already ran it; this list may only grow.
        use sha2::{Digest, Sha256};
        let shipped: &[(&str, &str)] = &[
            ("0001_store", SHIPPED_0001),
            ("0002_issue_counts", SHIPPED_0002),
            ("0003_dispatch_columns", SHIPPED_0003),
            ("0004_foresight", SHIPPED_0004),
        ];
        assert_eq!(shipped.len(), MIGRATIONS.len(), "every migration in MIGRATIONS ships, so every one is pinned here by its sha256");
        for (i, (name, hash)) in shipped.iter().enumerate() {
            let (n, sql) = MIGRATIONS[i];
            assert_eq!(n, *name, "migration {i} keeps its name");
            assert_eq!(hex::encode(Sha256::digest(sql.as_bytes())), *hash, "shipped migration {name} is never edited");
        }
    }
    const SHIPPED_0001: &str = "c326e7192e281f6f019041d7834fc71c0c89654d00f6554a2775ffbab61edc38";
    const SHIPPED_0002: &str = "3b28cc3f7c3b0006f1fc1e614b789ca594717230d13a2b030f4e8d97e4bc0af3";
    const SHIPPED_0003: &str = "c73c4bb604e1c8480324ce6b38c5fe650b20c1d17eb023dd64f4296d24b3f02f";
    const SHIPPED_0004: &str = "ed79ca296e10b17a1d3e568898ee56b988b5476ebc139dd23e1f24f99b89d8c9";

    #[test]
    fn open_issue_counts_read_only_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("m.db"), &StoreKey([3; 32])).unwrap();
        let plan: Vec<String> = conn
            .prepare("EXPLAIN QUERY PLAN SELECT count(*) FROM issues i WHERE i.courtyard_id = ?1 AND i.status != 'closed'")
            .unwrap()
            .query_map(["x"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(plan.iter().any(|p| p.contains("COVERING INDEX issues_courtyard_status")), "the count is index-only: {plan:?}");
    }

    #[test]
    fn a_rekeyed_store_opens_with_the_new_key_only_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let (old, new) = (StoreKey([1; 32]), StoreKey([2; 32]));
        let conn = open(&path, &old).unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 'kept')", []).unwrap();
        rekey(&conn, &new).unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('after', 'also')", []).unwrap();
        let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(journal, "wal", "the store is back in WAL mode after the re-key");
        drop(conn);
        assert!(matches!(open(&path, &old), Err(CoreError::WrongKey)), "the old key no longer opens the store");
        let conn = open(&path, &new).unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM meta WHERE key IN ('probe', 'after')", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2, "rows from before and after the re-key are there under the new key");
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let key = StoreKey([1; 32]);
        let conn = open(&path, &key).unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(conn);
        assert!(matches!(open(&path, &key), Err(CoreError::SchemaTooNew { .. })), "a file from a newer build is refused, not mangled");
    }
}
