//! A revoked tablet's way out: what it had not synced, sealed to a passphrase the worker
//! chooses, written to a file; then the store may be wiped.
//!
//! **The export file, version 1** (JSON, UTF-8):
//!
//! ```json
//! { "format": "gridwalk-unsynced-export", "version": 1,
//!   "kdf": { "algorithm": "argon2id", "memory_kib": 65536, "passes": 8, "lanes": 1, "salt": "<base64, 16 bytes>" },
//!   "cipher": "chacha20poly1305", "nonce": "<base64, 12 bytes>", "ciphertext": "<base64>" }
//! ```
//!
//! The key is argon2id(passphrase, salt) with the parameters named in the file (32 bytes out);
//! the cipher is ChaCha20-Poly1305 (RFC 8439) with the associated data
//! `gridwalk-unsynced-export/1`, so a file cut, edited or from another version does not open.
//! The plaintext is [`UnsyncedContents`] as JSON: the device and worker, the server, when, the
//! acknowledged position, every record the server does not hold as accepted (`queued`, and
//! `rejected` with its code and reason) with its event exactly as it would have been pushed,
//! and the bytes (base64) of every photo those records name that was not uploaded. Importing it
//! (on a supervisor's tablet or the console) reads this format; a later version gets a new
//! `version` and associated data.

use crate::error::{CoreError, Result};
use crate::tablet::{meta_get, meta_i64, meta_set, Tablet};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use gridwalk_domain::{DeviceId, Event, WorkerId};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const EXPORT_FORMAT: &str = "gridwalk-unsynced-export";
pub const EXPORT_VERSION: u32 = 1;
const AAD: &[u8] = b"gridwalk-unsynced-export/1";
/// The shortest export passphrase, in characters: it is all that guards the file.
pub const EXPORT_PASSPHRASE_MIN_CHARS: usize = 10;

/// argon2id's cost for the export key: the store's (64 MiB, 8 passes, one lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportKdf {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl ExportKdf {
    pub const CURRENT: ExportKdf = ExportKdf { memory_kib: 64 * 1024, passes: 8, lanes: 1 };
}

#[derive(Serialize, Deserialize)]
struct KdfHeader {
    algorithm: String,
    #[serde(flatten)]
    params: ExportKdf,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    format: String,
    version: u32,
    kdf: KdfHeader,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// What a revoked tablet hands over: everything the district does not hold from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnsyncedContents {
    pub device_id: Option<DeviceId>,
    pub worker_id: Option<WorkerId>,
    pub server_url: Option<String>,
    pub exported_at_ms: i64,
    pub acked_seq: u64,
    pub records: Vec<ExportedRecord>,
    pub photos: Vec<ExportedPhoto>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedRecord {
    pub seq: u64,
    /// `queued` (never acknowledged) or `rejected` (refused; `code` and `reason` say why).
    pub state: String,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedPhoto {
    pub sha256: String,
    pub mime: String,
    /// The image, base64.
    pub data: String,
}

/// Where a revoked tablet stands: what it still holds that the district does not, and
/// whether that has been exported (then, or when there is nothing, it may be wiped).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub revoked: bool,
    pub unsynced_records: u64,
    pub unsynced_photos: u64,
    /// The last export's file, when one covers everything unsynced now.
    pub exported_to: Option<String>,
    pub may_wipe: bool,
}

/// What [`Tablet::export_unsynced`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReceipt {
    pub path: String,
    pub records: u64,
    pub photos: u64,
    pub bytes: u64,
}

