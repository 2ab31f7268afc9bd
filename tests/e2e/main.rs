//! The one end-to-end test binary. Every module here uses real parts: real SQLite files, real
//! processes, a real server on 127.0.0.1:0. Regression tests are named after what broke.
//!
//! Modules:
//! - `store_crash`: kill -9 a tablet process while it records; every returned record survives.
//! - `store_key`: a store opened with the wrong key is refused with a clear error.

mod store_crash;
mod store_key;
