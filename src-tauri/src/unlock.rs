//! Unlocking the store: the 32-byte key is argon2id(PIN, salt = a random per-device secret), so
//! a PIN alone opens nothing and a copied store file needs the device's secret *and* the PIN.
//! The secret lives in a [`crate::vault`]; the KDF's cost parameters live in `store.kdf` next
//! to the store, so a store keyed at a lower cost still opens and is re-keyed on unlock.
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

/// A digits-only PIN has at least this many digits.
pub const PIN_MIN_DIGITS: usize = 6;
/// Anything else (a passphrase: letters, spaces, any script) has at least this many characters.
pub const PASSPHRASE_MIN_CHARS: usize = 8;
/// The longest PIN or passphrase, in characters.
pub const SECRET_MAX_CHARS: usize = 64;

pub const ATTEMPTS_FILE: &str = "pin-attempts.json";
/// The KDF parameters the store's key was derived with (absent: [`KdfParams::LEGACY`]).
pub const KDF_FILE: &str = "store.kdf";
/// Parameters a re-key is moving the store to; present only between the two steps of one.
pub const KDF_NEXT_FILE: &str = "store.kdf.next";

/// A PIN is 6 to 64 digits; a passphrase is 8 to 64 characters of any kind but control ones.
pub fn pin_is_valid(pin: &str) -> bool {
    let chars = pin.chars().count();
    if chars > SECRET_MAX_CHARS {
        return false;
    }
    if pin.chars().all(|c| c.is_ascii_digit()) {
        chars >= PIN_MIN_DIGITS
    } else {
        chars >= PASSPHRASE_MIN_CHARS && !pin.chars().any(char::is_control)
    }
}

/// argon2id's cost parameters, as kept next to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl KdfParams {
    /// What every store before `store.kdf` was keyed with: the OWASP baseline (19 MiB, 2 passes).
    pub const LEGACY: KdfParams = KdfParams { memory_kib: 19 * 1024, passes: 2, lanes: 1 };
    /// What a store is keyed with now: 64 MiB, 8 passes, one lane: about 0.6 s of one core per
    /// guess on the CI machine, so 10^6 guesses (every six-digit PIN) cost about 175 core-hours
    /// and 64 MiB each (measured by `one_guess_costs_64_mib_and_eight_passes`; ARCHITECTURE.md).
    pub const CURRENT: KdfParams = KdfParams { memory_kib: 64 * 1024, passes: 8, lanes: 1 };
}

/// `store.kdf`: the parameters, versioned so a later KDF can be told apart.
#[derive(Serialize, Deserialize)]
struct KdfFile {
    version: u32,
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
}

fn read_kdf(path: &Path) -> std::io::Result<Option<KdfParams>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
    let f: KdfFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if f.version != 1 || f.algorithm != "argon2id" {
        return Err(bad(format!("unknown KDF {} version {}", f.algorithm, f.version)));
    }
    Params::new(f.params.memory_kib, f.params.passes, f.params.lanes, Some(32)).map_err(|e| bad(e.to_string()))?;
    Ok(Some(f.params))
}

fn write_kdf(path: &Path, params: KdfParams) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let body = KdfFile { version: 1, algorithm: "argon2id".into(), params };
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(&body).expect("serializable"))?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The parameters the store in `dir` was keyed with, and those of a re-key that may have been
/// cut short (the store then opens with one of the two).
pub fn store_kdf(dir: &Path) -> std::io::Result<(KdfParams, Option<KdfParams>)> {
    Ok((read_kdf(&dir.join(KDF_FILE))?.unwrap_or(KdfParams::LEGACY), read_kdf(&dir.join(KDF_NEXT_FILE))?))
}

/// Write down the parameters of a freshly keyed store.
pub fn set_store_kdf(dir: &Path, params: KdfParams) -> std::io::Result<()> {
    write_kdf(&dir.join(KDF_FILE), params)
}

/// Step one of a re-key: say where it is going, before the store changes.
pub fn begin_rekey(dir: &Path, params: KdfParams) -> std::io::Result<()> {
    write_kdf(&dir.join(KDF_NEXT_FILE), params)
}

/// Step two: the store opens with the new parameters now.
pub fn finish_rekey(dir: &Path) -> std::io::Result<()> {
    std::fs::rename(dir.join(KDF_NEXT_FILE), dir.join(KDF_FILE))
}

