//! Photo blobs: named by their sha256, uploaded in resumable chunks, deduplicated by name.
//! A partial upload lives in `<hash>.part`; a verified one is renamed to `<hash>`, so a
//! complete blob is never half-written. The directory is 0700 and every blob 0600
//! ([`super::files`]).

use super::files::{create_private, private_dir, private_file};
use crate::error::{Error, Result};
use gridwalk_proto::BlobStatus;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The blob directory inside a data directory.
pub const BLOB_DIR: &str = "blobs";

pub fn check_name(sha256: &str) -> Result<()> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(Error::BadBlobHash)
    }
}

fn paths(dir: &Path, sha256: &str) -> (PathBuf, PathBuf) {
    (dir.join(sha256), dir.join(format!("{sha256}.part")))
}

/// How much of a blob is held.
pub fn status(dir: &Path, sha256: &str) -> Result<BlobStatus> {
    check_name(sha256)?;
    let (done, part) = paths(dir, sha256);
    if let Ok(m) = fs::metadata(&done) {
        return Ok(BlobStatus { sha256: sha256.to_owned(), held_bytes: m.len(), complete: true });
    }
    let held = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    Ok(BlobStatus { sha256: sha256.to_owned(), held_bytes: held, complete: false })
}

/// Whether the bytes start like an image a tablet camera produces.
pub fn looks_like_image(head: &[u8]) -> bool {
    let jpeg = head.starts_with(&[0xFF, 0xD8, 0xFF]);
    let png = head.starts_with(b"\x89PNG\r\n\x1a\n");
    let webp = head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP";
    let heic = head.len() >= 12
        && &head[4..8] == b"ftyp"
        && matches!(&head[8..12], b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"heim" | b"heis");
    jpeg || png || webp || heic
}

fn sync_dir(dir: &Path) -> Result<()> {
    // The rename must be durable too, or a crash could forget a blob that was acknowledged.
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn hash_file(path: &Path) -> Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Append a chunk at `offset` (which must equal the bytes held). With `last`, verify the hash
/// of the whole file: a match completes the blob, a mismatch discards the partial upload.
/// The caller serializes uploads of one blob.
pub fn append(dir: &Path, sha256: &str, offset: u64, chunk: &[u8], last: bool, max_bytes: u64) -> Result<BlobStatus> {
    // Servers on one PostgreSQL database share this directory: the kernel's lock on it makes
    // the offset check and the write one step across processes, as the state's blob lock does
    // within one. Released when `held` is dropped (or the process dies).
    private_dir(dir)?;
    let held = File::open(dir)?;
    held.lock()?;
    let now = status(dir, sha256)?;
    if now.complete {
        return Ok(now);
    }
    if offset != now.held_bytes {
        return Err(Error::OffsetMismatch { offset, held: now.held_bytes });
    }
    if offset.saturating_add(chunk.len() as u64) > max_bytes {
        return Err(Error::PhotoTooLarge { max: max_bytes });
    }
    if offset == 0 && !looks_like_image(chunk) {
        return Err(Error::NotAnImage);
    }
    private_dir(dir)?;
    let (done, part) = paths(dir, sha256);
    if !chunk.is_empty() {
        let mut f = create_private(&part, true)?;
        f.write_all(chunk)?;
        f.sync_all()?;
    }
    if !last {
        return status(dir, sha256);
    }
    let got = hash_file(&part)?;
    if got != sha256 {
        fs::remove_file(&part)?;
        tracing::warn!(sha256, got, "blob hash mismatch; partial upload discarded");
        return Err(Error::HashMismatch(sha256.to_owned()));
    }
    fs::rename(&part, &done)?;
    sync_dir(dir)?;
    status(dir, sha256)
}

/// Remove `.part` files last written more than `ttl` ago (by the file's mtime, which every
/// append moves); returns how many. A tablet that comes back later starts that photo over.
pub fn expire_partials(dir: &Path, ttl: std::time::Duration) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "part") {
            continue;
        }
        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if age > ttl {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
        tracing::info!(removed, "expired partial photo uploads");
    }
    Ok(removed)
}

/// Make the blob directory and every file in it private (for a directory made by an older
/// build, or copied in with default modes). A missing directory is no error.
pub fn tighten(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    private_dir(dir)?;
    for entry in fs::read_dir(dir)? {
        private_file(&entry?.path())?;
    }
    Ok(())
}

/// Every complete blob held, by name (partial uploads are not blobs yet).
pub fn complete(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(name) = name.to_str() {
            if check_name(name).is_ok() {
                out.push(name.to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The bytes of a complete blob.
pub fn read(dir: &Path, sha256: &str) -> Result<Vec<u8>> {
    check_name(sha256)?;
    Ok(fs::read(dir.join(sha256))?)
}

/// Put back a whole blob (a restore): verified against its name, written under `.part`,
/// synced and renamed, like an upload. A blob already held is left as it is.
pub fn put_whole(dir: &Path, sha256: &str, bytes: &[u8]) -> Result<()> {
    check_name(sha256)?;
    if hex::encode(Sha256::digest(bytes)) != sha256 {
        return Err(Error::HashMismatch(sha256.to_owned()));
    }
    private_dir(dir)?;
    let (done, part) = paths(dir, sha256);
    if done.exists() {
        return Ok(());
    }
    let mut f = create_private(&part, false)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&part, &done)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert!(looks_like_image(&[0xFF, 0xD8, 0xFF, 0xE0]), "JPEG");
        assert!(looks_like_image(b"\x89PNG\r\n\x1a\n...."), "PNG");
        assert!(looks_like_image(b"RIFF\0\0\0\0WEBPVP8 "), "WebP");
        assert!(looks_like_image(b"\0\0\0\x18ftypheic\0\0"), "HEIC");
        assert!(!looks_like_image(b"#!/bin/sh\nrm -rf /"), "a script is not an image");
        assert!(!looks_like_image(b""), "nothing is not an image");
    }

    #[test]
    fn partial_uploads_expire_complete_blobs_stay() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(format!("{}.part", "a".repeat(64)));
        let fresh = dir.path().join(format!("{}.part", "b".repeat(64)));
        let done = dir.path().join("c".repeat(64));
        for p in [&old, &fresh, &done] {
            fs::write(p, b"\xFF\xD8\xFF").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 24 * 3600);
        for p in [&old, &done] {
            File::options().write(true).open(p).unwrap().set_modified(long_ago).unwrap();
        }
        let removed = expire_partials(dir.path(), std::time::Duration::from_secs(7 * 24 * 3600)).unwrap();
        assert_eq!(removed, 1, "only the stale partial upload is removed");
        assert!(!old.exists() && fresh.exists() && done.exists(), "fresh partials and complete blobs stay, however old");
    }
}
