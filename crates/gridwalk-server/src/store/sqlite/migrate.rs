//! The server schema: SQL files under `migrations/`, embedded, applied in order on open, each
//! in its own transaction. Append-only: a shipped file is never edited (a test pins each one's
//! sha256), and a database written by a newer build is refused rather than misread.

use super::storage_error;
use crate::error::{Error, Result};
use rusqlite::Connection;

/// Shipped migrations, in order.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../../migrations/0001_initial.sql")),
    ("0002_workflow", include_str!("../../../migrations/0002_workflow.sql")),
    ("0003_lean_views", include_str!("../../../migrations/0003_lean_views.sql")),
    ("0004_notices", include_str!("../../../migrations/0004_notices.sql")),
    ("0005_dispatch", include_str!("../../../migrations/0005_dispatch.sql")),
    ("0006_access", include_str!("../../../migrations/0006_access.sql")),
    ("0007_trust", include_str!("../../../migrations/0007_trust.sql")),
    ("0008_public", include_str!("../../../migrations/0008_public.sql")),
    ("0009_console", include_str!("../../../migrations/0009_console.sql")),
    ("0010_lean_indexes", include_str!("../../../migrations/0010_lean_indexes.sql")),
    ("0011_partial_indexes", include_str!("../../../migrations/0011_partial_indexes.sql")),
    ("0012_foresight", include_str!("../../../migrations/0012_foresight.sql")),
];

/// Apply every migration past `PRAGMA user_version`.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(storage_error)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::SchemaTooNew { found: current, known });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.unchecked_transaction().map_err(storage_error)?;
        tx.execute_batch(sql).map_err(storage_error)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(storage_error)?;
        tx.commit().map_err(storage_error)?;
        tracing::info!(version = i + 1, name, "applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The sha256 of every shipped migration. A failure here means a shipped file was edited:
    /// put the change in a new migration instead.
    const PINNED: &[(&str, &str)] = &[
        ("0001_initial", "33aa1da86c3ae905f6a2c62def951dbd6e34650d19a47fd619583e0dd5807ee2"),
        ("0002_workflow", "8fc3d3080e613fdc4e4962c393858eaceb3cf202050fa270157cfa20f22b5f74"),
        ("0003_lean_views", "768424721d47fd5bfcc9cd704a68313606380c08471821372694d3a642ac95e2"),
        ("0004_notices", "a4b45475d0d95cbb89eca28cb3095459c2b03a44f18a7ddcce0fbb91fd64c244"),
        ("0005_dispatch", "8d55d1c10bbb252b6ef2392827c868344ccaf61d934879ece13ce7f3c6939a26"),
        ("0006_access", "3874dbca13404367f4a032f343fb975d641299e20691223c181f603730c20dae"),
        ("0007_trust", "aa28c8ab64b60929d33d3ee6a94f559637ad7f65a8067a849bc32afbab5805f7"),
        ("0008_public", "34aba3de18cd24b1d6024dda348ff0382049dcc790ae03d231cda50a689f4dab"),
        ("0009_console", "85adff4d082b11163b0197fce0a435c0b7f3002de43d009a7a32cc6352786cf7"),
        ("0010_lean_indexes", "c03e0c35deb1b8ab49e2a904eda6adfd617ef4d28567c2268ff5d2733cd82081"),
        ("0011_partial_indexes", "bb3015aba8da5ecc0d52472104a36d26da9a763a12ca874d80610591a882eabe"),
        ("0012_foresight", "b7f51a1b0d77441f0e4813784901154aec0dee54536989d6b95c48bfed9c0703"),
    ];

    #[test]
    fn every_shipped_migration_is_pinned_by_its_sha256() {
        assert_eq!(MIGRATIONS.len(), PINNED.len(), "every migration is pinned, and every pin names a migration");
        for ((name, sql), (pinned_name, sha)) in MIGRATIONS.iter().zip(PINNED) {
            assert_eq!(name, pinned_name, "migrations keep their order");
            assert_eq!(&hex::encode(Sha256::digest(sql.as_bytes())), sha, "migration {name} was edited after it shipped");
        }
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("n.db")).unwrap();
        migrate(&conn).unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 + 1).unwrap();
        let err = migrate(&conn).unwrap_err();
        assert_eq!(err.code(), "schema_too_new", "a newer schema is refused, never misread: {err}");
    }

    #[test]
    fn stored_events_cannot_be_updated_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        migrate(&conn).unwrap();
        conn.execute(
            "INSERT INTO events (event_id, device_id, seq, hash, entity_kind, entity_id, courtyard_id, community_id,
                                 subdistrict_id, received_ms, json) VALUES ('e', 'd', 1, 'h', 'issue', 'i', 'c', 'm', 's', 1, '{}')",
            [],
        )
        .unwrap();
        let update = conn.execute("UPDATE events SET json = '{\"x\":1}'", []);
        assert!(update.is_err(), "an UPDATE of a stored event is refused by a trigger");
        let delete = conn.execute("DELETE FROM events", []);
        assert!(delete.is_err(), "a DELETE of a stored event is refused by a trigger");
        let n: i64 = conn.query_row("SELECT count(*) FROM events WHERE json = '{}'", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "the event is still there, unchanged");
    }
}
