//! The PostgreSQL schema: SQL files under `migrations/postgres/`, embedded, applied in order,
//! each in its own transaction, with the version in `gw_schema`. Append-only like the SQLite
//! files (a test pins each one's sha256); a database written by a newer build is refused. Two
//! processes starting at once take turns: the first migrates under an advisory lock, the
//! second finds the schema current.

use super::pg_error;
use crate::error::{Error, Result};
use futures_executor::block_on;
use tokio_postgres::Client;

/// Shipped migrations, in order.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_schema", include_str!("../../../migrations/postgres/0001_schema.sql")),
    ("0002_lean_indexes", include_str!("../../../migrations/postgres/0002_lean_indexes.sql")),
    ("0003_partial_indexes", include_str!("../../../migrations/postgres/0003_partial_indexes.sql")),
    ("0004_foresight", include_str!("../../../migrations/postgres/0004_foresight.sql")),
];

/// The advisory lock migrations run under (one process at a time).
const MIGRATE_LOCK: i64 = 4_611_686_018_427_387_902;

pub fn migrate(client: &Client) -> Result<()> {
    block_on(client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])).map_err(pg_error)?;
    let out = migrate_locked(client);
    let _ = block_on(client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]));
    out
}

fn migrate_locked(client: &Client) -> Result<()> {
    block_on(client.batch_execute("CREATE TABLE IF NOT EXISTS gw_schema (version BIGINT NOT NULL)")).map_err(pg_error)?;
    let current: i64 = match block_on(client.query_opt("SELECT version FROM gw_schema", &[])).map_err(pg_error)? {
        Some(row) => row.try_get(0).map_err(pg_error)?,
        None => {
            block_on(client.execute("INSERT INTO gw_schema (version) VALUES (0)", &[])).map_err(pg_error)?;
            0
        }
    };
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::SchemaTooNew { found: current, known });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        // One transaction per file: a failed file leaves the schema as the one before it.
        let version = (i + 1) as i64;
        block_on(client.batch_execute(&format!("BEGIN; {sql}; UPDATE gw_schema SET version = {version}; COMMIT"))).map_err(|e| {
            let _ = block_on(client.batch_execute("ROLLBACK"));
            pg_error(e)
        })?;
        tracing::info!(version = i + 1, name, "applied PostgreSQL migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The sha256 of every shipped PostgreSQL migration. A failure here means a shipped file
    /// was edited: put the change in a new migration instead.
    const PINNED: &[(&str, &str)] = &[
        ("0001_schema", "a09a144a02ce8b6e4838e2c9d5048ec1bc028febaa0a540faee58f5c6e551de6"),
        ("0002_lean_indexes", "c03e0c35deb1b8ab49e2a904eda6adfd617ef4d28567c2268ff5d2733cd82081"),
        ("0003_partial_indexes", "bb3015aba8da5ecc0d52472104a36d26da9a763a12ca874d80610591a882eabe"),
        ("0004_foresight", "1e2a83dd15765ee9760d2689e43c7ee3f0964d6973c87fd651c48816b6853995"),
    ];

    #[test]
    fn every_shipped_postgres_migration_is_pinned_by_its_sha256() {
        assert_eq!(MIGRATIONS.len(), PINNED.len(), "every migration is pinned, and every pin names a migration");
        for ((name, sql), (pinned_name, sha)) in MIGRATIONS.iter().zip(PINNED) {
            assert_eq!(name, pinned_name, "migrations keep their order");
            assert_eq!(&hex::encode(Sha256::digest(sql.as_bytes())), sha, "migration {name} was edited after it shipped");
        }
    }
}
