//! The PostgreSQL engine: the district past one machine. Several server processes may share
//! one database; each runs what the SQLite engine runs (one writer thread with group commit,
//! pooled readers), and the database keeps the promises across them:
//!
//! - **An ack only after a durable commit.** A job's answer waits for `COMMIT` to return, with
//!   the server's `synchronous_commit` (on by default: the WAL is flushed, and with a
//!   synchronous standby configured, replicated, before the commit returns).
//! - **`(device, seq)` is unique in the database**, not in one process: two processes that
//!   ingest the same device's push at once serialize on a per-device advisory lock (see
//!   [`Pg::lock_device`]), so the second sees the first's events and answers them as
//!   duplicates, as one process would.
//! - **A pull cursor that never skips.** See `gw_claim_seq` and `gw_safe_seq` in the schema:
//!   every writing transaction claims its place in the sequence before it stores anything, and
//!   reads of the change feed stop below the oldest claim still in flight.
//! - **Waits reach every process.** A commit that stored events sends `NOTIFY gridwalk_events`
//!   (delivered only if it commits); every process listens and wakes its own waiting tablets.
//!
//! The only module besides [`super::sqlite`] that knows a database driver. The SQL is
//! PostgreSQL's own (`$n` parameters, `ON CONFLICT`, `string_agg`), kept beside the SQLite
//! statements it mirrors, method for method.
//!
//! # Threads
//! The storage traits are synchronous, called on the engine's writer thread and on blocking
//! reader threads, as rusqlite's are. tokio-postgres is asynchronous. Reader connections do
//! their I/O on one runtime thread of the engine's own ([`io`]), and a read waits for its
//! client future with `futures_executor::block_on`: those futures only talk to their
//! connection over channels, so waiting for them needs no runtime, and the caller's (a test's
//! `current_thread` runtime, the server's) is never entered or blocked from inside. The writer
//! thread, which is in no runtime, drives its own connection on a current-thread runtime
//! ([`Driver::Own`]), and pipelines what it can ([`Pg::defer`]).

mod console;
mod foresight;
mod migrate;
mod read;
mod scope_sql;
mod write;

pub use migrate::MIGRATIONS;

use super::{group_commit, next_batch, Batch, Reader, Store, Tx, WriteJob};
use crate::error::{Error, Result};
use futures_executor::block_on;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls, Row, Statement};

/// Most jobs in one transaction. Each job is a savepoint, and a savepoint that writes is a
/// subtransaction: past 64 of them in one transaction PostgreSQL's per-backend cache of
/// subtransaction ids overflows, and from then on every snapshot of every backend looks up
/// `pg_subtrans` for this transaction's rows. A 512-job batch (SQLite's group) stalled the
/// whole database that way under a fleet's load; 48 leaves room for a job's own savepoints.
const MAX_GROUP: usize = 48;

/// The channel a commit that stored events notifies.
pub const EVENTS_CHANNEL: &str = "gridwalk_events";

/// How long a connection attempt may take before the request is answered `database_unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The runtime every PostgreSQL connection of this process does its I/O on: one thread, made
/// on first use and kept for the process's life (a runtime dropped inside another's context
/// panics, and connections outlive any one caller).
fn io() -> &'static tokio::runtime::Runtime {
    static IO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gridwalk-pg-io")
            .enable_all()
            .build()
            .expect("the PostgreSQL I/O runtime starts")
    })
}

/// Connect on the I/O runtime and leave the connection running there; `on_message` sees what
/// the server sends unasked (notifications). The returned handle ends when the connection does.
fn connect(
    config: &tokio_postgres::Config,
    on_message: Option<Arc<dyn Fn(AsyncMessage) + Send + Sync>>,
) -> Result<(Client, tokio::task::JoinHandle<()>)> {
    let config = config.clone();
    let connected = block_on(io().spawn(async move { config.connect(NoTls).await }))
        .map_err(|e| Error::Internal(format!("the PostgreSQL connect task failed: {e}")))?;
    let (client, mut connection) = connected.map_err(pg_error)?;
    let driver = io().spawn(async move {
        use futures_util::StreamExt;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(m) => {
                    if let Some(f) = &on_message {
                        f(m)
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a PostgreSQL connection ended");
                    break;
                }
            }
        }
    });
    Ok((client, driver))
}