impl Tablet {
    /// The records and photos the district does not hold: the log after the acknowledged
    /// position, the rejected records, and the unsent photos they name. Withdrawn records are
    /// the worker's own "never mind" and stay out.
    pub fn unsynced_contents(&self) -> Result<UnsyncedContents> {
        let acked = self.acked_seq()?;
        let mut st = self.conn.prepare(
            "SELECT d.seq, d.sync_state, d.reject_code, d.reject_reason, e.body FROM device_log d
             JOIN events e ON e.event_id = d.event_id
             WHERE (d.seq > ?1 AND d.sync_state != 'withdrawn') OR d.sync_state = 'rejected' ORDER BY d.seq",
        )?;
        let rows = st.query_map([acked as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (seq, state, code, reason, body) = row?;
            // A record past the acknowledged position is queued whatever an older answer said.
            let state = if state == "rejected" { state } else { "queued".to_owned() };
            records.push(ExportedRecord { seq: seq as u64, state, code, reason, event: serde_json::from_str(&body)? });
        }
        let mut st = self.conn.prepare(
            "SELECT p.sha256, p.mime, p.data FROM photos p WHERE p.uploaded = 0 AND EXISTS (
                 SELECT 1 FROM device_log d JOIN events e ON e.event_id = d.event_id
                 WHERE d.sync_state != 'withdrawn' AND instr(e.body, p.sha256) > 0)
             ORDER BY p.created_ms, p.sha256",
        )?;
        let photos = st
            .query_map([], |r| Ok(ExportedPhoto { sha256: r.get(0)?, mime: r.get(1)?, data: B64.encode(r.get::<_, Vec<u8>>(2)?) }))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UnsyncedContents {
            device_id: self.identity.map(|i| i.device),
            worker_id: self.identity.map(|i| i.worker),
            server_url: meta_get(&self.conn, "server_url")?,
            exported_at_ms: self.clock.now_ms(),
            acked_seq: acked,
            records,
            photos,
        })
    }

    /// Where the tablet stands after a revocation (see [`Revocation`]).
    pub fn revocation(&self) -> Result<Revocation> {
        let revoked = meta_get(&self.conn, "revoked")?.is_some();
        let (records, photos, last_seq) = self.unsynced_counts()?;
        let covered = meta_get(&self.conn, "exported_to")?
            .filter(|_| meta_i64(&self.conn, "exported_through_seq").ok() == Some(last_seq))
            .filter(|_| meta_i64(&self.conn, "exported_photos").ok() == Some(photos as i64));
        let nothing = records == 0 && photos == 0;
        Ok(Revocation {
            revoked,
            unsynced_records: records,
            unsynced_photos: photos,
            may_wipe: revoked && (nothing || covered.is_some()),
            exported_to: covered,
        })
    }

    fn unsynced_counts(&self) -> Result<(u64, u64, i64)> {
        let c = self.unsynced_contents()?;
        let last_seq: i64 = self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM device_log", [], |r| r.get(0))?;
        Ok((c.records.len() as u64, c.photos.len() as u64, last_seq))
    }

    /// Seal what is unsynced to `passphrase` and write it into `dir` (a new file, written
    /// whole and synced before it takes its name). Only a revoked tablet exports: a live one
    /// syncs. The export is noted in the store, so [`Tablet::revocation`] lets the wipe proceed
    /// until something new is recorded.
    pub fn export_unsynced(&mut self, dir: &Path, passphrase: &str) -> Result<ExportReceipt> {
        if meta_get(&self.conn, "revoked")?.is_none() {
            return Err(CoreError::NotRevoked);
        }
        if passphrase.chars().count() < EXPORT_PASSPHRASE_MIN_CHARS {
            return Err(CoreError::WeakPassphrase { min: EXPORT_PASSPHRASE_MIN_CHARS });
        }
        let contents = self.unsynced_contents()?;
        let sealed = seal(&serde_json::to_vec(&contents)?, passphrase, ExportKdf::CURRENT);
        std::fs::create_dir_all(dir)?;
        let device = contents.device_id.map(|d| d.to_string()).unwrap_or_else(|| "unenrolled".into());
        let path: PathBuf = dir.join(format!("gridwalk-unsynced-{device}-{}.gwx", contents.exported_at_ms));
        let tmp = path.with_extension("gwx.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        let (_, photos, last_seq) = self.unsynced_counts()?;
        let tx = self.conn.transaction()?;
        meta_set(&tx, "exported_to", &path.display().to_string())?;
        meta_set(&tx, "exported_through_seq", &last_seq.to_string())?;
        meta_set(&tx, "exported_photos", &photos.to_string())?;
        tx.commit()?;
        Ok(ExportReceipt {
            path: path.display().to_string(),
            records: contents.records.len() as u64,
            photos: contents.photos.len() as u64,
            bytes: sealed.len() as u64,
        })
    }

    /// Close the store and delete it (the file, its WAL and shared-memory files). Refused
    /// unless the tablet is revoked and has nothing unsynced, or exported it all.
    pub fn wipe(self, store_path: &Path) -> Result<()> {
        let r = self.revocation()?;
        if !r.revoked {
            return Err(CoreError::NotRevoked);
        }
        if !r.may_wipe {
            return Err(CoreError::UnsyncedNotExported { records: r.unsynced_records, photos: r.unsynced_photos });
        }
        self.conn.close().map_err(|(_, e)| CoreError::Storage(e))?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            match std::fs::remove_file(format!("{}{suffix}", store_path.display())) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

fn argon2_key(passphrase: &str, salt: &[u8], p: ExportKdf) -> Result<[u8; 32]> {
    let params = argon2::Params::new(p.memory_kib, p.passes, p.lanes, Some(32)).map_err(|e| CoreError::BadExport(e.to_string()))?;
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| CoreError::BadExport(e.to_string()))?;
    Ok(key)
}

/// The export file for `plaintext` (see the module's documentation for the format).
fn seal(plaintext: &[u8], passphrase: &str, kdf: ExportKdf) -> Vec<u8> {
    let salt: [u8; 16] = rand::random();
    let nonce: [u8; 12] = rand::random();
    let key = argon2_key(passphrase, &salt, kdf).expect("static export KDF params");
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(&key))
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: AAD })
        .expect("ChaCha20-Poly1305 encrypts any length this tablet holds");
    let sealed = Sealed {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        kdf: KdfHeader { algorithm: "argon2id".into(), params: kdf, salt: B64.encode(salt) },
        cipher: "chacha20poly1305".into(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    };
    serde_json::to_vec(&sealed).expect("serializable")
}

