//! The server's SQLite database: embedded migrations, one writer thread with group commit, and
//! a small pool of read connections.
//!
//! # Durability: `synchronous=FULL`
//! The database runs in WAL mode with `synchronous=FULL`: every commit fsyncs the WAL before
//! it returns. A push is acknowledged only after that commit, and the tablet deletes nothing it
//! has not seen acknowledged, but it *stops resending* what was acknowledged. With `NORMAL`, a
//! WAL commit is durable against a process crash but not against power loss or a kernel panic:
//! the last transactions can vanish after an ack, and those events would then exist nowhere but
//! in a tablet that believes they are safe. `FULL` costs one fsync per commit; group commit
//! (below) shares that fsync among every push that arrived while the previous one ran, so the
//! price is paid per batch of pushes, not per push.
//!
//! # Group commit
//! One thread owns the only write connection. It waits for a job, then drains every job queued
//! behind it, runs them all in one transaction (each inside its own `SAVEPOINT`, so a job that
//! fails is rolled back alone), commits once and only then answers every job. Reads never wait
//! for the writer: WAL lets them run on their own connections against the last commit.

use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Append-only: a released migration is never edited, only followed by a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: registry, workers and devices, the event log and its views, audit.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE subdistricts (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
    CREATE TABLE communities (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, subdistrict_id TEXT NOT NULL, json TEXT NOT NULL);
    CREATE TABLE management_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
    CREATE TABLE technical_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
    CREATE TABLE courtyards (
        id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, community_id TEXT NOT NULL,
        subdistrict_id TEXT NOT NULL, json TEXT NOT NULL
    );
    CREATE TABLE workers (
        id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
        scope_json TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms INTEGER NOT NULL
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, worker_id TEXT NOT NULL REFERENCES workers(id), name TEXT NOT NULL,
        token_hash TEXT UNIQUE, created_ms INTEGER NOT NULL, revoked_ms INTEGER,
        held_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE login_failures (
        username TEXT PRIMARY KEY, consecutive INTEGER NOT NULL, locked_until_ms INTEGER
    );
    CREATE TABLE events (
        server_seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        courtyard_id TEXT NOT NULL,
        community_id TEXT NOT NULL,
        subdistrict_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        json TEXT NOT NULL,
        UNIQUE (device_id, seq)
    );
    CREATE INDEX events_entity ON events (entity_kind, entity_id);
    CREATE TABLE refusals (
        device_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, hash TEXT NOT NULL,
        outcome TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL, received_ms INTEGER NOT NULL,
        PRIMARY KEY (device_id, seq)
    );
    CREATE TABLE issues (
        id TEXT PRIMARY KEY, courtyard_id TEXT NOT NULL, community_id TEXT NOT NULL,
        subdistrict_id TEXT NOT NULL, status TEXT NOT NULL, received_at_ms INTEGER,
        response_due_ms INTEGER, state_json TEXT NOT NULL
    );
    CREATE INDEX issues_courtyard ON issues (courtyard_id);
    CREATE TABLE visits (
        id TEXT PRIMARY KEY, courtyard_id TEXT NOT NULL, community_id TEXT NOT NULL,
        subdistrict_id TEXT NOT NULL, state_json TEXT NOT NULL
    );
    CREATE INDEX visits_courtyard ON visits (courtyard_id);
    CREATE TABLE hotline_orders (
        order_no TEXT PRIMARY KEY, issue_id TEXT NOT NULL, courtyard_id TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, detail TEXT NOT NULL
    );
    "#,
    // 2: the 接诉即办 workflow (whistles, escalations, facts for the three rates and recurrence)
    //    and Open311 API keys.
    r#"
    ALTER TABLE issues ADD COLUMN category TEXT;
    ALTER TABLE issues ADD COLUMN closed_at_ms INTEGER;
    CREATE INDEX issues_recurrence ON issues (category, closed_at_ms);
    -- Who was whistled on which issue: department staff see exactly these issues.
    CREATE TABLE issue_whistles (
        issue_id TEXT NOT NULL, target TEXT NOT NULL, level TEXT NOT NULL,
        whistled_at_ms INTEGER NOT NULL, reported_in_at_ms INTEGER,
        PRIMARY KEY (issue_id, target, whistled_at_ms)
    );
    CREATE INDEX issue_whistles_target ON issue_whistles (target);
    -- Escalations the server has carried out, so each happens once.
    CREATE TABLE escalations (
        issue_id TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL DEFAULT '',
        at_ms INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (issue_id, kind, level)
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL, revoked_ms INTEGER
    );
    "#,
];

pub const DB_FILE: &str = "gridwalk-server.db";

/// Open a connection with the server's pragmas and bring the schema up to date.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // The CLI may write while the server runs; wait for the lock rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&conn)?;
    Ok(conn)
}

