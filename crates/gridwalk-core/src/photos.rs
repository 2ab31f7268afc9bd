//! Photos on the tablet, stored by content hash inside the encrypted file.

use crate::error::{CoreError, Result};
use crate::tablet::Tablet;
use gridwalk_domain::EventBody;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

/// The server's limit too; a bigger photo is refused on the tablet before it is queued.
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;

/// The image type from the first bytes. Only camera formats are accepted.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [_, _, _, _, b'f', b't', b'y', b'p', b'h', b'e', b'i', b'c' | b'f' | b'x', ..] => Some("image/heic"),
        _ => None,
    }
}

impl Tablet {
    /// Store a photo's bytes by sha256 (deduplicated) and return the hash.
    pub fn store_photo(&mut self, bytes: &[u8]) -> Result<String> {
        if bytes.len() as u64 > MAX_PHOTO_BYTES {
            return Err(CoreError::PhotoTooLarge { bytes: bytes.len() as u64, limit: MAX_PHOTO_BYTES });
        }
        let mime = sniff_image(bytes).ok_or(CoreError::NotAnImage)?;
        let sha = hex::encode(Sha256::digest(bytes));
        self.conn.execute(
            "INSERT OR IGNORE INTO photos (sha256, mime, bytes, data, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha, mime, bytes.len() as i64, bytes, self.clock.now_ms()],
        )?;
        Ok(sha)
    }

    pub fn photo(&self, sha256: &str) -> Result<(String, Vec<u8>)> {
        self.conn
            .query_row("SELECT mime, data FROM photos WHERE sha256 = ?1", [sha256], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or(CoreError::NotFound { what: "photo" })
    }

    pub(crate) fn photo_exists(&self, sha256: &str) -> Result<()> {
        self.photo_event(sha256).map(|_| ())
    }

    pub(crate) fn photo_event(&self, sha256: &str) -> Result<EventBody> {
        let (mime, bytes): (String, i64) = self
            .conn
            .query_row("SELECT mime, bytes FROM photos WHERE sha256 = ?1", [sha256], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or(CoreError::NotFound { what: "photo" })?;
        Ok(EventBody::PhotoAttached { sha256: sha256.to_owned(), bytes: bytes as u64, mime })
    }
}
