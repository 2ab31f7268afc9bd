//! The console's pages are built by npm into `ui/dist-console` (`npm run build` in `ui/`,
//! which `cargo xtask test` and `cargo xtask demo` run first) and embedded in the binary
//! from a copy in OUT_DIR. Without a build, the copy is one page saying how to make one, so
//! `cargo build` alone still works and the API is served either way.

use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let built = manifest.join("../../ui/dist-console");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("console");
    println!("cargo:rerun-if-changed={}", built.display());
    println!("cargo:rerun-if-changed={}", built.join("index.html").display());
    println!("cargo:rerun-if-changed={}", built.join("assets").display());
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    if built.join("index.html").is_file() {
        copy_dir(&built, &out)
    } else {
        std::fs::create_dir_all(&out)?;
        std::fs::write(
            out.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>网格走访 控制台</title>\
             <p>控制台页面尚未构建：在 ui/ 运行 npm run build 后重新编译服务器。\
             <p>The console pages are not built: run npm run build in ui/, then rebuild the server.",
        )
    }
}
