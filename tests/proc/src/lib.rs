//! Every process a test, a benchmark or xtask starts is an [`OwnedChild`]: a guard that, when it
//! is dropped (on success, on failure and while a panic unwinds), stops the process and what it
//! started, by pid, and checks that none of it is left. A run's pids are also written down, so
//! that the suite's last test can check that nothing the run started outlived it.
//!
//! Design, and why:
//! - The child gets a process group of its own (`process_group(0)`), so what it starts (Xvfb;
//!   tauri-driver → WebKitWebDriver → the app) is signalled with it: `kill(-pgid)`. The group is
//!   signalled only while the leader is still unreaped (a zombie at worst), which keeps its pid,
//!   and so the group id, from being reused by an unrelated process.
//! - A process that leaves the group (`setsid`, a daemon, a D-Bus launcher) is still found: the
//!   guard puts a token of its own in the child's environment (`GRIDWALK_PROC_GUARD`), which
//!   every descendant inherits, and looks in `/proc` for the group, the token and the children of
//!   what it found. Each is signalled by pid, after checking its start time (`/proc/<pid>/stat`
//!   field 22), so a reused pid is never hit.
//! - Stopping is SIGTERM, a grace period, then SIGKILL, then reaping; [`OwnedChild::kill`] is
//!   SIGKILL at once, for the crash tests. A guard that finds something still alive after that
//!   panics (or, while already panicking, says so on stderr).
//! - A process of its own group no longer gets the terminal's Ctrl-C, so the first guard that
//!   makes one also catches SIGINT and SIGTERM (unless they are ignored) and then stops every
//!   live guard's processes before the process dies of the signal.
//! - The run-wide check cannot be a `#[test]` among the others: the harness runs tests on
//!   parallel threads in no set order, and `cargo test` runs one binary after another. So
//!   `cargo xtask test` gives the run a directory (`GRIDWALK_TEST_RUN_DIR`), every guard writes
//!   one file per process it owns there (`<pid>-<start time>`, holding the command line), and
//!   after `cargo test` has ended xtask runs the suite's last test, which calls [`check_run`]:
//!   no recorded process and no process carrying the run's variable in its environment may be
//!   alive, however it was started.

pub mod postgres;

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

/// Set by `cargo xtask test` on `cargo test`: the directory where guards record what they own.
pub const RUN_DIR_ENV: &str = "GRIDWALK_TEST_RUN_DIR";
/// Set by `cargo xtask test` on the suite's last test: the run directory to check.
pub const CHECK_RUN_DIR_ENV: &str = "GRIDWALK_CHECK_RUN_DIR";
/// The guards' tokens in a child's environment, `:`-separated when guards nest.
pub const GUARD_ENV: &str = "GRIDWALK_PROC_GUARD";

/// How long a stopped child may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// How long the kernel gets to carry out a SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A process, told apart from a later one with the same pid by its start time (clock ticks
/// after boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: i32,
    pub start: u64,
}

#[derive(Debug, Clone, Copy)]
struct Stat {
    state: char,
    ppid: i32,
    pgrp: i32,
    start: u64,
}

impl Stat {
    /// Exited: a zombie waiting for its parent, or on its way out.
    fn dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

fn stat(pid: i32) -> Option<Stat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let fields: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process in /proc with its stat.
fn table() -> Vec<(ProcId, Stat)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat(pid).map(|s| (ProcId { pid, start: s.start }, s)))
        .collect()
}

fn environ(pid: i32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default()
}

/// Whether `pid`'s environment holds `GUARD_ENV` with `token` among its values.
fn carries_token(pid: i32, token: &str) -> bool {
    let prefix = format!("{GUARD_ENV}=");
    environ(pid)
        .split(|b| *b == 0)
        .filter_map(|e| e.strip_prefix(prefix.as_bytes()))
        .any(|v| v.split(|b| *b == b':').any(|t| t == token.as_bytes()))
}

/// A process's command line, for messages.
pub fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let line = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| format!("[{}]", c.trim())).unwrap_or_else(|_| "?".into())
    } else {
        line
    }
}

impl ProcId {
    /// The process now running as `pid`.
    pub fn of(pid: i32) -> Option<ProcId> {
        stat(pid).map(|s| ProcId { pid, start: s.start })
    }

    /// Still running: the same process (same start time) and not exited.
    pub fn is_alive(&self) -> bool {
        matches!(stat(self.pid), Some(s) if s.start == self.start && !s.dead())
    }

