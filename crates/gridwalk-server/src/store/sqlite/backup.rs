//! Backup and restore of a data directory: the database through SQLite's online backup API, and
//! the photo blobs inside the same backup file.
//!
//! **Backup** reads the live database in one step of the backup API, which is one read
//! transaction: under WAL it sees exactly the last commit and never blocks the writer, so the
//! server keeps taking pushes while it runs. The copy goes to `<out>.partial` (0600), which is
//! renamed to `<out>` only once complete and synced: a half-written backup never has the name of
//! a backup. Blobs are listed *after* the database snapshot and copied into the file's
//! [`BACKUP_BLOBS_TABLE`], so every photo complete when the snapshot was taken is in it (blobs
//! are immutable and named by their hash; one that completed a moment later may come along too,
//! which is harmless).
//!
//! **Restore** checks the file (a gridwalk backup, intact, a schema this build knows), copies it
//! to `<db>.restoring`, puts its blobs back into the blob directory, drops the blob table, gives
//! the database a new epoch, and only then replaces the database file (the old WAL and index
//! go first: a stale WAL must never be replayed onto the restored file). The caller holds the
//! data directory's lock and migrates the restored file on its next open.

use super::{db_files, private_db_files, storage_error, MIGRATIONS};
use crate::error::{Error, Result};
use crate::store::files::{create_private, private_file};
use crate::store::{blobs, EPOCH_META_KEY};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The table of a backup file that carries the photo blobs (absent from a live database).
pub const BACKUP_BLOBS_TABLE: &str = "backup_blobs";

/// What a backup or a restore moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// The schema version (`user_version`) of the copied database.
    pub schema: i64,
    pub events: u64,
    pub blobs: u64,
}

/// How often a backup step that meets a lock is tried again before the answer is `busy`.
const STEP_TRIES: u32 = 200;

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Copy every page of `from` into `to` in one step (one read transaction on `from`).
fn copy_pages(from: &Connection, to: &mut Connection) -> Result<()> {
    let backup = Backup::new(from, to).map_err(storage_error)?;
    for _ in 0..STEP_TRIES {
        match backup.step(-1).map_err(storage_error)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(50)),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(Error::Busy)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)?.sync_all()?;
    Ok(())
}

fn sync_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn summary(conn: &Connection) -> Result<BackupSummary> {
    let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let blobs: i64 = conn.query_row(&format!("SELECT count(*) FROM {BACKUP_BLOBS_TABLE}"), [], |r| r.get(0))?;
    Ok(BackupSummary { schema, events: events as u64, blobs: blobs as u64 })
}

/// Back up the database at `db` and the blobs in `blob_dir` into the file `out` (0600), while
/// the server may be running.
pub fn backup_to(db: &Path, blob_dir: &Path, out: &Path) -> Result<BackupSummary> {
    if !db.is_file() {
        return Err(Error::NotFound(format!("no database at {}", db.display())));
    }
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    src.busy_timeout(super::BUSY_TIMEOUT)?;
    let partial = with_suffix(out, ".partial");
    let _ = fs::remove_file(&partial);
    create_private(&partial, false)?;
    let result = (|| {
        let mut dst = Connection::open(&partial)?;
        copy_pages(&src, &mut dst)?;
        drop(src);
        // One self-contained file: no WAL beside it.
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        let tx = dst.transaction()?;
        tx.execute_batch(&format!("CREATE TABLE {BACKUP_BLOBS_TABLE} (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL)"))?;
        for sha in blobs::complete(blob_dir)? {
            let bytes = blobs::read(blob_dir, &sha)?;
            tx.execute(&format!("INSERT INTO {BACKUP_BLOBS_TABLE} (sha256, bytes) VALUES (?1, ?2)"), rusqlite::params![sha, bytes])?;
        }
        tx.commit()?;
        let s = summary(&dst)?;
        drop(dst);
        sync_file(&partial)?;
        Ok(s)
    })();
    match result {
        Ok(s) => {
            fs::rename(&partial, out)?;
            private_file(out)?;
            sync_parent(out)?;
            Ok(s)
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Check that `from` is a backup this build can restore: refuse anything else before a byte of
/// the data directory changes.
fn check_backup(from: &Path) -> Result<Connection> {
    let name = from.display().to_string();
    if !from.is_file() {
        return Err(Error::NotFound(format!("no backup file at {name}")));
    }
    let not = |why: String| Error::NotABackup(name.clone(), why);
    let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let has_blobs: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1", [BACKUP_BLOBS_TABLE], |r| r.get(0))
        .optional()
        .map_err(|e| not(e.to_string()))?;
    if has_blobs.is_none() {
        return Err(not(format!("it has no {BACKUP_BLOBS_TABLE} table (make backups with `gridwalk-server backup`)")));
    }
    let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if schema > MIGRATIONS.len() as i64 {
        return Err(Error::SchemaTooNew { found: schema, known: MIGRATIONS.len() as i64 });
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(not(format!("integrity check: {check}")));
    }
    Ok(conn)
}

/// Replace the database at `db` (and add to the blobs in `blob_dir`) from the backup file
/// `from`, giving the restored database the epoch `epoch`. The caller holds the data
/// directory's lock: no server runs on it.
pub fn restore_from(db: &Path, blob_dir: &Path, from: &Path, epoch: &str) -> Result<BackupSummary> {
    let src = check_backup(from)?;
    let restoring = with_suffix(db, ".restoring");
    let _ = fs::remove_file(&restoring);
    create_private(&restoring, false)?;
    let result = (|| {
        let mut dst = Connection::open(&restoring)?;
        copy_pages(&src, &mut dst)?;
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        let s = summary(&dst)?;
        {
            let mut st = dst.prepare(&format!("SELECT sha256, bytes FROM {BACKUP_BLOBS_TABLE}"))?;
            let mut rows = st.query([])?;
            while let Some(row) = rows.next()? {
                let sha: String = row.get(0)?;
                let bytes: Vec<u8> = row.get(1)?;
                blobs::put_whole(blob_dir, &sha, &bytes)?;
            }
        }
        let tx = dst.transaction()?;
        tx.execute_batch(&format!("DROP TABLE {BACKUP_BLOBS_TABLE}"))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [EPOCH_META_KEY, epoch],
        )?;
        tx.commit()?;
        // The blobs' pages are free now: give them back rather than carry them in the live file.
        dst.execute_batch("VACUUM")?;
        drop(dst);
        sync_file(&restoring)?;
        Ok(s)
    })();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&restoring);
            return Err(e);
        }
    };
    // The old WAL belongs to the old file: replayed onto the restored one it would corrupt it.
    for old in &db_files(db)[1..] {
        match fs::remove_file(old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    fs::rename(&restoring, db)?;
    private_db_files(db)?;
    sync_parent(db)?;
    Ok(s)
}