/// A re-key that did not happen: forget where it was going.
pub fn abandon_rekey(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(KDF_NEXT_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The store key: argon2id with `params` over the PIN, the device secret as salt.
pub fn derive_key(pin: &str, device_secret: &[u8; 32], params: KdfParams) -> StoreKey {
    let p = Params::new(params.memory_kib, params.passes, params.lanes, Some(32)).expect("argon2 params checked when read");
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(pin.as_bytes(), device_secret, &mut out)
        .expect("argon2 with a 32-byte salt and output");
    StoreKey(out)
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
        let long_digits = "1".repeat(64);
        let too_long = "a".repeat(65);
        for (pin, ok, why) in [
            ("123456", true, "six digits"),
            ("123456789012", true, "twelve digits"),
            (long_digits.as_str(), true, "64 digits"),
            ("12345", false, "five digits"),
            ("12a456", false, "six characters not all digits are a too-short passphrase"),
            ("abcdefg", false, "a seven-character passphrase"),
            ("abcdefgh", true, "an eight-character passphrase"),
            ("正确 马 电池 订书钉", true, "any script and spaces, counted in characters"),
            (too_long.as_str(), false, "65 characters"),
            ("abc\ndefgh", false, "no control characters"),
            ("", false, "empty"),
        ] {
            assert_eq!(pin_is_valid(pin), ok, "{why}: {pin:?}");
        }
    }

    /// Cheap parameters, so the key tests do not spend seconds in argon2.
    const CHEAP: KdfParams = KdfParams { memory_kib: 256, passes: 1, lanes: 1 };

    #[test]
    fn key_depends_on_pin_device_secret_and_params() {
        let secret = [7u8; 32];
        let k = derive_key("246810", &secret, CHEAP);
        assert_eq!(derive_key("246810", &secret, CHEAP).0, k.0, "the same PIN on the same device gives the same key");
        assert_ne!(derive_key("246811", &secret, CHEAP).0, k.0, "another PIN gives another key");
        assert_ne!(derive_key("246810", &[9; 32], CHEAP).0, k.0, "the same PIN on another device gives another key");
        assert_ne!(derive_key("246810", &secret, KdfParams { passes: 2, ..CHEAP }).0, k.0, "other parameters give another key");
    }

    /// The figure in ARCHITECTURE.md: one guess at the current parameters. The timing is
    /// printed, not asserted (machines differ); the parameters are.
    #[test]
    fn one_guess_costs_64_mib_and_eight_passes() {
        let p = KdfParams::CURRENT;
        assert!(p.memory_kib >= 64 * 1024, "a guess needs at least 64 MiB: {p:?}");
        assert!(p.passes >= 8 && p.lanes == 1, "and eight sequential passes on one lane (≈0.6 s here): {p:?}");
        assert!(
            p.memory_kib > KdfParams::LEGACY.memory_kib && p.passes >= KdfParams::LEGACY.passes,
            "the current cost is above the legacy one"
        );
        let started = std::time::Instant::now();
        derive_key("246810", &[7; 32], p);
        let ms = started.elapsed().as_millis();
        let days = ms as f64 * 1e6 / 86_400_000.0;
        eprintln!("argon2id m={} KiB t={} p={}: {ms} ms per guess; 10^6 guesses = {days:.1} core-days", p.memory_kib, p.passes, p.lanes);
    }

    #[test]
    fn the_kdf_file_round_trips_and_an_absent_one_means_legacy() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            store_kdf(dir.path()).unwrap(),
            (KdfParams::LEGACY, None),
            "a store from before store.kdf was keyed with the legacy cost"
        );
        set_store_kdf(dir.path(), KdfParams::CURRENT).unwrap();
        assert_eq!(store_kdf(dir.path()).unwrap(), (KdfParams::CURRENT, None));
        begin_rekey(dir.path(), CHEAP).unwrap();
        assert_eq!(store_kdf(dir.path()).unwrap(), (KdfParams::CURRENT, Some(CHEAP)), "a re-key under way is visible");
        finish_rekey(dir.path()).unwrap();
        assert_eq!(store_kdf(dir.path()).unwrap(), (CHEAP, None), "a finished re-key is the store's cost");
        std::fs::write(dir.path().join(KDF_FILE), r#"{"version":2,"algorithm":"scrypt","memory_kib":1,"passes":1,"lanes":1}"#).unwrap();
        assert_eq!(store_kdf(dir.path()).unwrap_err().kind(), std::io::ErrorKind::InvalidData, "an unknown KDF is refused, not guessed at");
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
