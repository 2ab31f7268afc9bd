//! The shell's state: where the data lives, the unlocked [`Tablet`] (or none while locked), the
//! idle clock, enrolment / unlock / lock, the one sync gate, and the notifications it raises.
//! Everything else is a one-line command in lib.rs. Tauri-free: what reaches the UI or the OS
//! goes through an [`Outlet`].

use crate::autosync::Auto;
use crate::unlock::{self, Attempts, KdfParams};
use crate::vault::{self, FileVault, SecretStore, SecretVault};
use gridwalk_core::sync::{self, auto, HttpTransport, StoreAccess};
use gridwalk_core::{Clock, CoreError, NewOrder, SystemClock, Tablet};
use gridwalk_proto::ErrorBody;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub type CmdResult<T> = Result<T, ErrorBody>;

pub const STORE_FILE: &str = "tablet.db";
const ENROLLING_FILE: &str = "tablet.db.enrolling";
const SETTINGS_FILE: &str = "app.json";
/// The notify-only token, the server and the last pull cursor, outside the encrypted store.
pub const NOTIFY_FILE: &str = "notify.json";
/// Every OS notification the shell raised (JSON lines; content-free titles and counts).
pub const NOTIFICATIONS_LOG: &str = "notifications.log";
pub const DEFAULT_IDLE_MINUTES: u32 = 5;

pub fn err(code: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody { code: code.to_owned(), message: message.into(), retry_after_s: None }
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
    /// How often the automatic sync pulls (seconds), within `auto::PERIOD_RANGE_S`.
    #[serde(default)]
    pub sync_period_s: Option<u32>,
    /// The UI's language, so notifications raised while the webview is locked speak it too.
    #[serde(default)]
    pub locale: Option<String>,
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
    pub sync_period_s: u32,
    /// New orders counted while locked (through the notify-only token), for the lock screen.
    pub locked_news: u32,
    /// Where the device secret is: the platform keystore, or `device.secret` in the data dir.
    pub secret_store: SecretStore,
    pub version: &'static str,
}

/// The notify-only token and what it needs, kept outside the encrypted store (mode 0600) so a
/// locked tablet can ask "how many new orders for me?" without the PIN. It opens nothing else:
/// the server refuses it on every other route; revoking the device revokes it.
#[derive(Clone, Serialize, Deserialize)]
pub struct NotifyFile {
    pub server_url: String,
    pub notify_token: String,
    /// The pull cursor of the last sync: the count runs from here.
    pub after: u64,
}

impl std::fmt::Debug for NotifyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyFile").field("server_url", &self.server_url).field("after", &self.after).finish_non_exhaustive()
    }
}

impl NotifyFile {
    pub fn load(dir: &Path) -> Option<NotifyFile> {
        let f: NotifyFile = serde_json::from_slice(&std::fs::read(dir.join(NOTIFY_FILE)).ok()?).ok()?;
        (!f.notify_token.is_empty()).then_some(f)
    }

    /// Written whole under a temporary name with mode 0600, then renamed over the old one.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{NOTIFY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&serde_json::to_vec(self).expect("serializable"))?;
        f.sync_all()?;
        std::fs::rename(tmp, dir.join(NOTIFY_FILE))
    }
}

/// One OS notification the shell raised, as `notifications_raised` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedNotification {
    pub at_ms: i64,
    /// `new_orders` (pulled by a sync) or `locked_count` (counted while locked).
    pub reason: String,
    pub title: String,
    pub body: String,
    /// The notification plugin took it. On Linux that means it was handed to the session's
    /// notification service; whether one is running is the desktop's business.
    pub plugin_ok: bool,
    pub error: Option<String>,
}

/// Where the shell's events and notifications go: Tauri in the app, a recorder in tests.
pub trait Outlet: Send + Sync {
    fn emit(&self, event: &str, payload: serde_json::Value);
    /// Raise an OS notification; `Err` carries the plugin's message.
    fn notify(&self, title: &str, body: &str) -> Result<(), String>;
}

struct Silent;

impl Outlet for Silent {
    fn emit(&self, _: &str, _: serde_json::Value) {}
    fn notify(&self, _: &str, _: &str) -> Result<(), String> {
        Err("no outlet".into())
    }
}

/// The notification text: content-free (a count, no place, no resident), since an OS
/// notification may show on a screen anyone can see.
pub fn notice_text(locale: Option<&str>, n: u32) -> (String, String) {
    match locale {
        Some(l) if l.starts_with("en") => ("Gridwalk".into(), if n == 1 { "1 new order".into() } else { format!("{n} new orders") }),
        _ => ("网格走访".into(), format!("有 {n} 条新工单")),
    }
}

/// The store as the sync engine reaches it from the shell: the tablet's mutex, held for one
/// step at a time. A locked app is `locked`.
struct ShellStore<'a>(&'a Shell);

impl StoreAccess for ShellStore<'_> {
    fn with<T>(&self, f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T>) -> gridwalk_core::Result<T> {
        let mut guard = self.0.tablet.lock().map_err(|_| CoreError::Locked)?;
        f(guard.as_mut().ok_or(CoreError::Locked)?)
    }
}

