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

mod backup;
pub(crate) mod console;
pub(crate) mod foresight;
mod migrate;
pub(crate) mod rows;
mod scope_sql;

pub use backup::{backup_to, restore_from, BackupSummary, BACKUP_BLOBS_TABLE};
pub use migrate::MIGRATIONS;

use super::files::{create_private, private_file};
use super::{group_commit, next_batch, Batch, Reader, Store, Tx, WriteJob, MAX_GROUP};
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// The database file inside a data directory.
pub const DB_FILE: &str = "gridwalk-server.db";

/// How long a connection waits for a lock another process (the CLI) holds, unless told
/// otherwise (`Config::busy_timeout`). Past it, a write is answered `busy` and stores nothing.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The database's own files: the file, its WAL and its shared-memory index.
fn db_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}

/// Make the database's files private (0600), whatever the umask made them.
fn private_db_files(path: &Path) -> Result<()> {
    for f in db_files(path) {
        private_file(&f)?;
    }
    Ok(())
}

pub(crate) fn storage_error(e: rusqlite::Error) -> Error {
    Error::Storage(e.to_string())
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        storage_error(e)
    }
}

/// Open a connection with the server's pragmas and bring the schema up to date. A new
/// database file is created 0600 before SQLite opens it (SQLite gives its WAL and index the
/// database file's mode); existing files are set to 0600 too.
fn open_connection(path: &Path, busy_timeout: std::time::Duration) -> Result<Connection> {
    if !path.exists() {
        create_private(path, true)?;
    }
    let conn = Connection::open(path)?;
    // The CLI may write while the server runs; wait for the lock rather than fail.
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrate::migrate(&conn)?;
    private_db_files(path)?;
    Ok(conn)
}

/// Prepared statements kept per connection. rusqlite keeps 16 by default; a push alone uses
/// more than that, and re-preparing the evicted ones was a tenth of the writer's time.
const STATEMENT_CACHE: usize = 256;

/// The writer's page cache, in KiB (SQLite's default is 2 MiB): a group commit of hundreds of
/// pushes dirties more pages than that, and a cache that fills mid-transaction spills pages
/// to the WAL early and writes some of them twice.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// A connection seen through the storage traits.
pub(crate) struct Sql<'c>(pub(crate) &'c Connection);

/// The SQLite store of one data directory.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    max_readers: usize,
    busy_timeout: std::time::Duration,
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the database at `path` and start its writer.
    pub fn open(path: &Path, max_readers: usize) -> Result<SqliteStore> {
        Self::open_with(path, max_readers, BUSY_TIMEOUT)
    }

    /// [`SqliteStore::open`] with how long a write waits for another process's lock before it
    /// is answered `busy`.
    pub fn open_with(path: &Path, max_readers: usize, busy_timeout: std::time::Duration) -> Result<SqliteStore> {
        let conn = open_connection(path, busy_timeout)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        // Checkpoints move off the writer's thread (they were a tenth of its time): this
        // connection no longer runs them after its commits; a thread of their own does.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(busy_timeout)?;
        let (committed, commits) = mpsc::sync_channel::<()>(1);
        let checkpoints =
            std::thread::Builder::new().name("gridwalk-checkpoint".into()).spawn(move || checkpoint_loop(&checkpointer, &commits))?;
        let (jobs, rx) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new().name("gridwalk-writer".into()).spawn(move || {
            writer_loop(&conn, rx, committed);
            // The checkpoint thread's connection closes before the writer's does.
            let _ = checkpoints.join();
        })?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Mutex::new(jobs),
            readers: Arc::new(Mutex::new(Vec::new())),
            max_readers: max_readers.max(1),
            busy_timeout,
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
                c.busy_timeout(self.busy_timeout)?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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

/// Whether a failure is another connection holding the lock (as opposed to a broken disk or
/// database): the caller is told `busy`, to try again, rather than that the server failed.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

impl Batch for Sql<'_> {
    fn tx(&self) -> &dyn Tx {
        self
    }

    fn control(&self, sql: &str) -> Result<()> {
        self.0.execute_batch(sql).map_err(|e| if is_busy(&e) { Error::Busy } else { storage_error(e) })
    }
}