/// How a connection's I/O is driven.
enum Driver {
    /// On the process's shared I/O thread ([`io`]); a caller waits with `futures_executor`, so
    /// it may be on any thread, inside a runtime or not (readers, migrations, tests).
    Shared,
    /// On a current-thread runtime of the connection's own, driven only while its one user
    /// waits (the writer thread). A round trip then wakes one thread, not the I/O thread and
    /// then the caller: under a fleet's load, on a busy machine, each wake-up is a wait for a
    /// core, and the writer makes most of the round trips.
    Own(tokio::runtime::Runtime),
}

/// One connection with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    driver: Driver,
}

impl Conn {
    fn open(config: &tokio_postgres::Config) -> Result<Conn> {
        let (client, _driver) = connect(config, None)?;
        Ok(Conn { client, statements: HashMap::new(), driver: Driver::Shared })
    }

    /// A connection driven on a runtime of its own ([`Driver::Own`]). Only for a thread that
    /// is not inside a runtime (a runtime cannot be waited on from inside another).
    fn open_own(config: &tokio_postgres::Config) -> Result<Conn> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (client, connection) = rt.block_on(config.connect(NoTls)).map_err(pg_error)?;
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "the writer's PostgreSQL connection ended");
            }
        });
        Ok(Conn { client, statements: HashMap::new(), driver: Driver::Own(rt) })
    }

    /// Wait for a request on this connection.
    fn wait<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.driver {
            Driver::Own(rt) => rt.block_on(f),
            Driver::Shared => block_on(f),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.wait(self.client.prepare(sql)).map_err(pg_error)?;
        // A statement built from a scope (its IN lists vary) is not kept: the cache would grow
        // with every scope shape.
        if self.statements.len() < 512 {
            self.statements.insert(sql.to_owned(), s.clone());
        }
        Ok(s)
    }
}

/// A statement whose answer nobody reads, queued to go out with the next one that needs an
/// answer (see [`Pg::defer`]).
enum Deferred {
    Exec(Statement, Vec<Arg>),
    /// Transaction control without parameters (`SAVEPOINT job`).
    Simple(&'static str),
}

/// A parameter of a statement built at run time.
pub(crate) type Arg = Box<dyn ToSql + Sync + Send>;

/// The parameters of a statement built at run time, numbered as they are added.
#[derive(Default)]
pub(crate) struct Args(pub(crate) Vec<Arg>);

impl Args {
    /// Add a parameter; its placeholder (`$n`) goes into the SQL.
    pub(crate) fn add(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// A connection seen through the storage traits: a reader's, or the writer's inside its open
/// transaction.
///
/// # Pipelining
/// A write whose answer the use case does not read (an insert, a view written, the device's
/// lock) is not sent at once but queued ([`Pg::defer`]) and sent with the next statement that
/// needs an answer, or when the job ends, all in one round trip: tokio-postgres pipelines the
/// requests it is handed together, in order. A push of ten reports is then a handful of round
/// trips instead of about eighty. The order of statements on the connection is unchanged, so
/// is what each one sees; only an error of a queued write surfaces later, from the statement
/// it went out with, and fails the job as it would have.
pub(crate) struct Pg<'c> {
    conn: RefCell<&'c mut Conn>,
    /// Whether this transaction stored an event (then its commit notifies the other processes).
    stored_events: Cell<bool>,
    deferred: RefCell<Vec<Deferred>>,
}

/// A request's future as the pipeline holds it.
type Request<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>> + 'a>>;

impl<'c> Pg<'c> {
    fn new(conn: &'c mut Conn) -> Pg<'c> {
        Pg { conn: RefCell::new(conn), stored_events: Cell::new(false), deferred: RefCell::new(Vec::new()) }
    }

    /// Queue a write whose answer nobody reads (see [Pipelining](Pg#pipelining)).
    pub(crate) fn defer(&self, sql: &str, args: Vec<Arg>) -> Result<()> {
        let stmt = self.conn.borrow_mut().statement(sql)?;
        self.deferred.borrow_mut().push(Deferred::Exec(stmt, args));
        Ok(())
    }

    /// Forget the queued writes: what they would write is being rolled back anyway.
    fn discard(&self) {
        self.deferred.borrow_mut().clear();
    }

    /// Send every queued write, then `request`, in one round trip, and wait for all of them.
    /// A queued write's error comes first: after it the transaction is aborted, and `request`
    /// failed only because of it.
    fn send<T>(&self, conn: &Conn, request: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>) -> Result<T> {
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        if deferred.is_empty() {
            return conn.wait(request).map_err(pg_error);
        }
        let client = &conn.client;
        let earlier = deferred.iter().map(|d| -> Request<'_> {
            match d {
                Deferred::Exec(stmt, args) => {
                    Box::pin(
                        async move { client.execute_raw(stmt, args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync))).await.map(drop) },
                    )
                }
                Deferred::Simple(sql) => Box::pin(client.batch_execute(sql)),
            }
        });
        // `join` polls the queued requests first, so they go out first, in order.
        let (earlier, out) = conn.wait(futures_util::future::join(futures_util::future::join_all(earlier), request));
        for r in earlier {
            r.map_err(pg_error)?;
        }
        out.map_err(pg_error)
    }

