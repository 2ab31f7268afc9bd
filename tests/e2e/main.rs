//! The one end-to-end test binary. Every module here uses real parts: real SQLite files, a real
//! PostgreSQL cluster (`GRIDWALK_TEST_POSTGRES`; `cargo xtask test` also runs the sync, crash,
//! Open311 and workflow modules with the server's data on it), real processes, a real server
//! on 127.0.0.1:0. Regression tests are named after what broke. Every
//! process is started as a `gridwalk_e2e::proc::OwnedChild`, which stops it and what it started
//! when dropped; `cargo xtask test` then runs `leftovers` (tests/leftovers.rs) to check that none
//! of them is still alive.
//!
//! Modules:
//! - `app_webdriver`: the real app under Xvfb via WebDriver: enrol, record offline, sync, check the server.
//! - `browser_kit`: the headless-Chromium kit the console tests use: click, read, select, download, screenshot.
//! - `console_browser`: the district console in headless Chromium against the real server: login,
//!   the overview's figures by hand, ticket filters and actions stored once, exports parsed back,
//!   a department's 报到, screenshots of every page at two sizes, bad input shown in Chinese.
//! - `field_link`: sync through an emulated field link (good 4G, weak 4G, 2G: bandwidth, delay, jitter,
//!   loss): compressed, every report once; on 2G cut every 20 s, 1,000 reports and 50 photos arrive once and
//!   only the batch or chunk in flight goes again.
//! - `open311`: an Open311 GeoReport v2 POST reaches the right worker's tablet through sync, and no other.
//! - `postgres`: two server processes on one PostgreSQL database: kill -9 one mid-push, the tablets
//!   finish on the other with every event once; PostgreSQL restarted mid-sync: 503 while away, nothing lost.
//! - `server_authz`: the authorisation matrix: every role × in/out of scope × endpoint.
//! - `server_crash`: kill -9 the server process during ingest, 32 trials; acked events survive once.
//! - `server_restore`: restore an older backup under live tablets: they re-send and re-pull, every event once.
//! - `store_crash`: kill -9 a tablet process while it records; every returned record survives.
//! - `store_key`: a store opened with the wrong key is refused with a clear error.
//! - `sync`: tablet ↔ server sync: convergence (a me-too from a second tablet included), wire faults, kill -9 of either side, skewed
//!   clocks, scoped hotline dispatch, a week offline with photos.
//! - `workflow`: 接诉即办 end to end: hotline dispatch, respond, whistle to a department that
//!   reports in from its own tablet, dissatisfied callback reopens, satisfied closes; the rates.

mod app_webdriver;
mod browser_kit;
mod console_browser;
mod field_link;
mod open311;
mod postgres;
mod server_authz;
mod server_crash;
mod server_restore;
mod store_crash;
mod store_key;
mod sync;
mod workflow;