    fn signal(&self, sig: Signal) {
        if self.is_alive() {
            let _ = kill(Pid::from_raw(self.pid), sig);
        }
    }
}

/// Wait until none of `procs` is alive, at most `timeout`; whether they all went.
fn wait_gone(procs: &[ProcId], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !procs.iter().any(ProcId::is_alive) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a guard owns, to look for in /proc.
struct Owner<'a> {
    /// The group to take whole: the leader's pid while the leader is unreaped.
    group: Option<i32>,
    token: &'a str,
    known: &'a HashSet<ProcId>,
}

/// The live processes of `owner`: its group, those with its token, those it saw before, and
/// every descendant of these. Never this process.
fn find(owner: &Owner) -> Vec<ProcId> {
    let me = std::process::id() as i32;
    let procs: Vec<(ProcId, Stat)> = table().into_iter().filter(|(id, s)| id.pid != me && !s.dead()).collect();
    let mut found: HashSet<ProcId> = procs
        .iter()
        .filter(|(id, s)| owner.group == Some(s.pgrp) || owner.known.contains(id) || carries_token(id.pid, owner.token))
        .map(|(id, _)| *id)
        .collect();
    let mut children: HashMap<i32, Vec<ProcId>> = HashMap::new();
    for (id, s) in &procs {
        children.entry(s.ppid).or_default().push(*id);
    }
    let mut queue: Vec<i32> = found.iter().map(|p| p.pid).collect();
    while let Some(pid) = queue.pop() {
        for c in children.get(&pid).into_iter().flatten() {
            if found.insert(*c) {
                queue.push(c.pid);
            }
        }
    }
    found.into_iter().collect()
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// A guard that is not finished yet, for the SIGINT/SIGTERM clean-up.
#[derive(Debug)]
struct Live {
    key: u64,
    leader: ProcId,
    own_group: bool,
    token: String,
}

static LIVE: Mutex<Vec<Live>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Whether this process ignores `sig` (/proc/self/status `SigIgn`), as under `nohup` or in a
/// shell's background job: then it is left alone.
fn ignored(sig: i32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).and_then(|m| u64::from_str_radix(m.trim(), 16).ok()).unwrap_or(0);
    mask & (1 << (sig - 1)) != 0
}

/// Once per process: on SIGINT or SIGTERM, stop every live guard's processes, then die of the
/// signal as before.
fn catch_signals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let sigs: Vec<i32> = [SIGINT, SIGTERM].into_iter().filter(|s| !ignored(*s)).collect();
        if sigs.is_empty() {
            return;
        }
        let mut signals = match signal_hook::iterator::Signals::new(&sigs) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gridwalk-proc: cannot catch SIGINT/SIGTERM ({e}); a Ctrl-C will leave child processes running");
                return;
            }
        };
        let spawned = std::thread::Builder::new().name("proc-guard-signals".into()).spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Hold the list until the end, so no guard reaps a leader while its group is hit.
                let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
                let none = HashSet::new();
                let owners: Vec<Owner> =
                    live.iter().map(|l| Owner { group: l.own_group.then_some(l.leader.pid), token: &l.token, known: &none }).collect();
                let procs: Vec<ProcId> = owners.iter().flat_map(find).collect();
                for sig in [Signal::SIGTERM, Signal::SIGKILL] {
                    for g in owners.iter().filter_map(|o| o.group) {
                        let _ = killpg(Pid::from_raw(g), sig);
                    }
                    procs.iter().for_each(|p| p.signal(sig));
                    wait_gone(&procs, Duration::from_secs(2));
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
        if let Err(e) = spawned {
            eprintln!("gridwalk-proc: cannot start the signal thread ({e}); a Ctrl-C will leave child processes running");
        }
    });
}

/// Write `id` down in the run directory, if this is a recorded run.
fn record(id: ProcId, what: &str) {
    let Some(dir) = std::env::var_os(RUN_DIR_ENV).map(PathBuf::from) else { return };
    let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(format!("{}-{}", id.pid, id.start)), what));
    if let Err(e) = written {
        eprintln!("gridwalk-proc: cannot record pid {} in {}: {e}", id.pid, dir.display());
    }
}

/// A child process that is stopped, with everything it started, when the guard is dropped.
///
/// `OwnedChild::spawn` is the only way the test kit, the benchmarks and xtask start a process
/// that outlives the call that starts it.
#[derive(Debug)]
pub struct OwnedChild {
    child: Child,
    leader: ProcId,
    what: String,
    own_group: bool,
    token: String,
    /// The child and every process found to belong to it (each recorded once).
    known: HashSet<ProcId>,
    key: u64,
    finished: bool,
    exit: Option<ExitStatus>,
}