fn writer_loop(conn: &Connection, rx: mpsc::Receiver<WriteJob>, committed: mpsc::SyncSender<()>) {
    let sql = Sql(conn);
    while let Some(batch) = next_batch(&rx, MAX_GROUP) {
        // IMMEDIATE: the write lock is taken at BEGIN, so a lock another process holds is met
        // before any job runs, and every job is refused unrun (`busy`).
        group_commit(&sql, "BEGIN IMMEDIATE", &|| "COMMIT".to_owned(), batch);
        // A checkpoint is due (one already due is enough: the channel holds one).
        let _ = committed.try_send(());
    }
    tracing::debug!("writer stopped: every handle is gone");
}

/// How often at most the checkpoint thread copies the WAL back into the database: often
/// enough to keep the WAL near SQLite's default 1,000 pages under a fleet's load.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Copy committed WAL frames into the database while commits happen (PASSIVE: never waits for
/// the writer or a reader), at most every [`CHECKPOINT_EVERY`]; stops as soon as the writer
/// does, with one last checkpoint.
fn checkpoint_loop(conn: &Connection, commits: &mpsc::Receiver<()>) {
    let checkpoint = || {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next commit tries again");
        }
    };
    // Each commit makes a round due; rounds are at least the interval apart.
    while commits.recv().is_ok() {
        loop {
            checkpoint();
            let next = std::time::Instant::now() + CHECKPOINT_EVERY;
            let mut again = false;
            loop {
                match commits.recv_timeout(next.saturating_duration_since(std::time::Instant::now())) {
                    Ok(()) => again = true,
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    // The writer stopped: one last round, now.
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        checkpoint();
                        return;
                    }
                }
            }
            if !again {
                break;
            }
        }
    }
    checkpoint();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Storage;

    #[test]
    fn migrations_apply_to_a_fresh_db_and_reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let conn = open_connection(&path, BUSY_TIMEOUT).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len(), "a fresh database is migrated to the last version");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal", "the server database runs in WAL mode");
        let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "synchronous=FULL so an acked push survives power loss");
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        drop(conn);
        let again = open_connection(&path, BUSY_TIMEOUT).unwrap();
        let v2: i64 = again.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        let tables2: i64 = again.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        assert_eq!((v2, tables2), (v, tables), "re-opening a migrated database changes nothing");
    }

    #[test]
    fn a_write_whose_caller_has_gone_is_not_run() {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::new(SqliteStore::open(&dir.path().join("a.db"), 2).unwrap());
        // Hold the writer in a first job so the next one waits in the queue.
        let (started, release) = (Arc::new(std::sync::Barrier::new(2)), Arc::new(std::sync::Barrier::new(2)));
        let (s, r) = (started.clone(), release.clone());
        let first = std::thread::spawn({
            let db = db.clone();
            move || {
                db.write_blocking(move |tx| {
                    s.wait();
                    r.wait();
                    tx.set_meta("first", "ran")
                })
            }
        });
        started.wait();
        // Polled once (queued), then dropped: the client hung up before its turn.
        assert!(db.write(|tx| tx.set_meta("abandoned", "ran")).now_or_never().is_none(), "the write waits behind the first");
        release.wait();
        first.join().unwrap().unwrap();
        db.write_blocking(|tx| tx.set_meta("after", "ran")).unwrap();
        let (abandoned, after) = db.read_blocking(|r| Ok((r.meta("abandoned")?, r.meta("after")?))).unwrap();
        assert_eq!(abandoned, None, "a job nobody waits for any more is not run");
        assert_eq!(after.as_deref(), Some("ran"), "the writer goes on with the jobs after it");
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