    /// Send the queued writes now.
    pub(crate) fn flush(&self) -> Result<()> {
        let conn = self.conn.borrow();
        self.send(&conn, async { Ok(()) })
    }

    pub(crate) fn query(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.statement(sql)?;
        self.send(&conn, conn.client.query(&stmt, args))
    }

    /// Several independent queries in one round trip (after whatever is queued), their rows in
    /// the order asked.
    pub(crate) fn query_all(&self, queries: &[(&str, &[&(dyn ToSql + Sync)])]) -> Result<Vec<Vec<Row>>> {
        let mut conn = self.conn.borrow_mut();
        let statements = queries.iter().map(|(sql, _)| conn.statement(sql)).collect::<Result<Vec<_>>>()?;
        let client = &conn.client;
        let all = futures_util::future::try_join_all(statements.iter().zip(queries).map(|(s, (_, args))| client.query(s, args)));
        self.send(&conn, all)
    }

    pub(crate) fn query_opt(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.statement(sql)?;
        self.send(&conn, conn.client.query_opt(&stmt, args))
    }

    pub(crate) fn query_one(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.statement(sql)?;
        self.send(&conn, conn.client.query_one(&stmt, args))
    }

    /// Rows one at a time, as the server sends them (an export streams a million rows without
    /// holding them): `each` returns false to stop.
    pub(crate) fn each_row(&self, sql: &str, args: &[&(dyn ToSql + Sync)], each: &mut dyn FnMut(&Row) -> Result<bool>) -> Result<()> {
        use futures_util::StreamExt;
        self.flush()?;
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.statement(sql)?;
        let rows = conn.wait(conn.client.query_raw(&stmt, args.iter().copied())).map_err(pg_error)?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = conn.wait(rows.next()) {
            if !each(&row.map_err(pg_error)?)? {
                break;
            }
        }
        Ok(())
    }

    pub(crate) fn execute(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.statement(sql)?;
        self.send(&conn, conn.client.execute(&stmt, args))
    }

    /// Statements without parameters or results (savepoints), in one round trip with whatever
    /// is queued. A rollback first forgets the queue: it undoes those writes anyway.
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        if sql.starts_with("ROLLBACK") {
            self.discard();
        }
        let conn = self.conn.borrow();
        self.send(&conn, conn.client.batch_execute(sql))
    }

    /// The highest global sequence a reader may move its cursor to: every event at or below it
    /// that will ever be visible is visible now (`gw_safe_seq` in the schema).
    pub(crate) fn safe_seq(&self) -> Result<i64> {
        Ok(self.query_one("SELECT gw_safe_seq()", &[])?.try_get(0)?)
    }

    /// Note that this transaction stored an event: its commit notifies the other processes.
    pub(crate) fn stored_event(&self) {
        self.stored_events.set(true);
    }

    /// Hold, until this transaction ends, the lock that serializes ingest of one device across
    /// processes (a tablet that retried on another process while its first push still ran).
    ///
    /// Queued like a write: the statement that next needs an answer goes out after it, so it
    /// waits for the lock as it would have.
    pub(crate) fn lock_device(&self, device: &str) -> Result<()> {
        self.defer("SELECT pg_advisory_xact_lock(hashtext($1), 17)", vec![Box::new(device.to_owned())])
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_error(e)
    }
}

