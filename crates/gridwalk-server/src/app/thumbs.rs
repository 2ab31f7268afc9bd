//! Photos a browser can show: the content type of a blob, and cached JPEG thumbnails.
//!
//! Blobs are stored as uploaded ([`crate::store::blobs`]), named by their sha256, and a name
//! says nothing of the format, so [`content_type`] reads the magic bytes; the console serves a
//! blob only when it is one of the formats named there, never unknown bytes as a photo.
//!
//! [`thumbnail`] decodes JPEG, PNG and WebP (what the `image` crate is built with here). It does
//! not decode HEIC (no pure-Rust decoder; the image crate has none) nor GIF (tablets do not
//! upload it): those answer `thumbnail_unsupported`, and the caller shows "no thumbnail" (or
//! the original, for a browser that can show it). The caller maps every error of [`thumbnail`]
//! but I/O to "no thumbnail":
//!
//! | error | why |
//! | --- | --- |
//! | `not_an_image` | the blob is none of the formats of [`content_type`] |
//! | `thumbnail_unsupported` | HEIC or GIF |
//! | `image_too_large` | declared past [`MAX_SIDE`] or [`MAX_PIXELS`], or needing more than [`MAX_DECODE_BYTES`] |
//! | `photo_too_large` | the file is past [`MAX_SOURCE_BYTES`] |
//! | `undecodable_image` | the bytes look like an image but do not decode |
//!
//! The work is bounded before decoding: the file's size and the image's declared dimensions are
//! checked first (from the header, without decoding pixels), and the decoder runs under
//! `image`'s allocation limit, so a decompression bomb (a small file declaring a huge image) is
//! refused instead of taking the server's memory. At most [`CONCURRENT_DECODES`] decodes run at
//! once in the process; more callers wait their turn.

use crate::error::{Error, Result};
use crate::store::blobs;
use crate::store::files::{private_dir, private_file};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// The content type of bytes that start with `head` (16 bytes suffice), by magic bytes: JPEG,
/// PNG, WebP, HEIC/HEIF or GIF; `None` for anything else.
pub fn content_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    // ISO BMFF: a box size, `ftyp`, then the major brand. The brands are the ones an upload
    // is accepted with (store::blobs::looks_like_image), typed as IANA registers them.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" => Some("image/heic"),
            b"hevc" | b"hevx" => Some("image/heic-sequence"),
            b"mif1" => Some("image/heif"),
            b"msf1" => Some("image/heif-sequence"),
            _ => None,
        };
    }
    None
}

/// The largest thumbnail edge a caller may ask for. Thumbnails are cached per size, so the
/// sizes a client can name are bounded (the caller should offer a few fixed ones).
pub const MAX_THUMB_PX: u32 = 2048;
/// The largest blob file decoded. Uploads are capped lower (`Config::photo_max_bytes`, 10 MiB
/// by default); this is the bound for a file that got there otherwise.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;
/// The longest declared side decoded.
pub const MAX_SIDE: u32 = 12_000;
/// The most declared pixels decoded: a 48-megapixel camera (8000×6000) passes, a 12000×12000
/// bomb does not.
pub const MAX_PIXELS: u64 = 50_000_000;
/// What one decode may allocate (image's limit, counting the decoded pixels): 50 MP of 8-bit
/// RGBA is 200 MB.
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// Decodes at once in the process, so a burst of thumbnail requests holds at most this many
/// full-size images in memory.
pub const CONCURRENT_DECODES: usize = 2;
/// JPEG quality of thumbnails: small files, no visible blocks at thumbnail size.
const QUALITY: u8 = 80;

