//! Where the device secret (the salt of the store key) lives. With a platform keystore the
//! secret never touches the data directory, so a copied directory holds nothing to search a
//! PIN against; without one it is `device.secret` (mode 0600) and only the KDF's cost stands
//! between a copy and the store (ARCHITECTURE.md, "What a thief with the files can and cannot
//! do").
//!
//! The choice is made once, on a tablet's first start, and written to `secret-store`
//! (`keystore` or `file`): a tablet never switches by itself, because a secret looked for in
//! the wrong place is a store that no PIN opens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The device secret's file when no keystore holds it.
pub const SECRET_FILE: &str = "device.secret";
/// Which vault holds the secret: `keystore` or `file`.
pub const MARKER_FILE: &str = "secret-store";
/// The keystore entry's service name; its user is the data directory, so two data
/// directories (tests, a kiosk) never share a secret.
const KEYSTORE_SERVICE: &str = "cn.chaoyang.gridwalk";
/// A Secret Service that is registered but does not answer must not hold up the app's start.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the status shows the UI: where the secret is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretStore {
    Keystore,
    File,
}

impl SecretStore {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStore::Keystore => "keystore",
            SecretStore::File => "file",
        }
    }
}

/// A place that keeps the 32-byte device secret.
pub trait SecretVault: Send + Sync {
    fn kind(&self) -> SecretStore;
    /// The secret, if there is one.
    fn load(&self) -> std::io::Result<Option<[u8; 32]>>;
    /// The secret, created (32 random bytes) when there is none yet.
    fn load_or_create(&self) -> std::io::Result<[u8; 32]>;
    /// Forget the secret (the revoked tablet's wipe). Nothing to forget is fine.
    fn erase(&self) -> std::io::Result<()>;
}

/// `device.secret` in the data directory, mode 0600.
pub struct FileVault {
    path: PathBuf,
}

impl FileVault {
    pub fn new(dir: &Path) -> FileVault {
        FileVault { path: dir.join(SECRET_FILE) }
    }
}

impl SecretVault for FileVault {
    fn kind(&self) -> SecretStore {
        SecretStore::File
    }

    fn load(&self) -> std::io::Result<Option<[u8; 32]>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => to_secret(&bytes).map(Some).ok_or_else(|| damaged(&self.path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn load_or_create(&self) -> std::io::Result<[u8; 32]> {
        match std::fs::read(&self.path) {
            Ok(bytes) => to_secret(&bytes).ok_or_else(|| damaged(&self.path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&self.path)?;
                f.write_all(&secret)?;
                f.sync_all()?;
                Ok(secret)
            }
            Err(e) => Err(e),
        }
    }

    fn erase(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn to_secret(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

fn damaged(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the device secret in {what} is damaged"))
}

/// The platform keystore through the `keyring` crate: on Linux the Secret Service (GNOME
/// Keyring, KWallet) over the session bus. The session bus is the user's own, so the secret
/// crosses it in a plain session (no Diffie-Hellman transport encryption): whoever can read
/// that bus can read the keyring anyway.
#[cfg(target_os = "linux")]
pub struct KeystoreVault {
    user: String,
}

#[cfg(target_os = "linux")]
impl KeystoreVault {
    pub fn new(dir: &Path) -> KeystoreVault {
        KeystoreVault { user: format!("device-secret:{}", dir.display()) }
    }

    fn entry(&self) -> std::io::Result<keyring::Entry> {
        keyring::Entry::new(KEYSTORE_SERVICE, &self.user).map_err(keystore_err)
    }
}

#[cfg(target_os = "linux")]
fn keystore_err(e: keyring::Error) -> std::io::Error {
    std::io::Error::other(format!("the keystore: {e}"))
}

#[cfg(target_os = "linux")]
impl SecretVault for KeystoreVault {
    fn kind(&self) -> SecretStore {
        SecretStore::Keystore
    }

    fn load(&self) -> std::io::Result<Option<[u8; 32]>> {
        match self.entry()?.get_secret() {
            Ok(bytes) => to_secret(&bytes).map(Some).ok_or_else(|| damaged("the keystore")),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keystore_err(e)),
        }
    }

    fn load_or_create(&self) -> std::io::Result<[u8; 32]> {
        let entry = self.entry()?;
        match entry.get_secret() {
            Ok(bytes) => to_secret(&bytes).ok_or_else(|| damaged("the keystore")),
            Err(keyring::Error::NoEntry) => {
                let secret: [u8; 32] = rand::random();
                entry.set_secret(&secret).map_err(keystore_err)?;
                // Read it back: a keystore that takes a secret and cannot return it must not
                // become the home of the store's key.
                match entry.get_secret() {
                    Ok(back) if back == secret => Ok(secret),
                    Ok(_) => Err(damaged("the keystore")),
                    Err(e) => Err(keystore_err(e)),
                }
            }
            Err(e) => Err(keystore_err(e)),
        }
    }

    fn erase(&self) -> std::io::Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keystore_err(e)),
        }
    }
}

/// Whether a session bus is there to ask. Without one, libdbus would try to autolaunch a bus
/// (a stray daemon per start), so the keystore is not even tried.
#[cfg(target_os = "linux")]
fn session_bus_present() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
}

