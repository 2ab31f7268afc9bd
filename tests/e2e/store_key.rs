//! The tablet file is encrypted at rest; the wrong key is refused with a clear error.

use gridwalk_core::{StoreKey, SystemClock, Tablet};
use gridwalk_e2e::seeded_store;
use std::sync::Arc;

#[test]
fn wrong_key_is_refused_and_the_file_reveals_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tablet.db");
    drop(seeded_store(&db, 50));
    let err = Tablet::open(&db, &StoreKey([0x11; 32]), Arc::new(SystemClock::default())).unwrap_err();
    assert_eq!(err.code(), "wrong_key", "a wrong key gives wrong_key, not garbage or a panic");
    let raw = std::fs::read(&db).unwrap();
    let needle = "建外街道".as_bytes();
    assert!(!raw.windows(needle.len()).any(|w| w == needle), "registry text is not readable in the encrypted file");
}