/// What a driver error means to the client: the database away (503, try again), a lock
/// contest lost (503 busy), or a fault.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> Error {
    if e.is_closed() {
        return Error::Unavailable(e.to_string());
    }
    match e.code().map(|c| c.code()) {
        // connection_exception, admin/crash shutdown, cannot_connect_now, too_many_connections
        Some(c) if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300") => Error::Unavailable(e.to_string()),
        // serialization_failure, deadlock_detected, lock_not_available
        Some("40001" | "40P01" | "55P03") => Error::Busy,
        Some(_) => Error::Storage(e.to_string()),
        // No SQL state: the connection itself failed (refused, reset, timed out).
        None if std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => Error::Unavailable(e.to_string()),
        None => Error::Storage(e.to_string()),
    }
}

/// A PostgreSQL database, shared by every server process configured with it.
pub struct PgStore {
    config: tokio_postgres::Config,
    jobs: Mutex<mpsc::Sender<WriteJob>>,
    readers: ReaderPool,
    listener: Arc<Listener>,
}

/// At most `max` read connections, made on demand and kept. A read waits for one to be free
/// rather than opening another: a PostgreSQL connection is a server process, and opening one
/// per request under a fleet's load costs more than the request.
struct ReaderPool {
    state: Mutex<PoolState>,
    freed: std::sync::Condvar,
    max: usize,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl ReaderPool {
    fn new(max: usize) -> ReaderPool {
        ReaderPool { state: Mutex::new(PoolState::default()), freed: std::sync::Condvar::new(), max: max.max(1) }
    }

    fn take(&self, config: &tokio_postgres::Config) -> Result<Conn> {
        let poisoned = || Error::Internal("reader pool poisoned".into());
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        loop {
            while let Some(c) = state.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                // The database restarted under it: forget it, make another.
                state.open -= 1;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return Conn::open(config).inspect_err(|_| {
                    if let Ok(mut s) = self.state.lock() {
                        s.open -= 1;
                    }
                    self.freed.notify_one();
                });
            }
            state = self.freed.wait(state).map_err(|_| poisoned())?;
        }
    }

    fn give_back(&self, conn: Conn) {
        if let Ok(mut state) = self.state.lock() {
            if conn.client.is_closed() {
                state.open -= 1;
            } else {
                state.idle.push(conn);
            }
        }
        self.freed.notify_one();
    }
}

/// The notification listener's state, shared with its thread: the store being dropped stops
/// it (and closes its connection), so no connection outlives the store.
#[derive(Default)]
struct Listener {
    stopped: std::sync::atomic::AtomicBool,
    connection: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Listener {
    fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.stopped.store(true, std::sync::atomic::Ordering::Release);
        if let Some(c) = self.listener.connection.lock().ok().and_then(|mut c| c.take()) {
            c.abort();
        }
    }
}