/// Apply every migration past `PRAGMA user_version`, each in its own transaction.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied migration");
    }
    Ok(())
}

/// A job for the writer: runs on the write connection inside its own savepoint and returns
/// whether it succeeded plus the reply to send once the transaction's fate is known.
type Job = Box<dyn FnOnce(&Connection) -> Pending + Send>;

struct Pending {
    ok: bool,
    reply: Box<dyn FnOnce(Result<()>) + Send>,
}

/// Most jobs folded into one transaction: bounds the latency of the first job in a batch.
const MAX_GROUP: usize = 512;

/// The database: the writer's queue and the read pool.
#[derive(Clone)]
pub struct Db {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    max_readers: usize,
}

impl Db {
    pub fn open(path: &Path, max_readers: usize) -> Result<Db> {
        let conn = open_connection(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("gridwalk-writer".into()).spawn(move || writer_loop(conn, rx))?;
        Ok(Db { path: path.to_owned(), jobs, readers: Arc::new(Mutex::new(Vec::new())), max_readers: max_readers.max(1) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the write connection as part of the next group commit. Resolves only after
    /// the commit is durable (or failed).
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(Error::Internal("a write job panicked".into())));
            let ok = outcome.is_ok();
            let reply = Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(outcome));
            });
            Pending { ok, reply }
        });
        self.jobs.send(job).map_err(|_| Error::Internal("the writer has stopped".into()))?;
        rx.await.map_err(|_| Error::Internal("the writer dropped a job".into()))?
    }

    /// Run `f` on a pooled read connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f)).await.map_err(|e| Error::Internal(format!("read task failed: {e}")))?
    }

    /// Run `f` on a pooled read connection on this thread.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map_err(|_| Error::Internal("reader pool poisoned".into()))?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < self.max_readers {
                pool.push(conn);
            }
        }
        out
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let mut pending = Vec::with_capacity(n);
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            tracing::error!(error = %e, "writer could not begin a transaction");
            for job in batch {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (job(&conn).reply)(Err(Error::Internal("could not begin a transaction".into())))
                }));
            }
            let _ = conn.execute_batch("ROLLBACK");
            continue;
        }
        for job in batch {
            let step = conn.execute_batch("SAVEPOINT job");
            let p = job(&conn);
            let settled =
                if step.is_ok() && p.ok { conn.execute_batch("RELEASE job") } else { conn.execute_batch("ROLLBACK TO job; RELEASE job") };
            if let Err(e) = settled {
                tracing::error!(error = %e, "savepoint failed");
            }
            pending.push(p);
        }
        let committed = conn.execute_batch("COMMIT").map_err(Error::from);
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = n, "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        } else {
            tracing::trace!(jobs = n, "group commit");
        }
        for p in pending {
            let fate = match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Internal(format!("commit failed: {e}"))),
            };
            (p.reply)(fate);
        }
    }
    tracing::debug!("writer stopped: every handle is gone");
}

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_to_a_fresh_db_and_reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let conn = open_connection(&path).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len(), "a fresh database is migrated to the last version");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal", "the server database runs in WAL mode");
        let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "synchronous=FULL so an acked push survives power loss");
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        drop(conn);
        let again = open_connection(&path).unwrap();
        let v2: i64 = again.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        let tables2: i64 = again.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        assert_eq!((v2, tables2), (v, tables), "re-opening a migrated database changes nothing");
    }

    #[tokio::test]
    async fn a_failing_job_is_rolled_back_alone_in_a_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("g.db"), 2).unwrap();
        let mut handles = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                db.write(move |c| {
                    meta_set(c, &format!("k{i}"), "v")?;
                    if i % 3 == 0 {
                        return Err(Error::Internal("this job fails on purpose".into()));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for h in handles {
            if h.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        let stored: i64 = db.read(|c| Ok(c.query_row("SELECT count(*) FROM meta WHERE key LIKE 'k%'", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(stored, ok, "exactly the jobs that succeeded are stored; a failed job undoes only itself");
        assert_eq!(ok, 26, "two in three jobs succeed");
    }
}
