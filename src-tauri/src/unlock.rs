//! Unlocking the store: the 32-byte key is argon2id(PIN, salt = a random per-device secret), so
//! a PIN alone opens nothing and a copied store file needs the device's secret *and* the PIN.
//! Wrong PINs are counted in a small non-secret file; after [`FREE_ATTEMPTS`] in a row the app
//! refuses further tries for an increasing time.

use argon2::{Algorithm, Argon2, Params, Version};
use gridwalk_core::StoreKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Wrong PINs allowed in a row before the first lockout.
pub const FREE_ATTEMPTS: u32 = 5;
/// The first lockout; each further wrong PIN doubles it, up to [`MAX_LOCKOUT_MS`].
pub const FIRST_LOCKOUT_MS: i64 = 30_000;
pub const MAX_LOCKOUT_MS: i64 = 60 * 60 * 1000;

pub const PIN_MIN_DIGITS: usize = 6;
pub const PIN_MAX_DIGITS: usize = 12;

const SECRET_FILE: &str = "device.secret";
const ATTEMPTS_FILE: &str = "pin-attempts.json";

/// A PIN is 6 to 12 digits.
pub fn pin_is_valid(pin: &str) -> bool {
    (PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The store key: argon2id (19 MiB, 2 passes, 1 lane: the OWASP baseline) over the PIN with the
/// device secret as salt.
pub fn derive_key(pin: &str, device_secret: &[u8; 32]) -> StoreKey {
    let params = Params::new(19 * 1024, 2, 1, Some(32)).expect("static argon2 params");
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.as_bytes(), device_secret, &mut out)
        .expect("argon2 with a 32-byte salt and output");
    StoreKey(out)
}

/// The per-device secret: 32 random bytes created on first run, readable only by the app.
pub fn device_secret(dir: &Path) -> std::io::Result<[u8; 32]> {
    let path = dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(&bytes);
            Ok(out)
        }
        Ok(_) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is damaged", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path)?;
            f.write_all(&secret)?;
            f.sync_all()?;
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

/// How long to refuse PINs after `failures` wrong ones in a row (0: not locked out).
pub fn lockout_ms(failures: u32) -> i64 {
    if failures < FREE_ATTEMPTS {
        return 0;
    }
    let doublings = (failures - FREE_ATTEMPTS).min(20);
    (FIRST_LOCKOUT_MS << doublings).min(MAX_LOCKOUT_MS)
}

/// The wrong-PIN counter, persisted so quitting the app does not reset it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    pub failures: u32,
    pub locked_until_ms: i64,
}

impl Attempts {
    pub fn load(dir: &Path) -> Attempts {
        std::fs::read(dir.join(ATTEMPTS_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{ATTEMPTS_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self).expect("serializable"))?;
        std::fs::rename(tmp, dir.join(ATTEMPTS_FILE))
    }

    /// Milliseconds left before another try is allowed.
    pub fn wait_ms(&self, now_ms: i64) -> i64 {
        (self.locked_until_ms - now_ms).max(0)
    }

    pub fn failed(self, now_ms: i64) -> Attempts {
        let failures = self.failures.saturating_add(1);
        let lock = lockout_ms(failures);
        Attempts { failures, locked_until_ms: if lock > 0 { now_ms + lock } else { 0 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_case_table() {
        let cases = [(0, 0), (4, 0), (5, 30_000), (6, 60_000), (7, 120_000), (11, 1_920_000), (12, MAX_LOCKOUT_MS), (500, MAX_LOCKOUT_MS)];
        for (failures, want) in cases {
            assert_eq!(lockout_ms(failures), want, "lockout after {failures} wrong PINs");
        }
    }

    #[test]
    fn attempts_count_up_and_lock_out_from_the_fifth() {
        let mut a = Attempts::default();
        for i in 1..=4 {
            a = a.failed(1_000);
            assert_eq!((a.failures, a.wait_ms(1_000)), (i, 0), "wrong PIN {i} of the free ones");
        }
        a = a.failed(1_000);
        assert_eq!(a.wait_ms(1_000), 30_000, "the fifth wrong PIN locks out for 30 s");
        assert_eq!(a.wait_ms(31_000), 0, "and the lockout ends");
        a = a.failed(31_000);
        assert_eq!(a.wait_ms(31_000), 60_000, "the sixth doubles it");
    }

    #[test]
    fn pin_rules() {
        for (pin, ok) in
            [("123456", true), ("123456789012", true), ("12345", false), ("1234567890123", false), ("12a456", false), ("", false)]
        {
            assert_eq!(pin_is_valid(pin), ok, "PIN {pin:?}");
        }
    }

    #[test]
    fn key_depends_on_pin_and_device_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = device_secret(dir.path()).unwrap();
        assert_eq!(device_secret(dir.path()).unwrap(), secret, "the secret is created once and kept");
        let k = derive_key("246810", &secret);
        assert_eq!(derive_key("246810", &secret).0, k.0, "the same PIN on the same device gives the same key");
        assert_ne!(derive_key("246811", &secret).0, k.0, "another PIN gives another key");
        assert_ne!(derive_key("246810", &[9; 32]).0, k.0, "the same PIN on another device gives another key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the device secret is readable by the app only");
        }
    }

    #[test]
    fn attempts_persist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Attempts::load(dir.path()), Attempts::default());
        let a = Attempts::default().failed(5).failed(5);
        a.save(dir.path()).unwrap();
        assert_eq!(Attempts::load(dir.path()), a);
    }
}