/// The thumbnail of the blob at `blob_path` (named `sha256`), fitting `max_px`×`max_px` with
/// its aspect kept (never enlarged), as a JPEG in `cache_dir`: `<sha256>-<max_px>.jpg`. A cached
/// one is returned as it is; otherwise it is made, written to a temp file in `cache_dir` and
/// renamed into place, so a reader never sees half a thumbnail. The directory is made 0700 and
/// the file 0600 ([`crate::store::files`]): thumbnails show residents' homes as the photos do.
///
/// Blocking (file I/O and decoding): call it from `spawn_blocking`. The errors that mean "no
/// thumbnail" are in the module's table; `max_px` outside `1..=MAX_THUMB_PX` is
/// `invalid_query`, a bad `sha256` `bad_blob_hash`.
pub fn thumbnail(blob_path: &Path, cache_dir: &Path, sha256: &str, max_px: u32) -> Result<PathBuf> {
    // The name goes into a path: only a sha256 may, never `../`.
    blobs::check_name(sha256)?;
    if !(1..=MAX_THUMB_PX).contains(&max_px) {
        return Err(Error::InvalidQuery(format!("a thumbnail is 1 to {MAX_THUMB_PX} pixels wide, not {max_px}")));
    }
    let cached = cache_dir.join(format!("{sha256}-{max_px}.jpg"));
    if cached.is_file() {
        return Ok(cached);
    }
    let format = decodable_format(blob_path)?;
    let _turn = DECODES.enter();
    let thumb = shrink(decode(blob_path, format)?, max_px);

    private_dir(cache_dir)?;
    // Named after its target, so a crash's leftover says what it was.
    let tmp = tempfile::Builder::new().prefix(&format!(".{sha256}-{max_px}.")).suffix(".tmp").tempfile_in(cache_dir)?;
    private_file(tmp.path())?;
    let mut w = BufWriter::new(tmp.as_file());
    JpegEncoder::new_with_quality(&mut w, QUALITY).encode_image(&thumb).map_err(|e| Error::Internal(format!("jpeg encoder: {e}")))?;
    w.flush()?;
    drop(w);
    // No fsync: a thumbnail lost to a crash is made again on the next request.
    tmp.persist(&cached).map_err(|e| Error::Io(e.error))?;
    Ok(cached)
}

/// The format to decode the blob with, from its magic bytes and size; the refusals that need
/// no decoding.
fn decodable_format(blob_path: &Path) -> Result<ImageFormat> {
    let mut file = File::open(blob_path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let format = match content_type(&head[..n]) {
        None => return Err(Error::NotAnImage),
        Some("image/jpeg") => ImageFormat::Jpeg,
        Some("image/png") => ImageFormat::Png,
        Some("image/webp") => ImageFormat::WebP,
        Some("image/gif") => return Err(Error::ThumbnailUnsupported("GIF")),
        Some(_) => return Err(Error::ThumbnailUnsupported("HEIC")),
    };
    if len > MAX_SOURCE_BYTES {
        return Err(Error::PhotoTooLarge { max: MAX_SOURCE_BYTES });
    }
    Ok(format)
}

/// A reader of the blob; `decoding` sets the limits a decode runs under (reading the header
/// alone needs none, and without them a refusal can name the declared size).
fn reader(blob_path: &Path, format: ImageFormat, decoding: bool) -> Result<ImageReader<BufReader<File>>> {
    let mut r = ImageReader::new(BufReader::new(File::open(blob_path)?));
    r.set_format(format);
    let limits = if decoding {
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        limits
    } else {
        Limits::no_limits()
    };
    r.limits(limits);
    Ok(r)
}

/// The image, upright: the declared dimensions are checked from the header first (a second
/// open, as image's reader is consumed by reading them), then the pixels decoded and turned as
/// the EXIF orientation says (tablet cameras store portraits sideways and say so there).
fn decode(blob_path: &Path, format: ImageFormat) -> Result<DynamicImage> {
    let (width, height) = reader(blob_path, format, false)?.into_dimensions().map_err(|e| image_err(e, None))?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { width, height });
    }
    let size = Some((width, height));
    let mut decoder = reader(blob_path, format, true)?.into_decoder().map_err(|e| image_err(e, size))?;
    // A broken EXIF block loses the turn, not the thumbnail.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_err(e, size))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Fit `max_px`×`max_px` (image's `thumbnail`: each source pixel counts once, a box filter that
/// is sharp and fast for large reductions), and lay any transparency on white, as a page shows
/// it (JPEG has no alpha; dropping it would show hidden pixels, often black).
fn shrink(img: DynamicImage, max_px: u32) -> RgbImage {
    let img = if img.width() > max_px || img.height() > max_px { img.thumbnail(max_px, max_px) } else { img };
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let on_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
        image::Rgb([on_white(r), on_white(g), on_white(b)])
    })
}

fn image_err(e: ImageError, size: Option<(u32, u32)>) -> Error {
    match e {
        ImageError::IoError(io) => Error::Io(io),
        ImageError::Limits(_) => {
            let (width, height) = size.unwrap_or((0, 0));
            Error::ImageTooLarge { width, height }
        }
        other => Error::UndecodableImage(other.to_string()),
    }
}