/// The platform keystore of this build, when it is reachable: it must take and return a secret
/// within [`PROBE_TIMEOUT`]. `Err` says why not (for the log line).
pub fn platform_keystore(dir: &Path) -> Result<Box<dyn SecretVault>, String> {
    #[cfg(target_os = "linux")]
    {
        if !session_bus_present() {
            return Err("no D-Bus session bus".into());
        }
        let vault = KeystoreVault::new(dir);
        let probe = KeystoreVault::new(dir);
        let (tx, rx) = std::sync::mpsc::channel();
        // A hung bus would otherwise hang the start; the thread is left to finish on its own.
        std::thread::spawn(move || drop(tx.send(probe.load_or_create().map(drop))));
        match rx.recv_timeout(PROBE_TIMEOUT) {
            Ok(Ok(())) => Ok(Box::new(vault)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("the Secret Service did not answer within {} s", PROBE_TIMEOUT.as_secs())),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Err("this build has no keystore (Android Keystore and iOS Keychain are not wired yet)".into())
    }
}

/// The vault this tablet uses: the one `secret-store` names; on a first start the keystore
/// when `keystore` offers one, else the file (said on stderr, and shown in the status). A
/// tablet from before the keystore (a `device.secret` and no marker) stays with its file.
pub fn choose(dir: &Path, keystore: impl FnOnce() -> Result<Box<dyn SecretVault>, String>) -> std::io::Result<Box<dyn SecretVault>> {
    let marker = dir.join(MARKER_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(s) if s.trim() == "file" => return Ok(Box::new(FileVault::new(dir))),
        // Named once, kept: a keystore that is unreachable later fails the unlock loudly
        // instead of creating a new secret somewhere else.
        Ok(s) if s.trim() == "keystore" => {
            #[cfg(target_os = "linux")]
            return Ok(Box::new(KeystoreVault::new(dir)));
            #[cfg(not(target_os = "linux"))]
            return Err(std::io::Error::other("this tablet's secret is in a keystore this build cannot reach"));
        }
        Ok(other) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{MARKER_FILE} says {other:?}"))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let vault: Box<dyn SecretVault> = if dir.join(SECRET_FILE).exists() {
        Box::new(FileVault::new(dir))
    } else {
        match keystore() {
            Ok(v) => v,
            Err(why) => {
                eprintln!("gridwalk: no platform keystore ({why}); the device secret is kept in {SECRET_FILE}");
                Box::new(FileVault::new(dir))
            }
        }
    };
    write_marker(dir, vault.kind())?;
    Ok(vault)
}

fn write_marker(dir: &Path, kind: SecretStore) -> std::io::Result<()> {
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(kind.as_str().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, dir.join(MARKER_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keystore in memory, to drive the choice.
    #[derive(Default)]
    struct MemoryVault(std::sync::Mutex<Option<[u8; 32]>>);

    impl SecretVault for MemoryVault {
        fn kind(&self) -> SecretStore {
            SecretStore::Keystore
        }
        fn load(&self) -> std::io::Result<Option<[u8; 32]>> {
            Ok(*self.0.lock().unwrap())
        }
        fn load_or_create(&self) -> std::io::Result<[u8; 32]> {
            Ok(*self.0.lock().unwrap().get_or_insert_with(rand::random))
        }
        fn erase(&self) -> std::io::Result<()> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    #[test]
    fn the_file_vault_keeps_one_private_secret_and_erases_it() {
        let dir = tempfile::tempdir().unwrap();
        let vault = FileVault::new(dir.path());
        let secret = vault.load_or_create().unwrap();
        assert_eq!(vault.load_or_create().unwrap(), secret, "the secret is created once and kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the device secret is readable by the app only");
        }
        std::fs::write(dir.path().join(SECRET_FILE), [1, 2, 3]).unwrap();
        assert_eq!(vault.load_or_create().unwrap_err().kind(), std::io::ErrorKind::InvalidData, "a short file is damaged, not replaced");
        assert_eq!(vault.load().unwrap_err().kind(), std::io::ErrorKind::InvalidData, "load() says damaged too");
        vault.erase().unwrap();
        assert!(!dir.path().join(SECRET_FILE).exists(), "erased");
        assert_eq!(vault.load().unwrap(), None, "an erased secret is not there");
        vault.erase().expect("erasing nothing is fine");
    }

    #[test]
    fn a_first_start_takes_the_keystore_when_there_is_one_and_keeps_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let v = choose(dir.path(), || Ok(Box::new(MemoryVault::default()))).unwrap();
        assert_eq!(v.kind(), SecretStore::Keystore);
        assert_eq!(std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap(), "keystore", "the choice is written down");
        assert!(!dir.path().join(SECRET_FILE).exists(), "with a keystore no secret file is written");
        let again = choose(dir.path(), || panic!("a tablet that chose is not asked again")).unwrap();
        assert_eq!(again.kind(), SecretStore::Keystore, "the marker decides from then on");
    }

    #[test]
    fn without_a_keystore_the_file_is_chosen_explicitly_and_kept_when_one_appears() {
        let dir = tempfile::tempdir().unwrap();
        let v = choose(dir.path(), || Err("no D-Bus session bus".into())).unwrap();
        assert_eq!(v.kind(), SecretStore::File, "no keystore: the file, not a failure");
        assert_eq!(std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap(), "file");
        let later = choose(dir.path(), || Ok(Box::new(MemoryVault::default()))).unwrap();
        assert_eq!(later.kind(), SecretStore::File, "a keystore that appears later does not move the secret");
    }

    #[test]
    fn a_tablet_from_before_the_keystore_stays_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = FileVault::new(dir.path()).load_or_create().unwrap();
        let v = choose(dir.path(), || Ok(Box::new(MemoryVault::default()))).unwrap();
        assert_eq!(v.kind(), SecretStore::File, "an existing device.secret is not abandoned");
        assert_eq!(v.load_or_create().unwrap(), old, "and it is the same secret, so the store still opens");
        std::fs::write(dir.path().join(MARKER_FILE), "cloud").unwrap();
        assert_eq!(
            choose(dir.path(), || unreachable!()).err().unwrap().kind(),
            std::io::ErrorKind::InvalidData,
            "an unknown marker is refused"
        );
    }

    /// A private session bus with GNOME Keyring's Secret Service on it, both children of this
    /// test and killed with it. The bus has no service directories, so nothing is activated
    /// behind the test's back, and the keyring lives in a temporary home.
    #[cfg(target_os = "linux")]
    struct SecretService {
        bus: std::process::Child,
        keyring: std::process::Child,
        _home: tempfile::TempDir,
    }

    #[cfg(target_os = "linux")]
    impl SecretService {
        fn start() -> SecretService {
            use std::io::BufRead;
            use std::process::{Command, Stdio};
            let home = tempfile::tempdir().unwrap();
            let config = home.path().join("bus.conf");
            std::fs::write(
                &config,
                format!(
                    r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path={}/bus</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>"#,
                    home.path().display()
                ),
            )
            .unwrap();
            let mut bus = Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--print-address=1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon runs (Debian package dbus; cargo xtask test installs it)");
            let mut address = String::new();
            std::io::BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
            let address = address.trim().to_owned();
            assert!(address.starts_with("unix:"), "the bus printed its address: {address:?}");
            let mut keyring = Command::new("gnome-keyring-daemon")
                .args(["--foreground", "--unlock", "--components=secrets"])
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .env("HOME", home.path())
                .env("XDG_DATA_HOME", home.path().join("data"))
                .env("XDG_RUNTIME_DIR", home.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("gnome-keyring-daemon runs (Debian package gnome-keyring; cargo xtask test installs it)");
            // The login keyring's password, then end of input: the daemon creates and unlocks it.
            keyring.stdin.take().unwrap().write_all(b"test-login-password").unwrap();
            std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
            SecretService { bus, keyring, _home: home }
        }
    }

    #[cfg(target_os = "linux")]
    impl Drop for SecretService {
        fn drop(&mut self) {
            for child in [&mut self.keyring, &mut self.bus] {
                let _ = child.kill();
                let _ = child.wait();
            }
            std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
        }
    }

    /// The keyring implementation against a real Secret Service (GNOME Keyring on a private
    /// bus): it is found, chosen, keeps one secret per data directory, and erases it.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_secret_service_holds_the_secret_and_no_file_is_written() {
        let _service = SecretService::start();
        let dir = tempfile::tempdir().unwrap();
        // The daemon takes a moment to claim its name on the bus.
        let started = std::time::Instant::now();
        let vault = loop {
            match platform_keystore(dir.path()) {
                Ok(v) => break v,
                Err(e) if started.elapsed() < Duration::from_secs(15) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("the Secret Service on the private bus answers within 15 s: {e}"),
            }
        };
        assert_eq!(vault.kind(), SecretStore::Keystore);
        let chosen = choose(dir.path(), || platform_keystore(dir.path())).unwrap();
        assert_eq!(chosen.kind(), SecretStore::Keystore, "a first start with a Secret Service chooses it");
        assert_eq!(std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap(), "keystore");
        let secret = chosen.load_or_create().unwrap();
        assert_eq!(vault.load_or_create().unwrap(), secret, "the probe's secret is the one kept: one secret per data directory");
        assert_eq!(chosen.load().unwrap(), Some(secret), "and load() finds it");
        assert!(!dir.path().join(SECRET_FILE).exists(), "with the keystore, device.secret is not on disk");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(KeystoreVault::new(other.path()).load_or_create().unwrap(), secret, "another data directory has its own secret");
        chosen.erase().unwrap();
        assert_eq!(chosen.load().unwrap(), None, "an erased secret is gone from the keystore");
        assert_ne!(chosen.load_or_create().unwrap(), secret, "asking again makes a new one");
        chosen.erase().unwrap();
        KeystoreVault::new(other.path()).erase().unwrap();
    }
}