/// Parse a `postgres://` URL (or a key=value connection string).
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::BadDatabase(format!("{e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.keepalives(true).keepalives_idle(Duration::from_secs(30));
    if config.get_application_name().is_none() {
        config.application_name("gridwalk-server");
    }
    Ok(config)
}

impl PgStore {
    /// Connect, bring the schema up to date (one process at a time) and start the writer. A
    /// write that waits longer than `lock_wait` for a lock another connection holds (a device
    /// another process is ingesting, a table an operator locked) is answered `busy`, with
    /// nothing stored, as a SQLite write past its busy timeout is.
    pub fn open(url: &str, max_readers: usize, lock_wait: Duration) -> Result<PgStore> {
        let config = parse_url(url)?;
        let mut writer_config = config.clone();
        let options = writer_config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        writer_config.options(format!("{options}-c lock_timeout={}", lock_wait.as_millis().max(1)));
        // Migrated on a connection of the shared I/O thread: `open` may be called from inside
        // a runtime. The writer makes its own on its thread (see `Driver::Own`).
        migrate::migrate(&Conn::open(&writer_config)?.client)?;
        let (jobs, rx) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new().name("gridwalk-pg-writer".into()).spawn(move || writer_loop(None, &writer_config, rx))?;
        Ok(PgStore { config, jobs: Mutex::new(jobs), readers: ReaderPool::new(max_readers), listener: Arc::new(Listener::default()) })
    }
}

impl Store for PgStore {
    fn submit(&self, job: WriteJob) -> Result<()> {
        let jobs = self.jobs.lock().map_err(|_| Error::Internal("writer queue poisoned".into()))?;
        jobs.send(job).map_err(|_| Error::Internal("the writer has stopped".into()))
    }

    fn read_with(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<()>) -> Result<()> {
        let mut conn = self.readers.take(&self.config)?;
        let out = job(&Pg::new(&mut conn));
        self.readers.give_back(conn);
        out
    }

    fn watch(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<()> {
        let config = self.config.clone();
        let listener = self.listener.clone();
        std::thread::Builder::new().name("gridwalk-pg-listen".into()).spawn(move || listen_loop(&config, &listener, wake))?;
        Ok(())
    }
}

/// Hold `LISTEN gridwalk_events` and wake the process's feed on every notification; when the
/// connection drops, wake it anyway (it reads what it missed) and connect again.
fn listen_loop(config: &tokio_postgres::Config, listener: &Listener, wake: Arc<dyn Fn() + Send + Sync>) {
    while !listener.stopped() {
        let woken = wake.clone();
        let on_message: Arc<dyn Fn(AsyncMessage) + Send + Sync> = Arc::new(move |m| {
            if matches!(m, AsyncMessage::Notification(_)) {
                woken()
            }
        });
        let (client, driver) = match connect(config, Some(on_message)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the notification listener cannot connect; trying again");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = block_on(client.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))) {
            tracing::warn!(error = %e, "LISTEN failed; trying again");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if let Ok(mut slot) = listener.connection.lock() {
            *slot = Some(driver.abort_handle());
        }
        if listener.stopped() {
            driver.abort();
        }
        // Whatever was committed while this listener was away.
        wake();
        let _ = block_on(driver);
        drop(client);
        if listener.stopped() {
            break;
        }
        tracing::warn!("the notification listener lost its connection; reconnecting");
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Batch for Pg<'_> {
    fn tx(&self) -> &dyn Tx {
        self
    }

    fn control(&self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    /// Sent with the job's first statement that needs an answer.
    fn open_job(&self) -> Result<()> {
        self.deferred.borrow_mut().push(Deferred::Simple("SAVEPOINT job"));
        Ok(())
    }

    /// A job that sent nothing yet (its savepoint is still queued) is undone by forgetting
    /// the queue from its savepoint on: no round trip. Otherwise back to the savepoint.
    fn undo_job(&self) -> Result<()> {
        {
            let mut queued = self.deferred.borrow_mut();
            if let Some(at) = queued.iter().position(|d| matches!(d, Deferred::Simple("SAVEPOINT job"))) {
                queued.truncate(at);
                return Ok(());
            }
        }
        self.batch("ROLLBACK TO job; RELEASE job")
    }

    /// The job's queued writes and the release go out together; if any failed, the job is
    /// rolled back to its savepoint alone.
    fn keep_job(&self) -> Result<Result<()>> {
        match self.batch("RELEASE job") {
            Ok(()) => Ok(Ok(())),
            Err(late) => self.undo_job().map(|()| Err(late)),
        }
    }
}

fn writer_loop(mut conn: Option<Conn>, config: &tokio_postgres::Config, rx: mpsc::Receiver<WriteJob>) {
    while let Some(batch) = next_batch(&rx, MAX_GROUP) {
        // The database may have restarted since the last batch: connect again, or answer every
        // job that it is away (the tablet tries again; nothing was stored).
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            conn = match Conn::open_own(config) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, jobs = batch.len(), "the database is away; every job refused, nothing stored");
                    for job in batch {
                        job.refuse(match &e {
                            Error::Unavailable(m) => Error::Unavailable(m.clone()),
                            other => Error::Unavailable(other.to_string()),
                        });
                    }
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        let pg = Pg::new(c);
        // The claim comes first, outside every savepoint: it must last until the commit (see
        // `gw_claim_seq`), and a job's savepoint rolled back would release it. NOTIFY is queued
        // with the transaction and sent only if it commits.
        let commit = || if pg.stored_events.get() { format!("NOTIFY {EVENTS_CHANNEL}; COMMIT") } else { "COMMIT".to_owned() };
        group_commit(&pg, "BEGIN; SELECT gw_claim_seq()", &commit, batch);
    }
    tracing::debug!("writer stopped: every handle is gone");
}