/// A counting gate: [`CONCURRENT_DECODES`] at a time, the rest wait (blocking; decodes run
/// on blocking threads).
struct Gate {
    inside: Mutex<usize>,
    freed: Condvar,
}

static DECODES: Gate = Gate { inside: Mutex::new(0), freed: Condvar::new() };

struct Turn(&'static Gate);

impl Gate {
    fn enter(&'static self) -> Turn {
        // A panic in another decode poisons nothing worth refusing over: the count is restored
        // by its Turn's drop during unwinding.
        let mut inside = self.inside.lock().unwrap_or_else(|p| p.into_inner());
        while *inside >= CONCURRENT_DECODES {
            inside = self.freed.wait(inside).unwrap_or_else(|p| p.into_inner());
        }
        *inside += 1;
        Turn(self)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.0.inside.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

/// Remove the cached thumbnails of one blob (all sizes); for when the blob goes. A missing
/// cache directory is no error.
pub fn forget(cache_dir: &Path, sha256: &str) -> Result<()> {
    blobs::check_name(sha256)?;
    let entries = match fs::read_dir(cache_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let prefix = format!("{sha256}-");
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jpg")) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgba};

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])))
    }

    fn write(img: &DynamicImage, format: ImageFormat, path: &Path) {
        let img = if format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(img.to_rgb8()) } else { img.clone() };
        img.save_with_format(path, format).unwrap();
    }

    fn dims(path: &Path) -> (u32, u32) {
        let r = ImageReader::open(path).unwrap().with_guessed_format().unwrap();
        assert_eq!(r.format(), Some(ImageFormat::Jpeg), "a thumbnail is a JPEG");
        r.into_dimensions().unwrap()
    }

    #[test]
    fn content_types_by_magic_bytes() {
        let cases: [(&[u8], Option<&str>); 12] = [
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], Some("image/jpeg")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"\0\0\0\x18ftypheic\0\0\0\0", Some("image/heic")),
            (b"\0\0\0\x18ftypheix\0\0\0\0", Some("image/heic")),
            (b"\0\0\0\x18ftypmif1\0\0\0\0", Some("image/heif")),
            (b"GIF89a\x01\0\x01\0", Some("image/gif")),
            (b"GIF87a\x01\0\x01\0", Some("image/gif")),
            (b"\0\0\0\x18ftypisom\0\0\0\0", None),
            (b"RIFF\x24\0\0\0WAVEfmt ", None),
            (b"<svg xmlns=", None),
            (b"", None),
        ];
        for (head, want) in cases {
            assert_eq!(content_type(head), want, "{:?}: only JPEG, PNG, WebP, HEIC/HEIF and GIF are photos", String::from_utf8_lossy(head));
        }
        assert_eq!(content_type(b"\0\0\0\x18ftyp"), None, "a cut-off ftyp box names no brand");
    }

    #[test]
    fn png_and_jpeg_thumbnails_fit_keep_aspect_and_are_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("thumbs");
        for (format, name) in [(ImageFormat::Png, "a.png"), (ImageFormat::Jpeg, "a.jpg")] {
            let blob = dir.path().join(name);
            write(&gradient(640, 320), format, &blob);
            let _ = forget(&cache, SHA);
            let path = thumbnail(&blob, &cache, SHA, 160).unwrap();
            assert_eq!(path, cache.join(format!("{SHA}-160.jpg")), "{format:?}: the cache is named by hash and size");
            assert_eq!(dims(&path), (160, 80), "{format:?}: the thumbnail fits 160×160 and keeps 2:1");

            // A marker in the cached file: the second call must hand it back, not remake it.
            let mut marked = fs::read(&path).unwrap();
            marked.extend_from_slice(b"MARKER");
            fs::write(&path, &marked).unwrap();
            assert_eq!(thumbnail(&blob, &cache, SHA, 160).unwrap(), path, "{format:?}: the second call finds the cache");
            assert!(fs::read(&path).unwrap().ends_with(b"MARKER"), "{format:?}: a cached thumbnail is not rewritten");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&cache), 0o700, "the cache directory is private");
            assert_eq!(mode(&cache.join(format!("{SHA}-160.jpg"))), 0o600, "a thumbnail is private");
        }
        let leftovers: Vec<_> =
            fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().ends_with(".tmp")).collect();
        assert!(leftovers.is_empty(), "no temp file is left behind: {leftovers:?}");
    }

    #[test]
    fn small_images_are_not_enlarged_and_transparency_is_white() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("clear.png");
        DynamicImage::ImageRgba8(ImageBuffer::from_pixel(40, 30, Rgba([0, 0, 0, 0]))).save_with_format(&blob, ImageFormat::Png).unwrap();
        let path = thumbnail(&blob, dir.path(), SHA, 400).unwrap();
        assert_eq!(dims(&path), (40, 30), "an image smaller than the box keeps its size");
        let px = image::open(&path).unwrap().to_rgb8().get_pixel(20, 15).0;
        assert!(px.iter().all(|&c| c > 245), "transparent pixels are laid on white, not black: {px:?}");
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 60×20 JPEG whose EXIF says "rotate 90° clockwise" is a 20×60 portrait.
        let dir = tempfile::tempdir().unwrap();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&gradient(60, 20).to_rgb8()).unwrap();
        let exif: &[u8] = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(exif);
        jpeg.splice(2..2, app1);
        let blob = dir.path().join("turned.jpg");
        fs::write(&blob, jpeg).unwrap();
        let path = thumbnail(&blob, dir.path(), SHA, 100).unwrap();
        assert_eq!(dims(&path), (20, 60), "a thumbnail stands as the camera meant");
    }

    /// A PNG header declaring `w`×`h`, with no pixel data: what a decompression bomb shows
    /// before it inflates.
    fn png_declaring(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &[0x78, 0x9C, 0x03, 0x00][..]), (b"IEND", &[][..])] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut chunk = kind.to_vec();
            chunk.extend_from_slice(data);
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        png
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn huge_declared_dimensions_are_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        for (w, h) in [(20_000, 20_000), (12_001, 10), (10_000, 10_000)] {
            let blob = dir.path().join("bomb.png");
            fs::write(&blob, png_declaring(w, h)).unwrap();
            let e = thumbnail(&blob, dir.path(), SHA, 160).unwrap_err();
            assert_eq!(e.code(), "image_too_large", "{w}×{h}: past {MAX_SIDE} a side or {MAX_PIXELS} pixels is refused: {e}");
        }
        assert!(!dir.path().join(format!("{SHA}-160.jpg")).exists(), "a refused image leaves no thumbnail");
    }

    #[test]
    fn garbage_and_undecodable_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &str); 5] = [
            (b"#!/bin/sh\nrm -rf /\n", "not_an_image"),
            (b"", "not_an_image"),
            (b"\xFF\xD8\xFF\xE0garbage after a JPEG's magic", "undecodable_image"),
            (b"\0\0\0\x18ftypheic\0\0\0\0mdat", "thumbnail_unsupported"),
            (b"GIF89a\x01\0\x01\0\0\0\0;", "thumbnail_unsupported"),
        ];
        for (bytes, code) in cases {
            let blob = dir.path().join("blob");
            fs::write(&blob, bytes).unwrap();
            let e = thumbnail(&blob, dir.path(), SHA, 160).unwrap_err();
            assert_eq!(e.code(), code, "{:?}: refused, never served as a thumbnail", String::from_utf8_lossy(bytes));
        }
        let blob = dir.path().join("blob");
        assert_eq!(
            thumbnail(&blob, dir.path(), "../etc/passwd", 160).unwrap_err().code(),
            "bad_blob_hash",
            "only a sha256 names a cache file"
        );
        assert_eq!(thumbnail(&blob, dir.path(), SHA, 0).unwrap_err().code(), "invalid_query", "a thumbnail has a size");
        assert_eq!(thumbnail(&blob, dir.path(), SHA, MAX_THUMB_PX + 1).unwrap_err().code(), "invalid_query", "thumbnail sizes are bounded");
    }

    #[test]
    fn an_oversized_file_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("big.png");
        let f = File::create(&blob).unwrap();
        (&f).write_all(&png_declaring(100, 100)).unwrap();
        f.set_len(MAX_SOURCE_BYTES + 1).unwrap();
        assert_eq!(thumbnail(&blob, dir.path(), SHA, 160).unwrap_err().code(), "photo_too_large", "a file past the blob limit is not read");
    }
}
