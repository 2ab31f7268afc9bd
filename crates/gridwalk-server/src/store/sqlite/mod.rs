//! The embedded engine: SQLite in WAL mode, one writer thread with group commit, pooled
//! readers. The only module of the server that knows rusqlite.
//!
//! # Durability: `synchronous = FULL`
//! In WAL mode SQLite's default `NORMAL` syncs only at checkpoints; `FULL` syncs the WAL before
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

mod migrate;
mod rows;
mod scope_sql;

pub use migrate::MIGRATIONS;

use super::{Reader, Settle, Store, Tx, WriteJob};
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// The database file inside a data directory.
pub const DB_FILE: &str = "gridwalk-server.db";

/// Most jobs folded into one transaction: bounds the latency of the first job in a batch.
const MAX_GROUP: usize = 512;

/// How long a connection waits for a lock another process (the CLI) holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn storage_error(e: rusqlite::Error) -> Error {
    Error::Storage(e.to_string())
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        storage_error(e)
    }
}

/// Open a connection with the server's pragmas and bring the schema up to date.
fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // The CLI may write while the server runs; wait for the lock rather than fail.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate::migrate(&conn)?;
    Ok(conn)
}

/// A connection seen through the storage traits.
pub(crate) struct Sql<'c>(pub(crate) &'c Connection);

/// The SQLite store of one data directory.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    max_readers: usize,
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the database at `path` and start its writer.
    pub fn open(path: &Path, max_readers: usize) -> Result<SqliteStore> {
        let conn = open_connection(path)?;
        let (jobs, rx) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new().name("gridwalk-writer".into()).spawn(move || writer_loop(conn, rx))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Mutex::new(jobs),
            readers: Arc::new(Mutex::new(Vec::new())),
            max_readers: max_readers.max(1),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for SqliteStore {
    fn submit(&self, job: WriteJob) -> Result<()> {
        let jobs = self.jobs.lock().map_err(|_| Error::Internal("writer queue poisoned".into()))?;
        jobs.send(job).map_err(|_| Error::Internal("the writer has stopped".into()))
    }

    fn read_with(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<()>) -> Result<()> {
        let pooled = self.readers.lock().map_err(|_| Error::Internal("reader pool poisoned".into()))?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(BUSY_TIMEOUT)?;
                c
            }
        };
        let out = job(&Sql(&conn));
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < self.max_readers {
                pool.push(conn);
            }
        }
        out
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    let sql = Sql(&conn);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let mut pending: Vec<Settle> = Vec::with_capacity(n);
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            tracing::error!(error = %e, "writer could not begin a transaction");
            for job in batch {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (job(&sql as &dyn Tx).reply)(Err(Error::Internal("could not begin a transaction".into())))
                }));
            }
            let _ = conn.execute_batch("ROLLBACK");
            continue;
        }
        for job in batch {
            let step = conn.execute_batch("SAVEPOINT job");
            let p = job(&sql as &dyn Tx);
            let settled =
                if step.is_ok() && p.ok { conn.execute_batch("RELEASE job") } else { conn.execute_batch("ROLLBACK TO job; RELEASE job") };
            if let Err(e) = settled {
                tracing::error!(error = %e, "savepoint failed");
            }
            pending.push(p);
        }
        let committed = conn.execute_batch("COMMIT");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Storage;

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
        let db = Storage::new(SqliteStore::open(&dir.path().join("g.db"), 2).unwrap());
        let mut handles = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                db.write(move |tx| {
                    tx.set_meta(&format!("k{i}"), "v")?;
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
        let stored = db.read(|r| Ok((0..40).filter(|i| r.meta(&format!("k{i}")).ok().flatten().is_some()).count())).await.unwrap();
        assert_eq!(stored, ok, "exactly the jobs that succeeded are stored; a failed job undoes only itself");
        assert_eq!(ok, 26, "two in three jobs succeed");
    }
}