pub struct Shell {
    pub dir: PathBuf,
    pub tablet: Mutex<Option<Tablet>>,
    clock: Arc<dyn Clock>,
    last_activity_ms: AtomicI64,
    idle_minutes: AtomicI64,
    pub cancel: AtomicBool,
    settings: Mutex<Settings>,
    /// One sync at a time: the manual 同步 waits for it, the automatic one skips when taken.
    sync_gate: Mutex<()>,
    pub auto: Auto,
    locked_news: AtomicU32,
    raised: Mutex<Vec<RaisedNotification>>,
    outlet: OnceLock<Arc<dyn Outlet>>,
    /// Where the device secret lives (chosen on the first start, kept).
    vault: Box<dyn SecretVault>,
    /// The KDF cost a store is keyed with; an older store is re-keyed to it on unlock.
    kdf: KdfParams,
    /// Where a revoked tablet writes its export.
    export_dir: Mutex<PathBuf>,
}

impl Shell {
    /// The app's shell: the platform keystore when this tablet chose it (or, on a first start,
    /// when there is one), else the file.
    pub fn new(dir: PathBuf) -> std::io::Result<Shell> {
        std::fs::create_dir_all(&dir)?;
        let vault = vault::choose(&dir, || vault::platform_keystore(&dir))?;
        Shell::with_parts(dir, Arc::new(SystemClock::default()), vault, KdfParams::CURRENT)
    }

    /// With an injected clock (tests move it to check the idle lock and the lockout), the file
    /// vault and the current KDF cost.
    pub fn with_clock(dir: PathBuf, clock: Arc<dyn Clock>) -> std::io::Result<Shell> {
        let vault = Box::new(FileVault::new(&dir));
        Shell::with_parts(dir, clock, vault, KdfParams::CURRENT)
    }

    pub fn with_parts(dir: PathBuf, clock: Arc<dyn Clock>, vault: Box<dyn SecretVault>, kdf: KdfParams) -> std::io::Result<Shell> {
        std::fs::create_dir_all(&dir)?;
        // The secret is created by the enrolment that needs it (the keystore's probe already
        // made one); an unreachable keystore shows at unlock, not as an app that cannot start.
        let settings = Settings::load(&dir);
        let idle = settings.idle_minutes.unwrap_or(DEFAULT_IDLE_MINUTES);
        let period = settings.sync_period_s.filter(|p| auto::PERIOD_RANGE_S.contains(p)).unwrap_or(auto::DEFAULT_PERIOD_S);
        Ok(Shell {
            last_activity_ms: AtomicI64::new(clock.now_ms()),
            idle_minutes: AtomicI64::new(idle as i64),
            clock,
            tablet: Mutex::new(None),
            cancel: AtomicBool::new(false),
            settings: Mutex::new(settings),
            sync_gate: Mutex::new(()),
            auto: Auto::new(period),
            locked_news: AtomicU32::new(0),
            raised: Mutex::new(Vec::new()),
            outlet: OnceLock::new(),
            vault,
            kdf,
            export_dir: Mutex::new(dir.join("exports")),
            dir,
        })
    }

    /// Where events and notifications go (set once, by the app's setup).
    pub fn set_outlet(&self, outlet: Arc<dyn Outlet>) {
        let _ = self.outlet.set(outlet);
    }

    pub fn emit(&self, event: &str, payload: serde_json::Value) {
        match self.outlet.get() {
            Some(o) => o.emit(event, payload),
            None => Silent.emit(event, payload),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn is_unlocked(&self) -> bool {
        self.tablet.lock().map(|t| t.is_some()).unwrap_or(false)
    }

    /// Run `f` on the open store without counting as activity (background work must not keep
    /// the idle lock away). A locked app is [`CoreError::Locked`].
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T>) -> gridwalk_core::Result<T> {
        ShellStore(self).with(f)
    }

    /// [`Shell::with_tablet`] for a command that records: a success pokes the automatic sync.
    pub fn record<T>(&self, f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T>) -> CmdResult<T> {
        let out = self.with_tablet(f)?;
        self.auto.poke(self.clock.now_ms());
        Ok(out)
    }

    pub fn set_sync_period(&self, seconds: u32) -> CmdResult<()> {
        if !auto::PERIOD_RANGE_S.contains(&seconds) {
            return Err(err("bad_sync_period", "the sync period must be between 15 and 3600 seconds"));
        }
        self.auto.set_period_s(seconds);
        let mut s = self.settings.lock().expect("settings");
        s.sync_period_s = Some(seconds);
        s.save(&self.dir).map_err(io_err)
    }

    pub fn set_locale(&self, locale: &str) -> CmdResult<()> {
        if !matches!(locale, "zh-CN" | "en") {
            return Err(err("bad_locale", "the language must be zh-CN or en"));
        }
        let mut s = self.settings.lock().expect("settings");
        s.locale = Some(locale.to_owned());
        s.save(&self.dir).map_err(io_err)
    }

    /// Raise an OS notification and log it (the log is what tests and the UI read back).
    pub fn raise(&self, reason: &str, n: u32) -> RaisedNotification {
        let locale = self.settings.lock().expect("settings").locale.clone();
        let (title, body) = notice_text(locale.as_deref(), n);
        let result = match self.outlet.get() {
            Some(o) => o.notify(&title, &body),
            None => Silent.notify(&title, &body),
        };
        let entry = RaisedNotification {
            at_ms: self.clock.now_ms(),
            reason: reason.to_owned(),
            title,
            body,
            plugin_ok: result.is_ok(),
            error: result.err(),
        };
        self.raised.lock().unwrap_or_else(|p| p.into_inner()).push(entry.clone());
        let line = serde_json::to_string(&entry).expect("serializable") + "\n";
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(NOTIFICATIONS_LOG))
            .and_then(|mut f| f.write_all(line.as_bytes()));
        entry
    }

