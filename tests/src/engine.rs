//! The suite's database engine for the end-to-end tests. `cargo xtask test` runs the server's
//! sync, crash and workflow tests twice: on the embedded SQLite file, and with
//! `GRIDWALK_TEST_ENGINE=postgres` on a fresh database of its private cluster
//! (`GRIDWALK_TEST_POSTGRES`, the maintenance database's URL). A data directory is bound to its
//! database before anything is loaded into it ([`bind`]); [`Peek`] reads what the server holds
//! on either engine.

use gridwalk_server::admin;
use gridwalk_server::store::engine::Database;
use std::path::Path;

/// Whether this run's server data goes to PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var("GRIDWALK_TEST_ENGINE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("GRIDWALK_TEST_ENGINE={other:?}: use sqlite or postgres"),
    }
}

/// The test cluster's maintenance database. Missing is a failure, never a skip.
pub fn admin_url() -> String {
    std::env::var("GRIDWALK_TEST_POSTGRES")
        .expect("GRIDWALK_TEST_POSTGRES names the PostgreSQL cluster for the tests (cargo xtask test starts one)")
}

/// A new, empty database on the test cluster; its URL. Left for the cluster's end (the cluster
/// lives in a temporary directory for one run).
pub fn scratch_database() -> String {
    let admin = admin_url();
    let name = format!("gw_{}", uuid::Uuid::now_v7().simple());
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("the test cluster accepts connections");
    c.batch_execute(&format!("CREATE DATABASE {name}")).expect("a scratch database is created");
    let mut config: postgres::Config = admin.parse().expect("GRIDWALK_TEST_POSTGRES is a connection URL");
    config.dbname(&name);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    format!("postgres://{user}@{host}:{port}/{name}")
}

/// Bind a fresh data directory to this run's engine (a scratch database on PostgreSQL; the
/// embedded file needs nothing). A directory already bound stays as it is.
pub fn bind(data_dir: &Path) {
    if on_postgres() && !data_dir.join(gridwalk_server::store::engine::DATABASE_URL_FILE).exists() {
        admin::use_database(data_dir, &scratch_database()).expect("a fresh data directory binds to its scratch database");
    }
}

/// A value for a [`Peek`] query's parameter, in either engine.
#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Int(i)
    }
}

/// A look into the server's real database, whichever engine holds it.
pub enum Peek {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Peek {
    pub fn open(data_dir: &Path) -> Peek {
        match Database::of(data_dir).expect("the data directory names its database") {
            Database::Sqlite(file) => Peek::Sqlite(rusqlite::Connection::open(file).expect("open the server's SQLite file")),
            Database::Postgres(url) => {
                Peek::Postgres(postgres::Client::connect(&url, postgres::NoTls).expect("connect to the server's database"))
            }
        }
    }

    /// The integers of the one row `sql` returns (`?1`-style parameters in either engine);
    /// NULL is `None`.
    pub fn ints(&mut self, sql: &str, args: &[Arg]) -> Vec<Option<i64>> {
        match self {
            Peek::Sqlite(c) => {
                let params = sqlite_args(args);
                c.query_row(sql, rusqlite::params_from_iter(params), |r| {
                    (0..r.as_ref().column_count()).map(|i| r.get::<_, Option<i64>>(i)).collect::<Result<Vec<_>, _>>()
                })
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Peek::Postgres(c) => {
                let row = c
                    .query_one(&dollar_params(sql), &pg_args(args).iter().map(|a| a.as_ref()).collect::<Vec<_>>())
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                (0..row.len()).map(|i| row.get::<_, Option<i64>>(i)).collect()
            }
        }
    }

    /// The one text value `sql` returns.
    pub fn text(&mut self, sql: &str, args: &[Arg]) -> String {
        match self {
            Peek::Sqlite(c) => {
                let params = sqlite_args(args);
                c.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Peek::Postgres(c) => c
                .query_one(&dollar_params(sql), &pg_args(args).iter().map(|a| a.as_ref()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0),
        }
    }
}

fn sqlite_args(args: &[Arg]) -> Vec<rusqlite::types::Value> {
    args.iter()
        .map(|a| match a {
            Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Arg::Int(i) => rusqlite::types::Value::Integer(*i),
        })
        .collect()
}

fn pg_args(args: &[Arg]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    args.iter()
        .map(|a| -> Box<dyn postgres::types::ToSql + Sync> {
            match a {
                Arg::Text(t) => Box::new(t.clone()),
                Arg::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

/// `?1`-style parameters as PostgreSQL's `$1`.
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}