impl OwnedChild {
    /// Start `cmd` in a process group of its own, with stdin from /dev/null (a background
    /// group must not read the terminal).
    pub fn spawn(cmd: &mut Command) -> io::Result<OwnedChild> {
        cmd.process_group(0).stdin(Stdio::null());
        catch_signals();
        Self::start(cmd, true)
    }

    /// Start `cmd` in this process's group, so that the terminal's Ctrl-C reaches it as it
    /// reaches us (an interactive command such as `cargo xtask demo`). It is stopped by pid,
    /// with what carries its token or descends from it.
    pub fn spawn_interactive(cmd: &mut Command) -> io::Result<OwnedChild> {
        Self::start(cmd, false)
    }

    fn start(cmd: &mut Command, own_group: bool) -> io::Result<OwnedChild> {
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        let me = std::process::id();
        let token = format!("{me}.{}.{key}", ProcId::of(me as i32).map_or(0, |p| p.start));
        let marker = match std::env::var(GUARD_ENV) {
            Ok(outer) if !outer.is_empty() => format!("{outer}:{token}"),
            _ => token.clone(),
        };
        cmd.env(GUARD_ENV, marker);
        let what = describe(cmd);
        // Registered before the spawn returns, under the lock the signal thread takes.
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        // Unreaped, so /proc/<pid> is there even if it already exited.
        let leader = ProcId::of(pid).unwrap_or(ProcId { pid, start: 0 });
        live.push(Live { key, leader, own_group, token: token.clone() });
        drop(live);
        record(leader, &what);
        Ok(OwnedChild { child, leader, what, own_group, token, known: HashSet::from([leader]), key, finished: false, exit: None })
    }

    pub fn id(&self) -> u32 {
        self.leader.pid as u32
    }

    /// The child's stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Whether the child itself has exited (it is not reaped before the guard finishes).
    pub fn has_exited(&self) -> bool {
        !self.leader.is_alive()
    }

    /// The exit status, once the guard has stopped and reaped the child.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exit
    }

    /// The live processes that belong to this guard now: the child, its group, and what they
    /// started, inside the group or not.
    pub fn processes(&mut self) -> Vec<ProcId> {
        if self.finished {
            return Vec::new();
        }
        let found = find(&Owner { group: self.group(), token: &self.token, known: &self.known });
        for p in &found {
            if self.known.insert(*p) {
                record(*p, &format!("{} (started under `{}`)", cmdline(p.pid), self.what));
            }
        }
        found
    }

    /// The group to signal whole: only while the leader is unreaped, so its id cannot be reused.
    fn group(&self) -> Option<i32> {
        (self.own_group && !self.finished).then_some(self.leader.pid)
    }

    fn send(&self, sig: Signal, procs: &[ProcId]) {
        if let Some(g) = self.group() {
            let _ = killpg(Pid::from_raw(g), sig);
        }
        procs.iter().for_each(|p| p.signal(sig));
    }

    /// Stop: SIGTERM, up to 5 s to exit, SIGKILL, reap; panics naming what is still alive.
    pub fn stop(&mut self) {
        self.finish_or_panic(Signal::SIGTERM);
    }

    /// kill -9 now, the child and what it started (no shutdown hook runs), then reap; panics
    /// naming what is still alive. A new guard starts it again.
    pub fn kill(&mut self) {
        self.finish_or_panic(Signal::SIGKILL);
    }

    /// Wait for the child to exit by itself, then stop what it left behind; its exit status.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if !self.finished {
            // WNOWAIT: the child stays unreaped, so its group id stays ours until `finish`.
            loop {
                match waitid(Id::Pid(Pid::from_raw(self.leader.pid)), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(io::Error::from(e)),
                    Ok(_) => break,
                }
            }
            self.finish_or_panic(Signal::SIGTERM);
        }
        self.exit.ok_or_else(|| io::Error::other(format!("`{}` could not be reaped", self.what)))
    }

    fn finish_or_panic(&mut self, first: Signal) {
        if let Err(e) = self.finish(first) {
            if std::thread::panicking() {
                eprintln!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }

    fn finish(&mut self, first: Signal) -> Result<(), String> {
        if self.finished {
            return Ok(());
        }
        let mut procs = self.processes();
        if first != Signal::SIGKILL {
            self.send(first, &procs);
            wait_gone(&procs, TERM_GRACE);
        }
        // SIGKILL even when all went: it reaches a group member the scan missed. Then look
        // again, for anything started while we were stopping the rest.
        for _ in 0..3 {
            self.send(Signal::SIGKILL, &procs);
            wait_gone(&procs, KILL_WAIT);
            procs = self.processes();
            if procs.is_empty() {
                break;
            }
        }
        // Unlisted first (under the lock the signal thread holds), then reaped.
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).retain(|l| l.key != self.key);
        if !self.leader.is_alive() {
            self.exit = self.child.wait().ok();
        }
        self.finished = true;
        if procs.is_empty() {
            return Ok(());
        }
        let list = procs.iter().map(|p| format!("pid {} `{}`", p.pid, cmdline(p.pid))).collect::<Vec<_>>().join("; ");
        Err(format!(
            "gridwalk-proc: `{}` (pid {}) was stopped, but these are still alive after SIGKILL: {list}",
            self.what, self.leader.pid
        ))
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.finish_or_panic(Signal::SIGTERM);
    }
}

