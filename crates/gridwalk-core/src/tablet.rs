//! The tablet's use cases. One [`Tablet`] owns the store connection; every call that records
//! something returns only after its transaction (event, device log, views) has committed.

use crate::db::{self, StoreKey};
use crate::error::{CoreError, Result};
use crate::views;
use gridwalk_clock::Clock;
use gridwalk_domain::*;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Who records on this tablet: set at enrolment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub worker: WorkerId,
    pub device: DeviceId,
}

pub struct Tablet {
    pub(crate) conn: Connection,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) identity: Option<Identity>,
    pub(crate) next_seq: u64,
    pub(crate) hlc: Hlc,
    pub(crate) clock_offset_ms: i64,
}

impl std::fmt::Debug for Tablet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tablet").field("identity", &self.identity).field("next_seq", &self.next_seq).finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewVisit {
    pub courtyard: CourtyardId,
    pub mode: VisitMode,
    /// Defaults to now.
    pub started_at_ms: Option<i64>,
    /// Defaults to now.
    pub ended_at_ms: Option<i64>,
    pub location: Option<Location>,
    pub notes: String,
    pub residents_met: u32,
    #[serde(default)]
    pub linked_issues: Vec<IssueId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewIssue {
    pub courtyard: CourtyardId,
    pub category: Category,
    pub source: IssueSource,
    pub description: String,
    pub contact: Option<ResidentContact>,
    pub location: Option<Location>,
    /// Photos already stored with [`Tablet::store_photo`], attached in the same transaction.
    #[serde(default)]
    pub photos: Vec<String>,
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    // An unchanged value is not written again: a commit that dirties no page is no fsync, and
    // a sync with nothing new rewrites its cursor and clock offset unchanged.
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value
         WHERE meta.value IS NOT excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

pub(crate) fn meta_i64(conn: &Connection, key: &str) -> Result<i64> {
    Ok(meta_get(conn, key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

impl Tablet {
    /// Open the encrypted store at `path` with `key`. A wrong key is [`CoreError::WrongKey`].
    pub fn open(path: &Path, key: &StoreKey, clock: Arc<dyn Clock>) -> Result<Tablet> {
        let mut conn = db::open(path, key)?;
        // A migration that added view columns asks for every issue row to be folded again.
        if meta_get(&conn, "refold_issues")?.is_some() {
            let tx = conn.transaction()?;
            views::refold_all(&tx)?;
            tx.execute("DELETE FROM meta WHERE key = 'refold_issues'", [])?;
            tx.commit()?;
        }
        let identity = meta_get(&conn, "identity")?.map(|s| serde_json::from_str(&s)).transpose()?;
        let next_seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM device_log", [], |r| r.get(0))?;
        // The HLC is not stored on its own: the newest stamp among the stored events is at least
        // everything this tablet has issued or merged, which is all a tick needs.
        let hlc_key: Option<String> = conn.query_row("SELECT max(hlc) FROM events", [], |r| r.get(0))?;
        let hlc = hlc_key.as_deref().and_then(Hlc::from_key).unwrap_or(Hlc::ZERO);
        let clock_offset_ms = meta_i64(&conn, "clock_offset_ms")?;
        Ok(Tablet { conn, clock, identity, next_seq: next_seq as u64, hlc, clock_offset_ms })
    }

    /// Re-encrypt the store under `key` (the shell raises the KDF's cost this way on unlock).
    pub fn change_key(&mut self, key: &StoreKey) -> Result<()> {
        db::rekey(&self.conn, key)
    }

    /// Set who records on this tablet. Enrolment calls this; so do demos and tests that run
    /// without a server.
    pub fn set_identity(&mut self, identity: Identity) -> Result<()> {
        meta_set(&self.conn, "identity", &serde_json::to_string(&identity)?)?;
        self.identity = Some(identity);
        Ok(())
    }

    /// Keep who logged in (role and scope, as the login answered): the rules and the
    /// department inbox read it. Enrolment calls this; so do tests without a server.
    pub fn set_worker(&mut self, info: &gridwalk_proto::WorkerInfo) -> Result<()> {
        meta_set(&self.conn, "worker", &serde_json::to_string(info)?)
    }

    pub fn identity(&self) -> Option<Identity> {
        self.identity
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The device clock corrected by the last measured offset: the server's idea of now.
    pub fn corrected_now_ms(&self) -> i64 {
        self.clock.now_ms() + self.clock_offset_ms
    }

    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms
    }

    /// Read-only access for queries in this crate and for tests that inspect the file.
    #[cfg(test)]
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn new_ids(&self) -> (i64, [u8; 10]) {
        (self.clock.now_ms(), self.clock.random())
    }

    /// Record events in one transaction: each is validated, stamped, logged with the next
    /// gapless sequence, stored, and its entity re-folded. Returns after the commit.
    pub(crate) fn record(&mut self, items: Vec<(Entity, EventBody)>) -> Result<Vec<Event>> {
        let identity = self.identity.ok_or(CoreError::NotEnrolled)?;
        for (_, body) in &items {
            validate::body(body)?;
        }
        let mut hlc = self.hlc;
        let mut seq = self.next_seq;
        let mut out = Vec::with_capacity(items.len());
        let tx = self.conn.transaction()?;
        for (entity, body) in items {
            let now = self.clock.now_ms();
            hlc = hlc.tick(now);
            let event = Event {
                id: EventId::from_parts(now.max(0) as u64, self.clock.random()),
                author: identity.worker,
                device: identity.device,
                hlc,
                wall_ms: now,
                clock_offset_ms: self.clock_offset_ms,
                entity,
                body,
            };
            let (_, bytes) = views::insert_event(&tx, &event, None)?;
            tx.prepare_cached("INSERT INTO device_log (seq, event_id, recorded_ms, bytes) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
                seq as i64,
                event.id.to_string(),
                now,
                bytes as i64
            ])?;
            seq += 1;
            out.push(event);
        }
        let mut touched: Vec<Entity> = out.iter().map(|e| e.entity).collect();
        touched.dedup();
        for entity in touched {
            views::refold(&tx, entity)?;
        }
        tx.commit()?;
        self.hlc = hlc;
        self.next_seq = seq;
        Ok(out)
    }

    fn issue_exists(&self, id: IssueId) -> Result<()> {
        let found: Option<i64> =
            self.conn.prepare_cached("SELECT 1 FROM issues WHERE id = ?1")?.query_row([id.to_string()], |r| r.get(0)).optional()?;
        found.map(|_| ()).ok_or(CoreError::NotFound { what: "issue" })
    }

    fn courtyard_exists(&self, id: CourtyardId) -> Result<()> {
        let found: Option<i64> =
            self.conn.prepare_cached("SELECT 1 FROM courtyards WHERE id = ?1")?.query_row([id.to_string()], |r| r.get(0)).optional()?;
        found.map(|_| ()).ok_or(CoreError::NotFound { what: "courtyard" })
    }

    pub fn record_visit(&mut self, v: NewVisit) -> Result<VisitId> {
        self.courtyard_exists(v.courtyard)?;
        for issue in &v.linked_issues {
            self.issue_exists(*issue)?;
        }
        let now = self.clock.now_ms();
        let (ms, rnd) = self.new_ids();
        let id = VisitId::from_parts(ms.max(0) as u64, rnd);
        let visit = Visit {
            courtyard: v.courtyard,
            mode: v.mode,
            started_at_ms: v.started_at_ms.unwrap_or(now),
            ended_at_ms: v.ended_at_ms.unwrap_or(now),
            location: v.location,
            notes: v.notes,
            residents_met: v.residents_met,
            linked_issues: v.linked_issues,
        };
        self.record(vec![(Entity::Visit(id), EventBody::VisitRecorded(visit))])?;
        Ok(id)
    }

    pub fn report_issue(&mut self, n: NewIssue) -> Result<IssueId> {
        self.courtyard_exists(n.courtyard)?;
        for sha in &n.photos {
            self.photo_exists(sha)?;
        }
        let (ms, rnd) = self.new_ids();
        let id = IssueId::from_parts(ms.max(0) as u64, rnd);
        let report = IssueReport {
            courtyard: n.courtyard,
            category: n.category,
            source: n.source,
            description: n.description,
            contact: n.contact,
            location: n.location,
            received_at_ms: None,
            external_ref: None,
        };
        let mut items = vec![(Entity::Issue(id), EventBody::IssueReported(report))];
        for sha in n.photos {
            items.push((Entity::Issue(id), self.photo_event(&sha)?));
        }
        self.record(items)?;
        Ok(id)
    }

    fn on_issue(&mut self, id: IssueId, body: EventBody) -> Result<EventId> {
        self.issue_exists(id)?;
        Ok(self.record(vec![(Entity::Issue(id), body)])?[0].id)
    }

    /// Another resident reports the same open problem (我也遇到): counted on the issue instead
    /// of opening a second one (一事一单).
    pub fn me_too(&mut self, id: IssueId, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::MeToo { note: note.to_owned(), order_no: None })
    }

    /// The resident was contacted (响应): stops the 1-hour clock.
    pub fn respond(&mut self, id: IssueId, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::IssueResponded { note: note.to_owned() })
    }

    pub fn add_note(&mut self, id: IssueId, text: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::NoteAdded { text: text.to_owned() })
    }

    pub fn attach_photo(&mut self, id: IssueId, sha256: &str) -> Result<EventId> {
        let body = self.photo_event(sha256)?;
        self.on_issue(id, body)
    }

    pub fn resolve(&mut self, id: IssueId, note: &str, photo_sha256: Option<String>) -> Result<EventId> {
        if let Some(sha) = &photo_sha256 {
            self.photo_exists(sha)?;
        }
        self.on_issue(id, EventBody::IssueResolved { note: note.to_owned(), photo_sha256 })
    }

    pub fn record_callback(&mut self, id: IssueId, satisfaction: Satisfaction, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::CallbackRecorded { satisfaction, note: note.to_owned() })
    }

    pub fn reopen(&mut self, id: IssueId, reason: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::IssueReopened { reason: reason.to_owned() })
    }

    /// Record progress on the work (工作进展).
    pub fn add_progress(&mut self, id: IssueId, note: &str, public: bool) -> Result<EventId> {
        self.on_issue(id, EventBody::ProgressAdded { note: note.to_owned(), public })
    }

    /// Whistle the issue up (吹哨) to `target` at `level`; the target must report in.
    pub fn whistle(&mut self, id: IssueId, level: WhistleLevel, target: &str, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Whistled { level, target: target.to_owned(), note: note.to_owned() })
    }

    /// The whistled target reports in (报到).
    pub fn report_in(&mut self, id: IssueId, target: &str, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::ReportedIn { target: target.to_owned(), note: note.to_owned() })
    }

    pub fn close(&mut self, id: IssueId, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::IssueClosed { note: note.to_owned() })
    }

    /// Adopt the issue as this cadre's pledged problem.
    pub fn pledge(&mut self, id: IssueId, kind: PledgeKind, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Pledged { kind, note: note.to_owned() })
    }

    /// Take the order (签收): it is mine now, and the dispatcher sees it was received.
    pub fn accept(&mut self, id: IssueId, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Accepted { note: note.to_owned() })
    }

    /// Hand the order back (退单) to the dispatcher, with the reason.
    pub fn return_order(&mut self, id: IssueId, reason: ReturnReason, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Returned { reason, note: note.to_owned() })
    }

    /// Ask for more time (延期申请) until `until_ms` (server clock).
    pub fn request_extension(&mut self, id: IssueId, until_ms: i64, reason: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::ExtensionRequested { until_ms, reason: reason.to_owned() })
    }

    /// A supervisor sends the issue to another worker or a community (转派).
    pub fn transfer(&mut self, id: IssueId, to: Assignee, note: &str) -> Result<EventId> {
        if let Assignee::Community(c) = to {
            self.community_exists(c)?;
        }
        self.on_issue(id, EventBody::Transferred { to, note: note.to_owned() })
    }

    /// A supervisor presses the assignee (催办).
    pub fn urge(&mut self, id: IssueId, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Urged { note: note.to_owned() })
    }

    /// A supervisor reviews a resolution (审核): passed closes it, refused sends it back.
    pub fn review(&mut self, id: IssueId, approved: bool, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Reviewed { approved, note: note.to_owned() })
    }

    /// A supervisor approves or refuses the pending extension (延期审批).
    pub fn decide_extension(&mut self, id: IssueId, approved: bool, note: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::ExtensionDecided { approved, note: note.to_owned() })
    }

    /// A supervisor closes the report as a repeat of `of` (重复件).
    pub fn close_as_duplicate(&mut self, id: IssueId, of: IssueId, note: &str) -> Result<EventId> {
        self.issue_exists(of)?;
        self.on_issue(id, EventBody::ClosedAsDuplicate { of, note: note.to_owned() })
    }

    /// A supervisor cancels a mistaken report (撤销).
    pub fn cancel(&mut self, id: IssueId, reason: &str) -> Result<EventId> {
        self.on_issue(id, EventBody::Cancelled { reason: reason.to_owned() })
    }

    fn community_exists(&self, id: CommunityId) -> Result<()> {
        let found: Option<i64> =
            self.conn.prepare_cached("SELECT 1 FROM communities WHERE id = ?1")?.query_row([id.to_string()], |r| r.get(0)).optional()?;
        found.map(|_| ()).ok_or(CoreError::NotFound { what: "community" })
    }

    /// Load a registry (the demo one, an import, or the server's snapshot of this worker's
    /// scope), replacing what the tablet held, in one transaction.
    pub fn replace_registry(&mut self, reg: &Registry) -> Result<()> {
        let tx = self.conn.transaction()?;
        crate::registry::replace(&tx, reg)?;
        tx.commit()?;
        Ok(())
    }
}
