//! The data directory on disk: who may read it, and who holds it.
//!
//! The directory holds residents' phone numbers, photos and the device-token hashes, so it is
//! private to the server's user: the directory 0700, every file in it 0600. Modes are set
//! explicitly (not left to the umask), on creation and again on every open, so a directory
//! made by an older build or copied in with default modes is tightened on the next start.
//!
//! A running server holds an exclusive lock on `server.lock`; `restore` takes the same lock,
//! so a restore cannot swap the database under a live server, and a server cannot start in
//! the middle of a restore. The lock is the kernel's (`flock`): a killed server leaves no stale
//! lock behind. Admin commands (`worker add`, …) do not take it: they may run while the server
//! does, through SQLite's own locking.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

/// The lock file a running server holds.
pub const LOCK_FILE: &str = "server.lock";

/// Create `dir` (and its parents) if needed and make it private (0700).
pub fn private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Make an existing file private (0600); a missing file is no error.
pub fn private_file(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(_) => set_mode(path, 0o600),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Open `path` for writing, creating it 0600 if it does not exist (the mode is set before
/// anything is written, whatever the umask).
pub fn create_private(path: &Path, append: bool) -> Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).write(true);
    if append {
        o.append(true);
    } else {
        o.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    set_mode(path, 0o600)?;
    Ok(f)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// The exclusive hold on a data directory, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Take the data directory's lock, or fail at once with `data_dir_in_use`.
    pub fn take(data_dir: &Path) -> Result<DataDirLock> {
        private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let file = create_private(&path, true)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file, path }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::DataDirInUse(data_dir.display().to_string())),
            Err(fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Take the data directory's lock shared: several servers on one PostgreSQL database share
    /// their data directory (its photos) and hold it together; a restore (exclusive) is still
    /// refused while any of them runs.
    pub fn share(data_dir: &Path) -> Result<DataDirLock> {
        private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let file = create_private(&path, true)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(DataDirLock { _file: file, path }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::DataDirInUse(data_dir.display().to_string())),
            Err(fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
