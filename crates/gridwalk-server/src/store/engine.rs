//! Which engine a data directory's database is on. The embedded SQLite file is the default; a
//! data directory bound to PostgreSQL (`serve --database postgres://…` or `database use`)
//! records the connection string in `database.url` (0600: it may hold a password), so every
//! later command on that directory (`worker add`, `registry import`, the next `serve`) reaches
//! the same database without being told again, and two servers sharing the directory share
//! the database too.

use super::files::{create_private, private_dir, private_file};
use super::postgres::{self, PgStore};
use super::sqlite::{SqliteStore, DB_FILE};
use super::Storage;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in a data directory that binds it to PostgreSQL.
pub const DATABASE_URL_FILE: &str = "database.url";

/// Where a data directory's database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// The embedded file `gridwalk-server.db` in the data directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection string.
    Postgres(String),
}

impl Database {
    /// The database a data directory is bound to (SQLite unless `database.url` says otherwise).
    pub fn of(data_dir: &Path) -> Result<Database> {
        let file = data_dir.join(DATABASE_URL_FILE);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                // It may hold a password: 0600 on every open, also when copied in with other modes.
                private_file(&file)?;
                let url = text.trim();
                postgres::parse_url(url)?;
                Ok(Database::Postgres(url.to_owned()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Database::Sqlite(data_dir.join(DB_FILE))),
            Err(e) => Err(e.into()),
        }
    }

    /// Bind a data directory to `url` (`sqlite` for the embedded file). Refused when the
    /// directory already holds the other engine's data, or is bound to another database: a
    /// typo must not start an empty district beside the real one.
    pub fn bind(data_dir: &Path, url: &str) -> Result<Database> {
        private_dir(data_dir)?;
        let current = Database::of(data_dir)?;
        let wanted = if url == "sqlite" {
            Database::Sqlite(data_dir.join(DB_FILE))
        } else {
            postgres::parse_url(url)?;
            Database::Postgres(url.to_owned())
        };
        if current == wanted {
            return Ok(wanted);
        }
        match (&current, &wanted) {
            (Database::Sqlite(file), Database::Postgres(_)) if !file.exists() => {
                let mut f = create_private(&data_dir.join(DATABASE_URL_FILE), false)?;
                writeln!(f, "{url}")?;
                f.sync_all()?;
                Ok(wanted)
            }
            _ => Err(Error::BadDatabase(format!(
                "{} is already bound to {}; it cannot be switched to {} in place",
                data_dir.display(),
                current.describe(),
                wanted.describe()
            ))),
        }
    }

    /// The engine and where, without a password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("SQLite {}", path.display()),
            Database::Postgres(url) => match postgres::parse_url(url) {
                Ok(c) => format!("PostgreSQL {:?} database {}", c.get_hosts(), c.get_dbname().unwrap_or("(the user's)")),
                Err(_) => "PostgreSQL (unreadable setting)".into(),
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// Open (creating and migrating if needed) the database, with `readers` pooled read
    /// connections; a SQLite write waits `busy_timeout` for another process's lock.
    pub fn open(&self, readers: usize, busy_timeout: std::time::Duration) -> Result<Storage> {
        Ok(match self {
            Database::Sqlite(path) => Storage::new(SqliteStore::open_with(path, readers, busy_timeout)?),
            // Reads wait for a pooled connection there (one is a server process, not a file
            // handle), so the pool is sized for a fleet's authentications: at least 16.
            Database::Postgres(url) => Storage::new(PgStore::open(url, readers.max(16), busy_timeout)?),
        })
    }
}
