//! The Gridwalk district server: enrolment and auth, scoped ingest and pull of events, hotline
//! and Open311 intake, escalations, the three rates, photo blobs. `main.rs` is a thin CLI over
//! this library.
//!
//! # Layers
//! ```text
//! http/   the only module that knows axum: router, extractors, handlers by resource, Open311's wire
//!   ↓
//! app/    use cases with typed inputs and outputs, one authorize(who, action); no axum, no driver
//!   ↓
//! store/  the storage traits (Reader, Tx, Store) in domain types; sqlite/ is the only module
//!         that knows rusqlite, and the only place where a scope becomes SQL
//! ```
//! Beside them, imported by every layer and importing none: [`model`] (plain shared data),
//! [`error`], [`config`], [`district`] (the district's config file). Time and randomness come in
//! through [`gridwalk_clock::Clock`].

pub mod app;
pub mod config;
pub mod district;
pub mod error;
pub mod http;
pub mod model;
pub mod store;

pub use app::{admin, AppState};
pub use config::Config;
pub use district::{ConfigError, DistrictConfig};
pub use error::{Error, Result};
pub use http::{app, routes, serve};

#[cfg(test)]
mod layering {
    //! The dependency rule, checked on the source: http → app → store, and only http knows
    //! axum, only store/sqlite knows rusqlite.

    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn each_layer_imports_only_the_layers_below_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(files.len() > 20, "the server's sources are found");
        for file in files {
            let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            let in_http = rel.starts_with("http/");
            let in_app = rel.starts_with("app/");
            let in_store = rel.starts_with("store/");
            if !in_http {
                assert!(!code.contains(concat!("axum", "::")), "{rel}: only http/ may use axum");
            }
            if !rel.starts_with("store/sqlite/") {
                assert!(!code.contains(concat!("rusqlite", "::")), "{rel}: only store/sqlite may use rusqlite");
            }
            if in_app || in_store || matches!(rel.as_str(), "model.rs" | "error.rs" | "config.rs" | "district.rs") {
                assert!(!code.contains(concat!("crate::", "http")), "{rel}: nothing below http/ imports it");
            }
            if in_store || matches!(rel.as_str(), "model.rs" | "error.rs" | "config.rs" | "district.rs") {
                assert!(!code.contains(concat!("crate::", "app")), "{rel}: nothing below app/ imports it");
            }
        }
    }
}
