//! The tablet syncs by itself. Two threads, both tauri-free so tests drive them:
//!
//! - the **scheduler** sleeps until the core's plan (`gridwalk_core::sync::auto::next_sync_at`)
//!   says a sync is due — a record was made (2 s debounce), the pull period passed, the server
//!   said there is news — and runs it under the one sync gate a manual 同步 also takes; offline
//!   it backs off;
//! - the **waiter** long-polls the server between syncs: while unlocked `GET /sync/wait` with
//!   the device token (read under the store's lock, used without it); while locked
//!   `GET /notify/count` with the notify-only token from `notify.json`, never opening the
//!   store, and raises a content-free notification when the count grows.
//!
//! Neither holds the tablet's mutex while a request is out.

use crate::shell::Shell;
use gridwalk_core::sync::auto::{next_sync_at, AutoPlan, AutoState};
use gridwalk_core::sync::{HttpTransport, TransportError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long the server may hold a long-poll (it caps at 60 s; 25 s stays under most proxies'
/// idle timeouts).
pub const LONG_POLL_S: u64 = 25;
/// The longest the scheduler sleeps before looking again (the lock state may have changed).
const MAX_NAP: Duration = Duration::from_secs(5);

/// The planner's state behind a mutex, and the condition the threads sleep on: a record, a
/// lock or unlock, news or the end of a sync wakes them.
#[derive(Debug)]
pub struct Auto {
    state: Mutex<AutoState>,
    wake: Condvar,
    period_s: AtomicU32,
}

impl Auto {
    pub fn new(period_s: u32) -> Auto {
        Auto { state: Mutex::new(AutoState::default()), wake: Condvar::new(), period_s: AtomicU32::new(period_s) }
    }

    fn update<T>(&self, f: impl FnOnce(&mut AutoState) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut s);
        self.wake.notify_all();
        out
    }

    pub fn snapshot(&self) -> AutoState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn plan(&self) -> AutoPlan {
        AutoPlan::with_period_s(self.period_s.load(Ordering::SeqCst))
    }

    pub fn set_period_s(&self, s: u32) {
        self.period_s.store(s, Ordering::SeqCst);
        self.update(|_| ());
    }

    pub fn poke(&self, now_ms: i64) {
        self.update(|s| s.poke(now_ms));
    }

    pub fn started(&self, now_ms: i64) {
        self.update(|s| s.started(now_ms));
    }

    pub fn finished(&self, now_ms: i64, ok: bool) {
        let jitter: f64 = rand::random();
        self.update(|s| s.finished(now_ms, ok, jitter));
    }

    pub fn news(&self) {
        self.update(|s| s.news = true);
    }

    /// Unlocking starts afresh (sync at once, no backoff from before the lock); locking stops
    /// every automatic sync.
    pub fn set_unlocked(&self, unlocked: bool) {
        self.update(|s| {
            if s.unlocked != unlocked {
                *s = AutoState { unlocked, running: s.running, ..AutoState::default() };
            }
        });
    }

    /// Sleep up to `d`, or until something changes.
    pub fn nap(&self, d: Duration) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.wake.wait_timeout(s, d);
    }
}

/// What one look of the scheduler did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Locked, or a sync runs: nothing to plan until that changes.
    Idle,
    /// Not due yet: sleep this long.
    Sleep(Duration),
    /// Due, but another sync holds the gate (a manual 同步): it does the work.
    Busy,
    /// Ran one sync.
    Synced { ok: bool },
}

/// One look: sync if due (and the gate is free), else say how long to sleep.
pub fn tick(shell: &Shell) -> Tick {
    shell.auto.set_unlocked(shell.is_unlocked());
    let now = shell.now_ms();
    match next_sync_at(&shell.auto.snapshot(), &shell.auto.plan()) {
        None => Tick::Idle,
        Some(due) if due > now => Tick::Sleep(Duration::from_millis((due - now) as u64)),
        Some(_) => match shell.try_auto_sync() {
            None => Tick::Busy,
            Some(result) => Tick::Synced { ok: result.is_ok() },
        },
    }
}

/// The scheduler thread's loop.
pub fn run_scheduler(shell: &Shell) -> ! {
    loop {
        match tick(shell) {
            Tick::Idle => shell.auto.nap(MAX_NAP),
            Tick::Sleep(d) => shell.auto.nap(d.min(MAX_NAP)),
            Tick::Busy => shell.auto.nap(Duration::from_millis(250)),
            Tick::Synced { .. } => {}
        }
    }
}

/// The waiter thread's loop: `sync/wait` while unlocked, `notify/count` while locked.
pub fn run_waiter(shell: &Shell) -> ! {
    // While locked: the cursor the count runs from and the total so far (since the lock).
    let mut locked: Option<(u64, u32)> = None;
    loop {
        if shell.is_unlocked() {
            locked = None;
            wait_for_news(shell);
        } else {
            watch_locked(shell, &mut locked);
        }
    }
}

fn sleep(d: Duration) {
    std::thread::sleep(d)
}

/// One `sync/wait` long-poll, if the tablet is online and idle; news makes the scheduler sync.
fn wait_for_news(shell: &Shell) {
    let st = shell.auto.snapshot();
    // Offline (backing off), syncing, or not synced once since unlock: the scheduler has it.
    if !st.online() || st.running || st.last_start_ms.is_none() {
        shell.auto.nap(Duration::from_secs(1));
        return;
    }
    let Ok(ticket) = shell.with_store(|t| t.wait_ticket()) else {
        sleep(Duration::from_secs(1));
        return;
    };
    let Ok(transport) = HttpTransport::new(&ticket.server_url) else { return sleep(Duration::from_secs(5)) };
    match transport.wait(&ticket.token, ticket.after, LONG_POLL_S) {
        Ok(answer) if answer.news => {
            // A sync may have pulled it while we waited: only news past the cursor now counts.
            let cursor = shell.with_store(|t| t.pull_cursor()).unwrap_or(0);
            if answer.latest_seq > cursor {
                shell.auto.news();
            }
        }
        Ok(_) => {}
        // Offline or refused: the scheduler's backoff decides when to try the network again.
        Err(_) => sleep(Duration::from_secs(5)),
    }
}

/// One `notify/count` long-poll with the notify-only token; the store stays closed.
fn watch_locked(shell: &Shell, locked: &mut Option<(u64, u32)>) {
    let Some(file) = crate::shell::NotifyFile::load(&shell.dir) else {
        // Enrolled before notify tokens existed, or not enrolled: nothing to ask with.
        return sleep(Duration::from_secs(5));
    };
    let (after, total) = locked.get_or_insert((file.after, 0));
    let Ok(transport) = HttpTransport::new(&file.server_url) else { return sleep(Duration::from_secs(5)) };
    match transport.notify_count(&file.notify_token, *after, LONG_POLL_S) {
        Ok(count) => {
            // Nothing between `after` and `latest_seq` that is not counted was for us.
            *after = (*after).max(count.latest_seq);
            if count.new > 0 && !shell.is_unlocked() {
                *total = total.saturating_add(count.new);
                shell.locked_news(*total);
            }
        }
        // Revoked with the device: keep quiet for a while.
        Err(TransportError::Unauthorized { .. }) => sleep(Duration::from_secs(60)),
        Err(_) => sleep(Duration::from_secs(10)),
    }
}