/// A process of a finished run that is still alive.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub id: ProcId,
    pub cmdline: String,
    /// What the run's record says it was started as; `None` when it was found only by the
    /// run's variable in its environment.
    pub started_as: Option<String>,
}

/// The processes recorded in `run_dir`.
pub fn recorded(run_dir: &Path) -> io::Result<Vec<(ProcId, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(run_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((pid, start)) = name.to_str().and_then(|n| n.split_once('-')) else { continue };
        let (Ok(pid), Ok(start)) = (pid.parse(), start.parse()) else { continue };
        out.push((ProcId { pid, start }, std::fs::read_to_string(entry.path()).unwrap_or_default().trim().to_owned()));
    }
    Ok(out)
}

/// The run's processes still alive: those recorded in `run_dir`, and any process whose
/// environment holds `GRIDWALK_TEST_RUN_DIR=<run_dir>`, however it was started.
pub fn leftovers(run_dir: &Path) -> io::Result<Vec<Leftover>> {
    let mut out: HashMap<ProcId, Leftover> = HashMap::new();
    for (id, what) in recorded(run_dir)? {
        if id.is_alive() {
            out.insert(id, Leftover { id, cmdline: cmdline(id.pid), started_as: Some(what) });
        }
    }
    let mut marker = format!("{RUN_DIR_ENV}=").into_bytes();
    marker.extend_from_slice(run_dir.as_os_str().as_bytes());
    let me = std::process::id() as i32;
    for (id, s) in table() {
        if id.pid != me && !s.dead() && !out.contains_key(&id) && environ(id.pid).split(|b| *b == 0).any(|e| e == marker.as_slice()) {
            out.insert(id, Leftover { id, cmdline: cmdline(id.pid), started_as: None });
        }
    }
    let mut out: Vec<Leftover> = out.into_values().collect();
    out.sort_by_key(|l| l.id.pid);
    Ok(out)
}

