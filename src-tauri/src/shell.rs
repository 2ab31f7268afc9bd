//! The shell's state: where the data lives, the unlocked [`Tablet`] (or none while locked), the
//! idle clock, and enrolment / unlock / lock. Everything else is a one-line command in lib.rs.

use crate::unlock::{self, Attempts};
use gridwalk_core::sync::{self, HttpTransport};
use gridwalk_core::{Clock, CoreError, SystemClock, Tablet};
use gridwalk_proto::ErrorBody;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub type CmdResult<T> = Result<T, ErrorBody>;

pub const STORE_FILE: &str = "tablet.db";
const ENROLLING_FILE: &str = "tablet.db.enrolling";
const SETTINGS_FILE: &str = "app.json";
pub const DEFAULT_IDLE_MINUTES: u32 = 5;

pub fn err(code: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody { code: code.to_owned(), message: message.into() }
}

pub fn core_err(e: CoreError) -> ErrorBody {
    e.to_body()
}

fn io_err(e: std::io::Error) -> ErrorBody {
    err("io", e.to_string())
}

/// Non-secret settings kept next to the store (the token and everything recorded live inside
/// the encrypted store).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub server_url: Option<String>,
    pub username: Option<String>,
    pub worker_name: Option<String>,
    pub idle_minutes: Option<u32>,
}

impl Settings {
    fn load(dir: &Path) -> Settings {
        std::fs::read(dir.join(SETTINGS_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }
    fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::write(dir.join(SETTINGS_FILE), serde_json::to_vec_pretty(self).expect("serializable"))
    }
}

/// What the UI needs to pick its first screen.
#[derive(Clone, Debug, Serialize)]
pub struct AppStatus {
    pub enrolled: bool,
    pub unlocked: bool,
    pub idle_minutes: u32,
    /// Wrong PINs in a row so far, and how long before the next try is allowed.
    pub pin_failures: u32,
    pub retry_in_ms: i64,
    pub server_url: Option<String>,
    pub username: Option<String>,
    pub worker_name: Option<String>,
    pub version: &'static str,
}

pub struct Shell {
    pub dir: PathBuf,
    pub tablet: Mutex<Option<Tablet>>,
    clock: Arc<dyn Clock>,
    last_activity_ms: AtomicI64,
    idle_minutes: AtomicI64,
    pub cancel: AtomicBool,
    settings: Mutex<Settings>,
}

impl Shell {
    pub fn new(dir: PathBuf) -> std::io::Result<Shell> {
        Shell::with_clock(dir, Arc::new(SystemClock::default()))
    }

    /// With an injected clock (tests move it to check the idle lock and the lockout).
    pub fn with_clock(dir: PathBuf, clock: Arc<dyn Clock>) -> std::io::Result<Shell> {
        std::fs::create_dir_all(&dir)?;
        // Create the device secret on first run, before anything needs it.
        unlock::device_secret(&dir)?;
        let settings = Settings::load(&dir);
        let idle = settings.idle_minutes.unwrap_or(DEFAULT_IDLE_MINUTES);
        Ok(Shell {
            last_activity_ms: AtomicI64::new(clock.now_ms()),
            idle_minutes: AtomicI64::new(idle as i64),
            clock,
            dir,
            tablet: Mutex::new(None),
            cancel: AtomicBool::new(false),
            settings: Mutex::new(settings),
        })
    }

    fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    pub fn status(&self) -> AppStatus {
        let attempts = Attempts::load(&self.dir);
        let s = self.settings.lock().expect("settings").clone();
        AppStatus {
            enrolled: self.store_path().exists(),
            unlocked: self.tablet.lock().map(|t| t.is_some()).unwrap_or(false),
            idle_minutes: self.idle_minutes.load(Ordering::SeqCst) as u32,
            pin_failures: attempts.failures,
            retry_in_ms: attempts.wait_ms(self.clock.now_ms()),
            server_url: s.server_url,
            username: s.username,
            worker_name: s.worker_name,
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Run `f` on the unlocked tablet; `locked` when there is none. Counts as activity.
    pub fn with_tablet<T>(&self, f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T>) -> CmdResult<T> {
        self.touch();
        let mut guard = self.tablet.lock().map_err(|_| err("internal", "the store lock was poisoned"))?;
        let tablet = guard.as_mut().ok_or_else(|| err("locked", "the app is locked: enter the PIN"))?;
        f(tablet).map_err(core_err)
    }

    pub fn touch(&self) {
        self.last_activity_ms.store(self.clock.now_ms(), Ordering::SeqCst);
    }

    pub fn set_idle_minutes(&self, minutes: u32) -> CmdResult<()> {
        if !(1..=240).contains(&minutes) {
            return Err(err("bad_idle_minutes", "the idle lock must be between 1 and 240 minutes"));
        }
        self.idle_minutes.store(minutes as i64, Ordering::SeqCst);
        let mut s = self.settings.lock().expect("settings");
        s.idle_minutes = Some(minutes);
        s.save(&self.dir).map_err(io_err)
    }

    /// Drop the tablet (closing the store) if it has been idle too long. Never waits for a
    /// running sync: it holds the store, and the worker is not idle while it runs.
    pub fn lock_if_idle(&self) -> bool {
        let idle_ms = self.idle_minutes.load(Ordering::SeqCst) * 60_000;
        if self.clock.now_ms() - self.last_activity_ms.load(Ordering::SeqCst) < idle_ms {
            return false;
        }
        match self.tablet.try_lock() {
            Ok(mut guard) if guard.is_some() => {
                *guard = None;
                true
            }
            _ => false,
        }
    }

    pub fn lock(&self) -> CmdResult<()> {
        *self.tablet.lock().map_err(|_| err("internal", "the store lock was poisoned"))? = None;
        Ok(())
    }

    /// Open the store with the key derived from `pin`. Wrong PINs are counted and, past the
    /// free attempts, locked out for a growing time.
    pub fn unlock(&self, pin: &str) -> CmdResult<()> {
        if !self.store_path().exists() {
            return Err(err("not_enrolled", "this tablet is not enrolled yet"));
        }
        let now = self.clock.now_ms();
        let attempts = Attempts::load(&self.dir);
        let wait = attempts.wait_ms(now);
        if wait > 0 {
            return Err(err("locked_out", format!("too many wrong PINs: try again in {} s", (wait + 999) / 1000)));
        }
        let secret = unlock::device_secret(&self.dir).map_err(io_err)?;
        let key = unlock::derive_key(pin, &secret);
        match Tablet::open(&self.store_path(), &key, self.clock.clone()) {
            Ok(t) => {
                Attempts::default().save(&self.dir).map_err(io_err)?;
                *self.tablet.lock().expect("tablet lock") = Some(t);
                self.touch();
                Ok(())
            }
            Err(CoreError::WrongKey) => {
                let next = attempts.failed(now);
                next.save(&self.dir).map_err(io_err)?;
                let left = unlock::FREE_ATTEMPTS.saturating_sub(next.failures);
                Err(match next.wait_ms(now) {
                    0 => err("wrong_pin", format!("wrong PIN ({left} tries left before a lockout)")),
                    w => err("wrong_pin", format!("wrong PIN: locked out for {} s", (w + 999) / 1000)),
                })
            }
            Err(e) => Err(core_err(e)),
        }
    }

    /// Enrol this tablet: a new store keyed from `pin`, log in, keep the token inside it. The
    /// store only takes its real name once the server said yes, so a failed enrolment leaves
    /// nothing behind.
    pub fn enrol(&self, server_url: &str, username: &str, password: &str, pin: &str) -> CmdResult<String> {
        if self.store_path().exists() {
            return Err(err("already_enrolled", "this tablet is already enrolled"));
        }
        if !unlock::pin_is_valid(pin) {
            return Err(err("bad_pin", "the PIN must be 6 to 12 digits"));
        }
        let url = server_url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err("bad_server_url", "the server address must start with http:// or https://"));
        }
        let secret = unlock::device_secret(&self.dir).map_err(io_err)?;
        let key = unlock::derive_key(pin, &secret);
        let tmp = self.dir.join(ENROLLING_FILE);
        remove_store_files(&tmp);
        let result = (|| {
            let mut t = Tablet::open(&tmp, &key, self.clock.clone()).map_err(core_err)?;
            let transport = HttpTransport::new(url).map_err(|e| err("offline", format!("{e:?}")))?;
            let device_name = format!("Gridwalk tablet ({})", std::env::var("HOSTNAME").unwrap_or_else(|_| "app".into()));
            sync::enrol(&mut t, &transport, url, username.trim(), password, &device_name).map_err(core_err)
        })();
        let login = match result {
            Ok(login) => login,
            Err(e) => {
                remove_store_files(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, self.store_path()).map_err(io_err)?;
        Attempts::default().save(&self.dir).map_err(io_err)?;
        {
            let mut s = self.settings.lock().expect("settings");
            s.server_url = Some(url.to_owned());
            s.username = Some(login.worker.username.clone());
            s.worker_name = Some(login.worker.name.clone());
            s.save(&self.dir).map_err(io_err)?;
        }
        self.unlock(pin)?;
        Ok(login.worker.name)
    }

    /// One sync run against the server the tablet enrolled with.
    pub fn sync(&self, progress: &mut dyn FnMut(&sync::Progress)) -> CmdResult<sync::SyncReport> {
        self.cancel.store(false, Ordering::SeqCst);
        self.with_tablet(|t| {
            let url = t.sync_state()?.server_url.ok_or(CoreError::NotEnrolled)?;
            let transport = HttpTransport::new(&url).map_err(|e| CoreError::Offline(format!("{e:?}")))?;
            sync::sync(t, &transport, &sync::SyncOptions::default(), &self.cancel, progress)
        })
    }
}

fn remove_store_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_core::ManualClock;

    const PIN: &str = "246810";

    /// A shell over a store keyed from PIN + this device's secret, as enrolment leaves it.
    fn enrolled(clock: Arc<ManualClock>) -> (tempfile::TempDir, Shell) {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::with_clock(dir.path().to_owned(), clock.clone()).unwrap();
        let key = unlock::derive_key(PIN, &unlock::device_secret(dir.path()).unwrap());
        drop(Tablet::open(&dir.path().join(STORE_FILE), &key, clock).unwrap());
        (dir, shell)
    }

    #[test]
    fn wrong_pins_are_refused_then_locked_out_and_the_right_pin_resets() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (_dir, shell) = enrolled(clock.clone());
        for i in 1..=4 {
            assert_eq!(shell.unlock("000000").unwrap_err().code, "wrong_pin", "wrong PIN {i}");
        }
        assert_eq!(shell.unlock("000000").unwrap_err().code, "wrong_pin", "the fifth is refused and starts a lockout");
        assert_eq!(shell.unlock(PIN).unwrap_err().code, "locked_out", "during the lockout even the right PIN waits");
        assert!(shell.status().retry_in_ms > 0 && !shell.status().unlocked);
        clock.advance(30_001);
        shell.unlock(PIN).expect("after the lockout the right PIN opens the store");
        assert!(shell.status().unlocked);
        assert_eq!(shell.status().pin_failures, 0, "a right PIN resets the count");
    }