/// Open an export file with its passphrase. Anything but an intact version-1 file and the
/// right passphrase is [`CoreError::BadExport`].
pub fn open_export(file: &[u8], passphrase: &str) -> Result<UnsyncedContents> {
    let bad = |why: &str| CoreError::BadExport(why.to_owned());
    let s: Sealed = serde_json::from_slice(file).map_err(|_| bad("not a Gridwalk export file"))?;
    if s.format != EXPORT_FORMAT || s.version != EXPORT_VERSION || s.kdf.algorithm != "argon2id" || s.cipher != "chacha20poly1305" {
        return Err(bad("an export format or version this build does not read"));
    }
    let salt = B64.decode(&s.kdf.salt).map_err(|_| bad("a damaged salt"))?;
    let nonce = B64.decode(&s.nonce).ok().filter(|n| n.len() == 12).ok_or_else(|| bad("a damaged nonce"))?;
    let ciphertext = B64.decode(&s.ciphertext).map_err(|_| bad("a damaged ciphertext"))?;
    let key = argon2_key(passphrase, &salt, s.kdf.params)?;
    let plain = ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: AAD })
        .map_err(|_| bad("the wrong passphrase, or the file was changed"))?;
    serde_json::from_slice(&plain).map_err(|_| bad("the contents are not an export of version 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tablet::{Identity, NewVisit};
    use gridwalk_clock::ManualClock;
    use std::sync::Arc;

    const PASS: &str = "ten chars!!";

    fn tablet(dir: &Path) -> Tablet {
        let mut t = Tablet::open(&dir.join("t.db"), &crate::StoreKey([5; 32]), Arc::new(ManualClock::new(1_700_000_000_000))).unwrap();
        t.set_identity(Identity { worker: WorkerId::from_parts(1, [1; 10]), device: gridwalk_domain::DeviceId::from_parts(1, [2; 10]) })
            .unwrap();
        t.replace_registry(&gridwalk_domain::registry_gen::demo_registry()).unwrap();
        t
    }

    fn visit(t: &mut Tablet) {
        let courtyard = yard(t);
        t.record_visit(NewVisit {
            courtyard,
            mode: gridwalk_domain::VisitMode::WalkThrough,
            started_at_ms: None,
            ended_at_ms: None,
            location: None,
            notes: "楼道灯坏了".into(),
            residents_met: 2,
            linked_issues: vec![],
        })
        .unwrap();
    }

    fn yard(t: &Tablet) -> gridwalk_domain::CourtyardId {
        t.search_courtyards(&crate::CourtyardQuery { text: "惠新西街33".into(), limit: 1, ..Default::default() }).unwrap()[0].id
    }

    fn revoke(t: &Tablet) {
        meta_set(&t.conn, "revoked", "1").unwrap();
    }

    #[test]
    fn a_revoked_tablet_with_nothing_unsynced_may_wipe_and_the_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let t = tablet(dir.path());
        assert_eq!(t.revocation().unwrap(), Revocation::default(), "a live tablet is not revoked and may not wipe");
        revoke(&t);
        let r = t.revocation().unwrap();
        assert!(r.revoked && r.may_wipe && r.unsynced_records == 0, "revoked with nothing unsynced: wipe at once: {r:?}");
        t.wipe(&dir.path().join("t.db")).unwrap();
        for f in ["t.db", "t.db-wal", "t.db-shm"] {
            assert!(!dir.path().join(f).exists(), "{f} is deleted by the wipe");
        }
    }

    #[test]
    fn unsynced_records_must_be_exported_before_the_wipe_and_the_export_opens_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = tablet(dir.path());
        visit(&mut t);
        visit(&mut t);
        let photo = t.store_photo(b"\xFF\xD8\xFF\xE0 a tiny jpeg").unwrap();
        let courtyard = yard(&t);
        t.report_issue(crate::NewIssue {
            courtyard,
            category: gridwalk_domain::Category::StreetLight,
            source: gridwalk_domain::IssueSource::Visit,
            description: "路灯不亮".into(),
            contact: None,
            location: None,
            photos: vec![photo.clone()],
        })
        .unwrap();
        let out = dir.path().join("exports");
        assert!(matches!(t.export_unsynced(&out, PASS), Err(CoreError::NotRevoked)), "a live tablet syncs, it does not export");
        revoke(&t);
        let r = t.revocation().unwrap();
        assert!(!r.may_wipe && r.unsynced_records == 4 && r.unsynced_photos == 1, "two visits, an issue and its photo are unsynced: {r:?}");
        let wiped = tablet_again(dir.path()).wipe(&dir.path().join("t.db"));
        assert!(matches!(wiped, Err(CoreError::UnsyncedNotExported { records: 4, photos: 1 })), "no wipe before the export: {wiped:?}");
        let mut t = tablet_again(dir.path());
        assert!(matches!(t.export_unsynced(&out, "short"), Err(CoreError::WeakPassphrase { .. })), "a short passphrase is refused");
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "and writes nothing");
        let receipt = t.export_unsynced(&out, PASS).unwrap();
        assert_eq!((receipt.records, receipt.photos), (4, 1));
        let file = std::fs::read(&receipt.path).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains("楼道灯"), "the export is not readable without the passphrase");
        let opened = open_export(&file, PASS).unwrap();
        assert_eq!(opened, t.unsynced_contents().unwrap().with_time(opened.exported_at_ms), "the file holds exactly what was unsynced");
        assert_eq!(opened.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4], "every record, in sequence");
        assert_eq!(B64.decode(&opened.photos[0].data).unwrap(), b"\xFF\xD8\xFF\xE0 a tiny jpeg", "and the photo's bytes");
        assert!(matches!(open_export(&file, "ten chars!?"), Err(CoreError::BadExport(_))), "another passphrase opens nothing");
        let mut cut = file.clone();
        let at = cut.len() - 10;
        cut[at] = if cut[at] == b'A' { b'B' } else { b'A' };
        assert!(matches!(open_export(&cut, PASS), Err(CoreError::BadExport(_))), "a changed file opens nothing");
        let r = t.revocation().unwrap();
        assert!(r.may_wipe && r.exported_to.as_deref() == Some(receipt.path.as_str()), "after the export the wipe may proceed: {r:?}");
        visit(&mut t);
        assert!(!t.revocation().unwrap().may_wipe, "a record made after the export needs another export");
        t.export_unsynced(&out, PASS).unwrap();
        t.wipe(&dir.path().join("t.db")).unwrap();
        assert!(!dir.path().join("t.db").exists(), "the store is gone");
        assert!(std::path::Path::new(&receipt.path).exists(), "and the export stays");
    }

    /// The same store opened again, later (so new records get new ids).
    fn tablet_again(dir: &Path) -> Tablet {
        Tablet::open(&dir.join("t.db"), &crate::StoreKey([5; 32]), Arc::new(ManualClock::new(1_700_000_600_000))).unwrap()
    }

    impl UnsyncedContents {
        fn with_time(mut self, at: i64) -> Self {
            self.exported_at_ms = at;
            self
        }
    }

    #[test]
    fn an_acknowledged_record_is_not_exported_and_a_rejected_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = tablet(dir.path());
        visit(&mut t);
        visit(&mut t);
        let ids: Vec<_> = t.outbox(2).unwrap().into_iter().map(|l| l.event.id).collect();
        let resp = gridwalk_proto::PushResponse {
            acked_seq: 2,
            results: vec![
                gridwalk_proto::PushResult { seq: 1, event_id: ids[0], outcome: gridwalk_proto::PushOutcome::Accepted },
                gridwalk_proto::PushResult {
                    seq: 2,
                    event_id: ids[1],
                    outcome: gridwalk_proto::PushOutcome::Rejected { code: "out_of_scope".into(), reason: "not yours".into() },
                },
            ],
            server_time_ms: 0,
            epoch: None,
        };
        t.apply_push_response(&resp, None).unwrap();
        let c = t.unsynced_contents().unwrap();
        assert_eq!(c.records.len(), 1, "the accepted record is on the server; the rejected one is not: {c:?}");
        assert_eq!((c.records[0].seq, c.records[0].state.as_str(), c.records[0].code.as_deref()), (2, "rejected", Some("out_of_scope")));
    }
}