    pub fn notifications_raised(&self) -> Vec<RaisedNotification> {
        self.raised.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The locked watcher counted `total` new orders since the lock: tell the lock screen and
    /// the OS.
    pub fn locked_news(&self, total: u32) {
        self.locked_news.store(total, Ordering::SeqCst);
        self.raise("locked_count", total);
        self.emit("lock-news", serde_json::json!({ "count": total }));
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
            sync_period_s: self.auto.plan().period_ms as u32 / 1000,
            locked_news: self.locked_news.load(Ordering::SeqCst),
            secret_store: self.vault.kind(),
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

    /// Drop the tablet (closing the store) if it has been idle too long. Never waits for the
    /// store: whoever holds it (a command, one step of a sync) is done within moments, and the
    /// next look, 5 s later, locks. A sync caught between steps ends with `locked`.
    pub fn lock_if_idle(&self) -> bool {
        let idle_ms = self.idle_minutes.load(Ordering::SeqCst) * 60_000;
        if self.clock.now_ms() - self.last_activity_ms.load(Ordering::SeqCst) < idle_ms {
            return false;
        }
        match self.tablet.try_lock() {
            Ok(mut guard) if guard.is_some() => {
                *guard = None;
                self.auto.set_unlocked(false);
                true
            }
            _ => false,
        }
    }

    pub fn lock(&self) -> CmdResult<()> {
        *self.tablet.lock().map_err(|_| err("internal", "the store lock was poisoned"))? = None;
        self.auto.set_unlocked(false);
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
        // Never a new secret for an existing store: no PIN would open it again.
        let secret = self.vault.load().map_err(io_err)?.ok_or_else(|| {
            err(
                "secret_lost",
                format!("this tablet's device secret is missing from its {}: the store cannot be opened", self.vault.kind().as_str()),
            )
        })?;
        match self.open_store(pin, &secret)? {
            Some(t) => {
                Attempts::default().save(&self.dir).map_err(io_err)?;
                *self.tablet.lock().expect("tablet lock") = Some(t);
                self.touch();
                // The sync brings what the count announced; the lock screen's count is done.
                self.locked_news.store(0, Ordering::SeqCst);
                self.auto.set_unlocked(true);
                Ok(())
            }
            None => {
                let next = attempts.failed(now);
                next.save(&self.dir).map_err(io_err)?;
                let left = unlock::FREE_ATTEMPTS.saturating_sub(next.failures);
                Err(match next.wait_ms(now) {
                    0 => err("wrong_pin", format!("wrong PIN ({left} tries left before a lockout)")),
                    w => err("wrong_pin", format!("wrong PIN: locked out for {} s", (w + 999) / 1000)),
                })
            }
        }
    }

    /// Open the store with the key `pin` gives under the parameters it was keyed with (or,
    /// after a re-key cut short, the ones it was going to), then raise it to the current cost.
    /// A wrong PIN is `None`.
    fn open_store(&self, pin: &str, secret: &[u8; 32]) -> CmdResult<Option<Tablet>> {
        let (params, pending) = unlock::store_kdf(&self.dir).map_err(io_err)?;
        let open = |p: KdfParams| Tablet::open(&self.store_path(), &unlock::derive_key(pin, secret, p), self.clock.clone());
        let (mut tablet, keyed_with) = match (open(params), pending) {
            (Ok(t), _) => {
                unlock::abandon_rekey(&self.dir).map_err(io_err)?;
                (t, params)
            }
            (Err(CoreError::WrongKey), Some(next)) => match open(next) {
                Ok(t) => {
                    unlock::finish_rekey(&self.dir).map_err(io_err)?;
                    (t, next)
                }
                Err(CoreError::WrongKey) => return Ok(None),
                Err(e) => return Err(core_err(e)),
            },
            (Err(CoreError::WrongKey), None) => return Ok(None),
            (Err(e), _) => return Err(core_err(e)),
        };
        if keyed_with != self.kdf {
            // Written down first: a crash during the re-key leaves a store that opens with
            // one of the two, and the next unlock tries both.
            unlock::begin_rekey(&self.dir, self.kdf).map_err(io_err)?;
            match tablet.change_key(&unlock::derive_key(pin, secret, self.kdf)) {
                Ok(()) => unlock::finish_rekey(&self.dir).map_err(io_err)?,
                Err(e) => {
                    eprintln!("gridwalk: the store stays at its old KDF cost: the re-key failed: {e}");
                    unlock::abandon_rekey(&self.dir).map_err(io_err)?;
                }
            }
        }
        Ok(Some(tablet))
    }

    /// Where the revoked tablet writes its export (the app sets the platform's downloads).
    pub fn set_export_dir(&self, dir: PathBuf) {
        *self.export_dir.lock().unwrap_or_else(|p| p.into_inner()) = dir;
    }

    /// Seal what this revoked tablet has not synced to `passphrase` and write it out.
    pub fn export_unsynced(&self, passphrase: &str) -> CmdResult<gridwalk_core::ExportReceipt> {
        let dir = self.export_dir.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.with_tablet(|t| t.export_unsynced(&dir, passphrase))
    }

    /// The revoked tablet's wipe: once nothing is unsynced, or all of it was exported, delete
    /// the store (with its WAL and shared-memory files), the device secret (from its vault),
    /// the KDF file, the notify-only token, the settings and the PIN counter. The app is then
    /// a fresh install that knows which vault it uses.
    pub fn wipe_revoked(&self) -> CmdResult<()> {
        let mut guard = self.tablet.lock().map_err(|_| err("internal", "the store lock was poisoned"))?;
        let r = guard.as_ref().ok_or_else(|| err("locked", "the app is locked: enter the PIN"))?.revocation().map_err(core_err)?;
        if !r.revoked {
            return Err(core_err(CoreError::NotRevoked));
        }
        if !r.may_wipe {
            return Err(core_err(CoreError::UnsyncedNotExported { records: r.unsynced_records, photos: r.unsynced_photos }));
        }
        let tablet = guard.take().expect("checked above");
        self.auto.set_unlocked(false);
        tablet.wipe(&self.store_path()).map_err(core_err)?;
        self.vault.erase().map_err(io_err)?;
        for f in [unlock::KDF_FILE, unlock::KDF_NEXT_FILE, NOTIFY_FILE, unlock::ATTEMPTS_FILE, SETTINGS_FILE] {
            match std::fs::remove_file(self.dir.join(f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
                _ => {}
            }
        }
        *self.settings.lock().expect("settings") = Settings::default();
        Ok(())
    }

    /// Enrol this tablet: a new store keyed from `pin`, log in, keep the token inside it. The
    /// store only takes its real name once the server said yes, so a failed enrolment leaves
    /// nothing behind.
    pub fn enrol(&self, server_url: &str, username: &str, password: &str, pin: &str) -> CmdResult<String> {
        if self.store_path().exists() {
            return Err(err("already_enrolled", "this tablet is already enrolled"));
        }
        if !unlock::pin_is_valid(pin) {
            return Err(err("bad_pin", "the PIN must be 6 to 64 digits, or a passphrase of 8 to 64 characters"));
        }
        let url = server_url.trim().trim_end_matches('/');
        if !server_url_allowed(url) {
            return Err(err("bad_server_url", "the server address must be https:// (plain http:// only to this machine, for tests)"));
        }
        let secret = self.vault.load_or_create().map_err(io_err)?;
        let key = unlock::derive_key(pin, &secret, self.kdf);
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
        // The cost goes down before the store takes its name: a store without its `store.kdf`
        // would be tried at the legacy cost and never open.
        unlock::abandon_rekey(&self.dir).map_err(io_err)?;
        unlock::set_store_kdf(&self.dir, self.kdf).map_err(io_err)?;
        std::fs::rename(&tmp, self.store_path()).map_err(io_err)?;
        Attempts::default().save(&self.dir).map_err(io_err)?;
        {
            let mut s = self.settings.lock().expect("settings");
            s.server_url = Some(url.to_owned());
            s.username = Some(login.worker.username.clone());
            s.worker_name = Some(login.worker.name.clone());
            s.save(&self.dir).map_err(io_err)?;
        }
        if !login.notify_token.is_empty() {
            NotifyFile { server_url: url.to_owned(), notify_token: login.notify_token.clone(), after: 0 }
                .save(&self.dir)
                .map_err(io_err)?;
        }
        self.unlock(pin)?;
        Ok(login.worker.name)
    }

    /// One sync run against the server the tablet enrolled with (the 同步 button). Waits for an
    /// automatic sync that is running, then runs its own; a 停止 pressed meanwhile stops both.
    pub fn sync(&self, progress: &mut dyn FnMut(&sync::Progress)) -> CmdResult<sync::SyncReport> {
        self.touch();
        self.cancel.store(false, Ordering::SeqCst);
        let _gate = self.sync_gate.lock().unwrap_or_else(|p| p.into_inner());
        self.sync_holding_gate(sync::SyncOptions::default(), progress)
    }

    /// Log in again as this device after its session expired, with the worker's password;
    /// the next sync goes on with everything the tablet queued.
    pub fn renew_session(&self, password: &str) -> CmdResult<()> {
        self.touch();
        let url = self.with_store(|t| t.sync_state()?.server_url.ok_or(CoreError::NotEnrolled)).map_err(core_err)?;
        let transport = HttpTransport::new(&url).map_err(|e| core_err(e.into()))?;
        self.with_store(|t| sync::renew_session(t, &transport, password)).map_err(core_err)?;
        self.emit("synced", serde_json::json!({}));
        Ok(())
    }

    /// The automatic sync: `None` when another one holds the gate. It retries little itself
    /// (the scheduler backs off between syncs) and never counts as the worker's activity.
    pub fn try_auto_sync(&self) -> Option<CmdResult<sync::SyncReport>> {
        let _gate = match self.sync_gate.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        self.cancel.store(false, Ordering::SeqCst);
        let opts = sync::SyncOptions { max_attempts: 2, ..Default::default() };
        Some(self.sync_holding_gate(opts, &mut |p: &sync::Progress| self.emit("sync-progress", serde_json::json!(p))))
    }

    fn sync_holding_gate(&self, opts: sync::SyncOptions, progress: &mut dyn FnMut(&sync::Progress)) -> CmdResult<sync::SyncReport> {
        self.auto.started(self.clock.now_ms());
        // The pull cursor before, and whether a sync ever succeeded (the first pull is history).
        let mut before = None;
        let result = self
            .with_store(|t| {
                let state = t.sync_state()?;
                before = state.last_success_ms.map(|_| state.pull_cursor);
                state.server_url.ok_or(CoreError::NotEnrolled)
            })
            .and_then(|url| Ok(HttpTransport::new(&url)?))
            .and_then(|transport| sync::sync_with(&ShellStore(self), &transport, &opts, &self.cancel, progress));
        self.auto.finished(self.clock.now_ms(), result.is_ok());
        self.after_sync(before, &result);
        result.map_err(core_err)
    }

    /// After every sync: keep the notify file's cursor, announce new orders for me, tell the
    /// UI (screens reload on `synced`).
    fn after_sync(&self, before: Option<u64>, result: &gridwalk_core::Result<sync::SyncReport>) {
        if let (Ok(cursor), Some(mut file)) = (self.with_store(|t| t.pull_cursor()), NotifyFile::load(&self.dir)) {
            if file.after != cursor {
                file.after = cursor;
                let _ = file.save(&self.dir);
            }
        }
        // The first pull brings the whole history: nothing in it is news.
        let orders: Vec<NewOrder> = match before {
            Some(cursor) => self.with_store(|t| t.orders_for_me(cursor)).unwrap_or_default(),
            None => Vec::new(),
        };
        if !orders.is_empty() {
            self.raise("new_orders", orders.len() as u32);
            self.emit("new-orders", serde_json::json!(orders));
        }
        let payload = match result {
            Ok(r) => serde_json::json!({ "ok": true, "report": r }),
            Err(e) => serde_json::json!({ "ok": false, "error": e.to_body() }),
        };
        self.emit("synced", payload);
    }
}

fn remove_store_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Whether a tablet may enrol with this server address: the password and then the bearer
/// token cross it, so only TLS, except to this machine itself (the tests, the demo).
pub fn server_url_allowed(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => loopback,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_core::ManualClock;

    const PIN: &str = "246810";
    /// A cheap KDF for the shell's tests (the real cost is pinned in unlock.rs), and another.
    const TEST_KDF: KdfParams = KdfParams { memory_kib: 256, passes: 1, lanes: 1 };
    const OTHER_KDF: KdfParams = KdfParams { memory_kib: 512, passes: 1, lanes: 1 };

    fn shell_at(dir: &Path, clock: Arc<ManualClock>, kdf: KdfParams) -> Shell {
        Shell::with_parts(dir.to_owned(), clock, Box::new(FileVault::new(dir)), kdf).unwrap()
    }

    fn key_for(dir: &Path, pin: &str, kdf: KdfParams) -> gridwalk_core::StoreKey {
        unlock::derive_key(pin, &FileVault::new(dir).load_or_create().unwrap(), kdf)
    }

    /// A shell over a store keyed from PIN + this device's secret, as enrolment leaves it.
    #[test]
    fn enrolment_needs_tls_except_to_this_machine() {
        let cases = [
            ("https://gridwalk.chaoyang.gov.cn", true),
            ("https://10.0.0.5:8443/", true),
            ("http://gridwalk.chaoyang.gov.cn", false),
            ("http://10.0.0.5:8080", false),
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080/", true),
            ("http://[::1]:8080", true),
            ("http://127.0.0.1.evil.example", false),
            ("ftp://127.0.0.1", false),
            ("https://", false),
        ];
        for (url, want) in cases {
            assert_eq!(server_url_allowed(url), want, "{url}: the password crosses only TLS, or loopback");
        }
    }

    fn enrolled(clock: Arc<ManualClock>) -> (tempfile::TempDir, Shell) {
        let dir = tempfile::tempdir().unwrap();
        let shell = shell_at(dir.path(), clock.clone(), TEST_KDF);
        unlock::set_store_kdf(dir.path(), TEST_KDF).unwrap();
        drop(Tablet::open(&dir.path().join(STORE_FILE), &key_for(dir.path(), PIN, TEST_KDF), clock).unwrap());
        (dir, shell)
    }

    fn opens_with(dir: &Path, kdf: KdfParams) -> bool {
        match Tablet::open(&dir.join(STORE_FILE), &key_for(dir, PIN, kdf), Arc::new(ManualClock::new(1))) {
            Ok(_) => true,
            Err(CoreError::WrongKey) => false,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_store_keyed_at_the_legacy_cost_opens_and_is_rekeyed_to_the_current_one() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let dir = tempfile::tempdir().unwrap();
        // A tablet from before store.kdf: the legacy cost, no KDF file.
        drop(Tablet::open(&dir.path().join(STORE_FILE), &key_for(dir.path(), PIN, KdfParams::LEGACY), clock.clone()).unwrap());
        let shell = shell_at(dir.path(), clock, TEST_KDF);
        assert_eq!(shell.unlock("000000").unwrap_err().code, "wrong_pin", "a wrong PIN is still wrong");
        shell.unlock(PIN).expect("the old store opens with its PIN");
        shell.lock().unwrap();
        assert_eq!(unlock::store_kdf(dir.path()).unwrap(), (TEST_KDF, None), "the unlock re-keyed it and wrote the new cost down");
        assert!(!opens_with(dir.path(), KdfParams::LEGACY), "the legacy key no longer opens the store");
        assert!(opens_with(dir.path(), TEST_KDF), "the key at the current cost does");
        shell.unlock(PIN).expect("and the next unlock opens it at once");
    }

    #[test]
    fn a_rekey_cut_short_opens_with_either_key_and_finishes() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let dir = tempfile::tempdir().unwrap();
        // The crash came after the store was re-keyed to OTHER_KDF, before store.kdf said so.
        drop(Tablet::open(&dir.path().join(STORE_FILE), &key_for(dir.path(), PIN, OTHER_KDF), clock.clone()).unwrap());
        unlock::set_store_kdf(dir.path(), KdfParams::LEGACY).unwrap();
        unlock::begin_rekey(dir.path(), OTHER_KDF).unwrap();
        let shell = shell_at(dir.path(), clock.clone(), OTHER_KDF);
        assert_eq!(shell.unlock("999999").unwrap_err().code, "wrong_pin", "a wrong PIN fails both keys and counts once");
        assert_eq!(shell.status().pin_failures, 1);
        shell.unlock(PIN).expect("the store opens with the key it was re-keyed to");
        assert_eq!(unlock::store_kdf(dir.path()).unwrap(), (OTHER_KDF, None), "and the re-key is finished");
        // The crash came before the re-key changed the store: the old key opens it.
        shell.lock().unwrap();
        unlock::begin_rekey(dir.path(), TEST_KDF).unwrap();
        shell.unlock(PIN).expect("a re-key that never happened is forgotten");
        assert_eq!(unlock::store_kdf(dir.path()).unwrap(), (OTHER_KDF, None));
        assert!(opens_with(dir.path(), OTHER_KDF));
    }

    /// A district that knows this tablet at login and has revoked it since.
    struct RevokedDistrict;

    impl sync::Transport for RevokedDistrict {
        fn login(&self, _: &gridwalk_proto::LoginRequest) -> Result<gridwalk_proto::LoginResponse, sync::TransportError> {
            Ok(gridwalk_proto::LoginResponse {
                token: "tok".into(),
                device_id: identity().device,
                worker: gridwalk_proto::WorkerInfo {
                    id: identity().worker,
                    username: "wang".into(),
                    name: "王网格员".into(),
                    role: gridwalk_domain::Role::GridWorker,
                    scope: vec![],
                },
                server_time_ms: 1_000_000,
                notify_token: "nt".into(),
            })
        }
        fn push(&self, _: &str, _: &sync::PushBody) -> Result<gridwalk_proto::PushResponse, sync::TransportError> {
            Err(revoked())
        }
        fn pull(&self, _: &str, _: u64, _: u32, _: u64) -> Result<gridwalk_proto::PullResponse, sync::TransportError> {
            Err(revoked())
        }
        fn blob_status(&self, _: &str, _: &str) -> Result<gridwalk_proto::BlobStatus, sync::TransportError> {
            Err(revoked())
        }
        fn blob_put(&self, _: &str, _: &str, _: u64, _: &[u8], _: bool) -> Result<gridwalk_proto::BlobStatus, sync::TransportError> {
            Err(revoked())
        }
    }

    fn revoked() -> sync::TransportError {
        sync::TransportError::Unauthorized { code: "unauthorized".into(), message: "device revoked".into() }
    }

    fn record_a_visit(t: &mut Tablet) -> gridwalk_core::Result<gridwalk_domain::VisitId> {
        let courtyard =
            t.search_courtyards(&gridwalk_core::CourtyardQuery { text: "惠新西街33".into(), limit: 1, ..Default::default() })?[0].id;
        t.record_visit(gridwalk_core::NewVisit {
            courtyard,
            mode: gridwalk_domain::VisitMode::WalkThrough,
            started_at_ms: None,
            ended_at_ms: None,
            location: None,
            notes: "巡查".into(),
            residents_met: 1,
            linked_issues: vec![],
        })
    }

    #[test]
    fn a_revoked_tablet_exports_what_it_had_not_synced_then_wipes_everything() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (dir, shell) = enrolled(clock);
        let exports = tempfile::tempdir().unwrap();
        shell.set_export_dir(exports.path().to_owned());
        NotifyFile { server_url: "http://127.0.0.1:1".into(), notify_token: "nt".into(), after: 0 }.save(dir.path()).unwrap();
        shell.unlock(PIN).unwrap();
        shell
            .with_store(|t| {
                sync::enrol(t, &RevokedDistrict, "http://127.0.0.1:1", "wang", "pw", "test")?;
                t.replace_registry(&gridwalk_domain::registry_gen::demo_registry())
            })
            .unwrap();
        shell.record(record_a_visit).unwrap();
        assert_eq!(shell.wipe_revoked().unwrap_err().code, "not_revoked", "a live tablet is never wiped");
        assert_eq!(shell.export_unsynced("a long passphrase").unwrap_err().code, "not_revoked", "nor exports: it syncs");
        let sync = shell.with_store(|t| sync::sync(t, &RevokedDistrict, &Default::default(), &AtomicBool::new(false), &mut |_| {}));
        assert_eq!(sync.unwrap_err().code(), "device_revoked", "the server's 401 marks the tablet revoked");
        let r = shell.with_tablet(|t| t.revocation()).unwrap();
        assert!(r.revoked && r.unsynced_records == 1 && !r.may_wipe, "one visit is unsynced: {r:?}");
        assert_eq!(shell.wipe_revoked().unwrap_err().code, "unsynced_not_exported", "the unsynced visit holds the wipe back");
        assert!(shell.status().unlocked && dir.path().join(STORE_FILE).exists(), "and a refused wipe changes nothing");
        assert_eq!(shell.export_unsynced("short").unwrap_err().code, "weak_passphrase");
        let receipt = shell.export_unsynced("a long passphrase").unwrap();
        assert_eq!(receipt.records, 1);
        let opened = gridwalk_core::open_export(&std::fs::read(&receipt.path).unwrap(), "a long passphrase").unwrap();
        assert_eq!(opened.records[0].event.entity.kind(), "visit", "the export holds the visit");
        shell.wipe_revoked().expect("after the export the wipe proceeds");
        let st = shell.status();
        assert!(!st.enrolled && !st.unlocked, "the tablet is back to a fresh install: {st:?}");
        for f in [STORE_FILE, "tablet.db-wal", "tablet.db-shm", crate::vault::SECRET_FILE, unlock::KDF_FILE, NOTIFY_FILE, SETTINGS_FILE] {
            assert!(!dir.path().join(f).exists(), "{f} is wiped");
        }
        assert!(std::path::Path::new(&receipt.path).exists(), "the export is kept");
        assert_eq!(shell.unlock(PIN).unwrap_err().code, "not_enrolled", "nothing is left to unlock");
    }

    #[test]
    fn a_lost_secret_is_said_and_never_replaced() {
        let (dir, shell) = enrolled(Arc::new(ManualClock::new(1)));
        std::fs::remove_file(dir.path().join(crate::vault::SECRET_FILE)).unwrap();
        assert_eq!(shell.unlock(PIN).unwrap_err().code, "secret_lost", "no secret: the unlock says so");
        assert!(!dir.path().join(crate::vault::SECRET_FILE).exists(), "and does not make a new one that no PIN matches");
        assert_eq!(shell.status().pin_failures, 0, "it is not the worker's wrong PIN");
    }

    #[test]
    fn the_status_says_where_the_secret_is() {
        let (_dir, shell) = enrolled(Arc::new(ManualClock::new(1)));
        assert_eq!(shell.status().secret_store, SecretStore::File);
        assert_eq!(serde_json::to_value(shell.status()).unwrap()["secret_store"], "file", "the UI reads secret_store: \"file\"");
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

    /// Records what the shell emits and notifies.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, serde_json::Value)>>);

    impl Outlet for Recorder {
        fn emit(&self, event: &str, payload: serde_json::Value) {
            self.0.lock().unwrap().push((event.to_owned(), payload));
        }
        fn notify(&self, title: &str, body: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(("notify".into(), serde_json::json!([title, body])));
            Ok(())
        }
    }

    fn identity() -> gridwalk_core::Identity {
        gridwalk_core::Identity {
            worker: gridwalk_domain::WorkerId::from_parts(1, [1; 10]),
            device: gridwalk_domain::DeviceId::from_parts(1, [2; 10]),
        }
    }

    #[test]
    fn the_sync_period_is_bounded_and_kept_in_the_settings() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (dir, shell) = enrolled(clock);
        assert_eq!(shell.status().sync_period_s, auto::DEFAULT_PERIOD_S, "a minute by default");
        for bad in [0, 14, 3601] {
            assert_eq!(shell.set_sync_period(bad).unwrap_err().code, "bad_sync_period", "{bad} s is out of range");
        }
        shell.set_sync_period(15).unwrap();
        assert_eq!(shell.status().sync_period_s, 15);
        assert_eq!(Settings::load(dir.path()).sync_period_s, Some(15), "kept in app.json");
        let again = Shell::with_clock(dir.path().to_owned(), Arc::new(ManualClock::new(1))).unwrap();
        assert_eq!(again.status().sync_period_s, 15, "and read back on the next start");
    }

    #[test]
    fn records_poke_the_automatic_sync_and_a_failed_one_backs_off() {
        use crate::autosync::{tick, Tick};
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (_dir, shell) = enrolled(clock.clone());
        assert_eq!(tick(&shell), Tick::Idle, "locked: no automatic sync");
        shell.unlock(PIN).unwrap();
        // No server was ever reached (this store has no server address): the sync fails.
        assert_eq!(tick(&shell), Tick::Synced { ok: false }, "unlocked and never synced: at once");
        assert_eq!(tick(&shell), Tick::Sleep(std::time::Duration::from_secs(60)), "offline with nothing to send: the period");
        for failures in 1..=5u32 {
            shell.record(|t| t.set_identity(identity())).unwrap();
            assert!(shell.auto.snapshot().last_poke_ms.is_some(), "a record pokes the automatic sync");
            let Tick::Sleep(wait) = tick(&shell) else { panic!("after a failure the scheduler waits") };
            // 2 s debounce, or the backoff 2 s · 2^(n−1) · [½, 1) when that is longer.
            let floor = 2_000.max(1_000 << (failures - 1));
            assert!(wait.as_millis() >= floor as u128, "after {failures} failures a record waits at least {floor} ms: {wait:?}");
            clock.advance(wait.as_millis() as i64);
            assert_eq!(tick(&shell), Tick::Synced { ok: false }, "retried once the wait is over");
        }
        shell.lock().unwrap();
        assert_eq!(tick(&shell), Tick::Idle, "locking stops the automatic sync");
    }

    #[test]
    fn one_sync_at_a_time() {
        use crate::autosync::{tick, Tick};
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (_dir, shell) = enrolled(clock);
        shell.unlock(PIN).unwrap();
        let gate = shell.sync_gate.lock().unwrap();
        assert!(shell.try_auto_sync().is_none(), "while a sync holds the gate the automatic one does not start");
        assert_eq!(tick(&shell), Tick::Busy, "the scheduler sees it busy");
        drop(gate);
        assert!(shell.try_auto_sync().is_some(), "once it is free, it runs");
    }

    #[test]
    fn the_locked_count_is_raised_content_free_logged_and_shown() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (dir, shell) = enrolled(clock);
        let outlet = Arc::new(Recorder::default());
        shell.set_outlet(outlet.clone());
        shell.locked_news(2);
        assert_eq!(shell.status().locked_news, 2, "the lock screen reads the count from the status");
        let raised = shell.notifications_raised();
        assert_eq!(raised.len(), 1);
        assert_eq!((raised[0].body.as_str(), raised[0].plugin_ok), ("有 2 条新工单", true), "a count and nothing else, in Chinese first");
        let log = std::fs::read_to_string(dir.path().join(NOTIFICATIONS_LOG)).unwrap();
        assert_eq!(serde_json::from_str::<RaisedNotification>(log.trim()).unwrap(), raised[0], "the log file holds the same entry");
        let seen = outlet.0.lock().unwrap().clone();
        assert!(seen.iter().any(|(e, p)| e == "lock-news" && p["count"] == 2), "the lock screen is told: {seen:?}");
        shell.set_locale("en").unwrap();
        assert_eq!(shell.raise("new_orders", 1).body, "1 new order", "in the UI's language");
        assert_eq!(shell.set_locale("fr").unwrap_err().code, "bad_locale");
        shell.unlock(PIN).unwrap();
        assert_eq!(shell.status().locked_news, 0, "unlocking clears it: the sync brings the orders");
    }

    #[test]
    fn the_notify_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(NotifyFile::load(dir.path()).is_none(), "no file: nothing to ask with");
        let f = NotifyFile { server_url: "http://127.0.0.1:1".into(), notify_token: "nt-secret".into(), after: 42 };
        f.save(dir.path()).unwrap();
        let back = NotifyFile::load(dir.path()).unwrap();
        assert_eq!((back.server_url.as_str(), back.notify_token.as_str(), back.after), ("http://127.0.0.1:1", "nt-secret", 42));
        assert!(!format!("{back:?}").contains("nt-secret"), "the token never reaches a log line");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(NOTIFY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "notify.json is readable by the app only");
        }
    }

    #[test]
    fn enrolment_refuses_bad_input_before_touching_the_network() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::with_clock(dir.path().to_owned(), clock).unwrap();
        assert_eq!(shell.enrol("http://127.0.0.1:9", "wang", "pw", "12").unwrap_err().code, "bad_pin");
        assert_eq!(
            shell.enrol("http://127.0.0.1:9", "wang", "pw", "short pw").unwrap_err().code,
            "offline",
            "an 8-character passphrase is a valid PIN"
        );
        assert_eq!(shell.enrol("ftp://x", "wang", "pw", PIN).unwrap_err().code, "bad_server_url");
        // Nothing listens on port 9 here: the login fails and no store is left behind.
        assert_eq!(shell.enrol("http://127.0.0.1:9", "wang", "pw", PIN).unwrap_err().code, "offline");
        assert!(!dir.path().join(STORE_FILE).exists() && !dir.path().join(ENROLLING_FILE).exists());
        assert!(!shell.status().enrolled);
    }
}