    #[test]
    fn the_app_locks_itself_after_the_idle_time() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (_dir, shell) = enrolled(clock.clone());
        shell.set_idle_minutes(5).unwrap();
        shell.unlock(PIN).unwrap();
        clock.advance(4 * 60_000);
        assert!(!shell.lock_if_idle(), "4 idle minutes of 5: still open");
        shell.touch();
        clock.advance(4 * 60_000);
        assert!(!shell.lock_if_idle(), "activity restarted the idle clock");
        clock.advance(60_001);
        assert!(shell.lock_if_idle(), "5 idle minutes: locked");
        assert!(!shell.status().unlocked);
        assert_eq!(shell.with_tablet(|t| t.sync_state()).unwrap_err().code, "locked", "commands need the PIN again");
    }

    #[test]
    fn enrolment_refuses_bad_input_before_touching_the_network() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::with_clock(dir.path().to_owned(), clock).unwrap();
        assert_eq!(shell.enrol("http://127.0.0.1:9", "wang", "pw", "12").unwrap_err().code, "bad_pin");
        assert_eq!(shell.enrol("ftp://x", "wang", "pw", PIN).unwrap_err().code, "bad_server_url");
        // Nothing listens on port 9 here: the login fails and no store is left behind.
        assert_eq!(shell.enrol("http://127.0.0.1:9", "wang", "pw", PIN).unwrap_err().code, "offline");
        assert!(!dir.path().join(STORE_FILE).exists() && !dir.path().join(ENROLLING_FILE).exists());
        assert!(!shell.status().enrolled);
    }
}
