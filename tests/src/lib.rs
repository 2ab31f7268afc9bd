//! The test kit shared by the end-to-end tests, the bench binary and the demo: temp stores,
//! a small registry, child processes that can be killed mid-write, each owned by a
//! [`proc::OwnedChild`] that stops it and what it started.

pub mod app_driver;
pub mod bench;
pub mod browser;
pub mod engine;
pub mod fault_proxy;
pub mod link;
pub mod server;
pub mod sync_kit;
pub mod webdriver;

pub use gridwalk_proc as proc;

use gridwalk_core::{Clock, Identity, StoreKey, SystemClock, Tablet};
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::{DeviceId, Registry, WorkerId};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TEST_KEY: StoreKey = StoreKey([0x5a; 32]);

/// A registry cut down to the first `n` courtyards of the demo (with their parents), so tests
/// that open many stores don't pay for 5,710 courtyards each time.
pub fn small_registry(n: usize) -> Registry {
    let mut r = demo_registry();
    r.courtyards.truncate(n);
    let communities: std::collections::HashSet<_> = r.courtyards.iter().map(|c| c.community).collect();
    r.communities.retain(|c| communities.contains(&c.id));
    let yards: std::collections::HashSet<_> = r.courtyards.iter().map(|c| c.id).collect();
    r.technical_grids.retain(|t| yards.contains(&t.courtyard));
    r
}

/// A fixed identity for tablets that run without a server.
pub fn offline_identity(n: u8) -> Identity {
    Identity { worker: WorkerId::from_parts(1, [n; 10]), device: DeviceId::from_parts(1, [n.wrapping_add(100); 10]) }
}

/// Create a store with an identity and a small registry, as a tablet has after enrolment.
pub fn seeded_store(path: &Path, courtyards: usize) -> Tablet {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    let mut t = Tablet::open(path, &TEST_KEY, clock).expect("open store");
    t.set_identity(offline_identity(1)).expect("identity");
    t.replace_registry(&small_registry(courtyards)).expect("registry");
    t
}

/// A built binary of this workspace (target/<profile>/<name>), found next to the running
/// test executable. `cargo xtask test` builds every binary before it runs the tests.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first (cargo xtask test does)", path.display());
    path
}

/// Where the UI tests save their screenshots: the workspace's target/screenshots (tests/ → ..).
pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").join("target/screenshots")
}