/// The end-of-run check. Waits up to `grace` for the run's processes to be gone; if some are
/// still alive, stops them (SIGTERM, then SIGKILL, each by pid) so the run can end, and returns
/// an error naming each. `Ok` holds how many processes the run recorded.
pub fn check_run(run_dir: &Path, grace: Duration) -> Result<usize, String> {
    let deadline = Instant::now() + grace;
    let left = loop {
        let left = leftovers(run_dir).map_err(|e| format!("cannot read the run's records in {}: {e}", run_dir.display()))?;
        if left.is_empty() || Instant::now() >= deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !left.is_empty() {
        let ids: Vec<ProcId> = left.iter().map(|l| l.id).collect();
        for sig in [Signal::SIGTERM, Signal::SIGKILL] {
            ids.iter().for_each(|p| p.signal(sig));
            wait_gone(&ids, Duration::from_secs(3));
        }
        let list = left
            .iter()
            .map(|l| match &l.started_as {
                Some(what) => format!("\n  pid {} `{}` (started as `{what}`)", l.id.pid, l.cmdline),
                None => format!("\n  pid {} `{}` (not recorded; it carries {RUN_DIR_ENV} in its environment)", l.id.pid, l.cmdline),
            })
            .collect::<String>();
        return Err(format!(
            "{} process(es) the test run started were still alive after it ended (now stopped); records in {}:{list}",
            left.len(),
            run_dir.display()
        ));
    }
    Ok(recorded(run_dir).map(|r| r.len()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    /// Wait until the guard owns at least `n` live processes besides its child.
    fn wait_for_others(g: &mut OwnedChild, n: usize) -> Vec<ProcId> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let others: Vec<ProcId> = g.processes().into_iter().filter(|p| p.pid != g.id() as i32).collect();
            if others.len() >= n {
                return others;
            }
            assert!(Instant::now() < deadline, "the child started {n} processes within 10 s (has {})", others.len());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn dropping_the_guard_stops_the_child_and_its_group() {
        let mut g = OwnedChild::spawn(&mut sh("sleep 300 & sleep 300 & wait")).unwrap();
        let leader = g.leader;
        let others = wait_for_others(&mut g, 2);
        drop(g);
        assert!(!leader.is_alive(), "the child is gone");
        assert!(others.iter().all(|p| !p.is_alive()), "its children are gone");
    }

    #[test]
    fn a_process_that_left_the_group_and_was_orphaned_is_stopped_too() {
        // setsid: a session and group of its own; the shell exits at once, so the sleep is
        // reparented and only the token in its environment says whose it is.
        let mut g = OwnedChild::spawn(&mut sh("setsid sleep 300 &")).unwrap();
        let escaped = wait_for_others(&mut g, 1);
        assert!(escaped.iter().all(|p| stat(p.pid).unwrap().pgrp != g.id() as i32), "the sleep left the group");
        drop(g);
        assert!(escaped.iter().all(|p| !p.is_alive()), "the escaped sleep is gone");
    }

    #[test]
    fn kill_is_sigkill_and_a_new_guard_restarts() {
        use std::os::unix::process::ExitStatusExt;
        for _ in 0..2 {
            let mut g = OwnedChild::spawn(&mut sh("trap '' TERM; sleep 300")).unwrap();
            let started = Instant::now();
            g.kill();
            assert_eq!(g.exit_status().and_then(|s| s.signal()), Some(9), "killed by SIGKILL");
            assert!(started.elapsed() < TERM_GRACE, "no grace period before SIGKILL");
            assert!(g.processes().is_empty());
        }
    }

    #[test]
    fn a_child_that_ignores_sigterm_gets_sigkill_after_the_grace() {
        let mut g = OwnedChild::spawn(&mut sh("trap '' TERM; sleep 300 & wait")).unwrap();
        let others = wait_for_others(&mut g, 1);
        g.stop();
        assert!(g.has_exited() && others.iter().all(|p| !p.is_alive()));
    }

    #[test]
    fn a_panic_stops_the_child_while_unwinding() {
        let (tx, rx) = std::sync::mpsc::channel();
        let result = std::thread::spawn(move || {
            let mut g = OwnedChild::spawn(&mut sh("sleep 300 & wait")).unwrap();
            tx.send(wait_for_others(&mut g, 1).into_iter().chain([g.leader]).collect::<Vec<_>>()).unwrap();
            panic!("a failing test");
        })
        .join();
        assert!(result.is_err());
        assert!(rx.recv().unwrap().iter().all(|p| !p.is_alive()), "the guard stopped them during the unwind");
    }

    #[test]
    fn wait_returns_the_exit_status_and_stops_what_was_left() {
        let mut g = OwnedChild::spawn(&mut sh("sleep 300 & exit 3")).unwrap();
        let left = wait_for_others(&mut g, 1);
        assert_eq!(g.wait().unwrap().code(), Some(3));
        assert!(left.iter().all(|p| !p.is_alive()), "the background sleep was stopped");
    }

    #[test]
    fn the_run_check_names_a_leftover_and_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        // Found by its environment only (not recorded), like a process started behind the kit's back.
        let mut g = OwnedChild::spawn(sh("exec sleep 300").env(RUN_DIR_ENV, dir.path())).unwrap();
        let id = g.leader;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cmdline(id.pid).starts_with("sleep") {
            assert!(Instant::now() < deadline, "sh exec'd sleep");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(dir.path().join(format!("{}-{}", id.pid, id.start)), "sleep 300").unwrap();
        let left = leftovers(dir.path()).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].started_as.as_deref(), Some("sleep 300"));
        let err = check_run(dir.path(), Duration::ZERO).unwrap_err();
        assert!(err.contains(&format!("pid {} `sleep 300`", id.pid)), "{err}");
        assert!(!id.is_alive(), "the check stopped it");
        g.stop();
        assert_eq!(check_run(dir.path(), Duration::ZERO), Ok(1));
    }

    #[test]
    fn a_reused_pid_is_not_taken_for_the_recorded_process() {
        let me = ProcId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(!ProcId { pid: me.pid, start: me.start + 1 }.is_alive(), "same pid, another start time: not ours");
    }
}
