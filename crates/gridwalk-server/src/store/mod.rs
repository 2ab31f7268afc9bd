//! The storage seam. The use cases in [`crate::app`] speak to storage only through the traits
//! here, in domain types: [`Reader`] for what a read may ask, [`Tx`] for what a write may do
//! inside one transaction. An engine implements [`Store`]: [`sqlite`] (embedded, the default)
//! or [`postgres`] (several server processes on one database). They are the only modules that
//! know a database driver (and the only places where a [`Scope`] becomes SQL); [`engine`] says
//! which one a data directory uses.
//!
//! Writes are jobs: [`Storage::write`] queues a closure that runs inside the engine's next
//! (group) commit and resolves only once that commit is durable or has failed, so an answer
//! never claims what the disk does not hold.

pub mod blobs;
pub mod engine;
pub mod files;
pub mod postgres;
pub mod sqlite;

use crate::error::{Error, Result};
use crate::model::*;
use gridwalk_domain::foresight::coverage::VisitTally;
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::OpenIssue;
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::{Assignee, Category, CourtyardId, DeviceId, Entity, Event, EventId, IssueId, Registry, Role, VisitState, WorkerId};
use gridwalk_proto::{PulledEvent, ScopeUnit, WorkerInfo};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The `meta` key of the database's epoch: a random id made when the database is created and
/// made anew by every restore. Tablets compare it with the one they last saw: a new epoch means
/// the server may have lost what it acknowledged, so they re-send and re-pull (see
/// `gridwalk_core::sync::plan::realign`).
pub const EPOCH_META_KEY: &str = "restore_epoch";

/// An event about to be stored, with where it belongs and what the server knows of it.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub event: &'a Event,
    pub seq: u64,
    pub hash: &'a str,
    /// The event's serialized form, as hashed.
    pub json: &'a str,
    pub place: &'a Place,
    pub received_ms: i64,
}

/// A message to a resident about to be queued (see `app::notices`).
#[derive(Clone, Copy)]
pub struct NewNotice<'a> {
    pub event_id: EventId,
    pub issue_id: IssueId,
    pub kind: NoticeKind,
    /// What may be told once per issue (`responded`, `resolved:<round>`, `progress:<event>`):
    /// a second notice on the same topic is not queued.
    pub topic: &'a str,
    pub phone: &'a str,
    pub text: &'a str,
    pub now_ms: i64,
}

/// Which issue views a list wants, in id order after `after`.
#[derive(Clone, Debug, Default)]
pub struct IssueQuery {
    pub courtyard: Option<CourtyardId>,
    pub status: Option<&'static str>,
    pub after: Option<IssueId>,
    pub limit: u32,
}

/// One question of [`Reader::closed_issues_between`]: [`Reader::closed_issue_between`]'s
/// arguments.
#[derive(Clone, Copy, Debug)]
pub struct ClosedAsk<'a> {
    pub category: &'a str,
    pub courtyard: CourtyardId,
    pub from_ms: i64,
    pub to_ms: i64,
    pub except: IssueId,
}

/// What a push needs to know before it settles its events ([`Reader::push_context`]).
#[derive(Debug, Default)]
pub struct PushContext {
    /// The device's highest contiguous settled sequence.
    pub held_seq: u64,
    /// Where those of the push's event ids already stored are.
    pub slots: HashMap<EventId, (DeviceId, u64)>,
    /// Those of the push's entities with a stored event.
    pub stored: HashSet<Entity>,
}

/// What a read may ask.
pub trait Reader {
    fn meta(&self, key: &str) -> Result<Option<String>>;

    fn registry_version(&self) -> Result<u64>;
    fn registry(&self) -> Result<Registry>;

    fn worker_by_username(&self, username: &str) -> Result<Option<WorkerRecord>>;
    fn worker_by_id(&self, id: WorkerId) -> Result<Option<WorkerRecord>>;
    /// Every worker, by username.
    fn workers(&self) -> Result<Vec<WorkerInfo>>;
    fn login_locked_until(&self, username: &str) -> Result<Option<i64>>;
    /// Until when logins to `username` from `address` are locked (per-address lockout).
    fn login_locked_until_from(&self, username: &str, address: &str) -> Result<Option<i64>>;
    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>>;
    /// The device a notify-only token's hash names.
    fn device_by_notify_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>>;
    /// How many orders were assigned or transferred to `worker`, and urges on issues assigned to
    /// them, stored after the global sequence `after`.
    fn news_for_worker(&self, worker: WorkerId, after: u64) -> Result<u64>;
    fn devices(&self) -> Result<Vec<DeviceRow>>;
    fn device_exists(&self, id: DeviceId) -> Result<bool>;

    /// Highest contiguous sequence held for a device (accepted or refused, both settled).
    fn held_seq(&self, device: DeviceId) -> Result<u64>;
    /// The content hash of the event stored at (device, seq), if one is.
    fn event_hash_at(&self, device: DeviceId, seq: u64) -> Result<Option<String>>;
    fn refusal_at(&self, device: DeviceId, seq: u64) -> Result<Option<StoredRefusal>>;
    /// Where an event id is stored: (device, seq).
    fn event_slot(&self, id: EventId) -> Result<Option<(DeviceId, u64)>>;
    /// [`Reader::event_slot`] for many ids: those stored, with where. An engine a round trip
    /// away answers in one statement.
    fn event_slots(&self, ids: &[EventId]) -> Result<HashMap<EventId, (DeviceId, u64)>> {
        let mut found = HashMap::new();
        for &id in ids {
            if let Some(slot) = self.event_slot(id)? {
                found.insert(id, slot);
            }
        }
        Ok(found)
    }
    /// [`Reader::entity_stored`] for many entities: those with a stored event.
    fn entities_stored(&self, entities: &[Entity]) -> Result<HashSet<Entity>> {
        let mut stored = HashSet::new();
        for &entity in entities {
            if self.entity_stored(entity)? {
                stored.insert(entity);
            }
        }
        Ok(stored)
    }
    /// A push's three questions at once (one round trip on an engine a network away).
    fn push_context(&self, device: DeviceId, ids: &[EventId], entities: &[Entity]) -> Result<PushContext> {
        Ok(PushContext { held_seq: self.held_seq(device)?, slots: self.event_slots(ids)?, stored: self.entities_stored(entities)? })
    }
    /// Every stored event of one entity, in stored (global sequence) order: the fold takes the
    /// first report in it as the entity's report.
    fn entity_events(&self, entity: Entity) -> Result<Vec<Event>>;
    /// Whether any event of the entity is stored (then its report is: nothing else is stored
    /// about an entity the server has no report of).
    fn entity_stored(&self, entity: Entity) -> Result<bool>;
    /// The highest global sequence stored.
    fn max_server_seq(&self) -> Result<u64>;
    /// What was stored after `after`, in sequence order, at most `limit` (the change feed).
    fn changes_after(&self, after: u64, limit: u64) -> Result<Vec<Change>>;
    /// The stored events of one entity with a global sequence below `before`, in sequence order.
    fn entity_events_before(&self, entity: Entity, before: u64) -> Result<Vec<PulledEvent>>;
    /// Every entity the log holds events of.
    fn entities(&self) -> Result<Vec<Entity>>;
    /// Events in `scope` after the global sequence `after`, except `own_device`'s, at most
    /// `limit` of them. Department staff get the events of issues whistled to their departments.
    fn pull_page(&self, scope: &Scope, own_device: DeviceId, after: u64, limit: u64) -> Result<Vec<PulledEvent>>;

    fn issue_place(&self, id: IssueId) -> Result<Option<Place>>;
    fn issue_view(&self, id: IssueId) -> Result<Option<IssueView>>;
    /// Whether `issue` is whistled to one of `departments`.
    fn whistled_to(&self, issue: IssueId, departments: &BTreeSet<String>) -> Result<bool>;
    /// Issue views in scope (by place, or whistled to the scope's departments).
    fn issue_views(&self, scope: &Scope, q: &IssueQuery) -> Result<Vec<IssueView>>;
    /// Every issue that is not closed, by id.
    fn open_issue_views(&self) -> Result<Vec<IssueView>>;
    /// The most recently closed issue at `courtyard` in `category` closed in `[from_ms, to_ms]`,
    /// other than `except`.
    fn closed_issue_between(
        &self,
        category: &str,
        courtyard: CourtyardId,
        from_ms: i64,
        to_ms: i64,
        except: IssueId,
    ) -> Result<Option<IssueId>>;
    /// [`Reader::closed_issue_between`] for many questions, answered in order.
    fn closed_issues_between(&self, asks: &[ClosedAsk<'_>]) -> Result<Vec<Option<IssueId>>> {
        asks.iter().map(|a| self.closed_issue_between(a.category, a.courtyard, a.from_ms, a.to_ms, a.except)).collect()
    }
    /// Issues in scope (by place) received in `[from_ms, to_ms)`, with their places.
    fn issues_received(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(IssueView, Place)>>;
    /// One page of the public listing (one indexed query of at most `page.limit` rows).
    fn public_page(&self, page: &PublicPage) -> Result<Vec<IssueView>>;
    /// The issue whose public id ([`crate::model::public_id`]) this is.
    fn issue_by_public_id(&self, public_id: &str) -> Result<Option<IssueView>>;
    /// Pledged issues in scope.
    fn pledged_issue_views(&self, scope: &Scope) -> Result<Vec<IssueView>>;
    fn visit_views(&self, scope: &Scope, courtyard: Option<CourtyardId>, limit: u32) -> Result<Vec<VisitState>>;
    /// Escalations on issues in scope (by place), newest first.
    fn alerts(&self, scope: &Scope, limit: u32) -> Result<Vec<(EscalationRow, IssueView)>>;

    /// The issue and receipt time of a hotline order number.
    fn hotline_order(&self, order_no: &str) -> Result<Option<(IssueId, i64)>>;

    /// Whether a stored event of `device` names the photo, and the size it declared (if the
    /// event declares one).
    fn photo_ref(&self, device: DeviceId, sha256: &str) -> Result<Option<Option<u64>>>;
    /// Bytes `device` uploaded to blobs it last wrote to at or after `since_ms`.
    fn uploaded_bytes_since(&self, device: DeviceId, since_ms: i64) -> Result<u64>;

    /// The id of the live API key with this hash.
    fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>>;
    fn api_keys(&self) -> Result<Vec<ApiKeyInfo>>;
    fn api_key_exists(&self, id: &str) -> Result<bool>;

    /// The most recent audit entries, newest first.
    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;

    /// A queued (or once queued) order by its number.
    fn unplaced_order(&self, order_no: &str) -> Result<Option<UnplacedRow>>;
    /// Orders still waiting for a dispatcher, oldest first.
    fn unplaced_orders(&self, limit: u32) -> Result<Vec<UnplacedRow>>;
    /// A courtyard's responsible grid worker (责任网格员).
    fn responsible_worker(&self, courtyard: CourtyardId) -> Result<Option<WorkerId>>;
    /// Every courtyard's responsible worker.
    fn responsible_workers(&self) -> Result<Vec<(CourtyardId, WorkerId)>>;
    /// Open issues waiting in any community's supervisor queue, oldest receipt first.
    fn community_queue_views(&self, limit: u32) -> Result<Vec<IssueView>>;
    /// Open issues assigned to `assignee` (a queue), oldest receipt first.
    fn assigned_views(&self, assignee: &Assignee, limit: u32) -> Result<Vec<IssueView>>;
    /// Queued messages due at `now_ms`, oldest first, at most `limit`; per issue only the
    /// oldest queued one, so an issue's messages go out in the order they were queued.
    fn due_notices(&self, now_ms: i64, limit: u32) -> Result<Vec<NoticeRow>>;
    /// Every message about one issue, oldest first.
    fn issue_notices(&self, issue: IssueId) -> Result<Vec<NoticeRow>>;

    /// Whether a device is a browser session (`console`) or a tablet.
    fn device_kind(&self, device: DeviceId) -> Result<Option<String>>;
    /// Issues in scope that match `q`, newest receipt first, each handed to `each` as read (an
    /// export streams them; a page collects `q.limit`). `each` returns false to stop.
    fn each_ticket(&self, scope: &Scope, q: &TicketQuery, each: &mut dyn FnMut(IssueView) -> Result<bool>) -> Result<()>;
    /// How many issues in scope match `q` (its cursor and limit aside).
    fn ticket_count(&self, scope: &Scope, q: &TicketQuery) -> Result<u64>;
    /// Today's four figures in scope: received in `[day_start_ms, now_ms)`, those answered
    /// within the hour, open and unanswered past their deadline at `now_ms`, resolved today.
    fn today_figures(&self, scope: &Scope, day_start_ms: i64, now_ms: i64) -> Result<gridwalk_proto::console::TodayFigures>;
    /// The rate facts of the complaints in scope received in `[from_ms, to_ms)` (proactive
    /// tasks count apart: `rates::is_complaint`), from the view's columns (no view is parsed),
    /// with their places.
    fn rate_facts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(Place, gridwalk_domain::rates::RateFacts)>>;
    /// Per courtyard in scope with any issue: open, and overdue at `now_ms` (the map's counts;
    /// its hotspot level is the foresight test over `issue_buckets`).
    fn courtyard_counts(&self, scope: &Scope, now_ms: i64) -> Result<Vec<CourtyardCounts>>;
    /// 未诉先办's visit counts: visits in scope started in `[from_ms, to_ms)`, grouped by
    /// courtyard, worker, mode, ISO week (Beijing) and whether their point lay farther than
    /// `far_visit_m` from the courtyard. One GROUP BY over the view's columns.
    fn visit_tallies(&self, scope: &Scope, from_ms: i64, to_ms: i64, far_visit_m: f64) -> Result<Vec<VisitTally>>;
    /// Issues in scope received in `[from_ms, to_ms)` by courtyard, category and bucket of
    /// `bucket_ms` counted from `from_ms`. Duplicates, cancelled reports and proactive tasks
    /// are left out: the first two are no new problem, and a task is the district's own
    /// answer to a warning (counting it would feed the hotspot that made it).
    fn issue_buckets(&self, scope: &Scope, from_ms: i64, to_ms: i64, bucket_ms: i64) -> Result<Vec<IssueBucket>>;
    /// Per courtyard in scope: issues received in `[from_ms, to_ms)` that repeat an earlier
    /// one closed there (recurrence linking's `RecurrenceFlagged`).
    fn recurrence_counts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(CourtyardId, u64)>>;
    /// Open issues of `category` whose point lies in `bbox`, received in `[from_ms, to_ms]`:
    /// the candidates of the intake's duplicate check (one indexed range).
    fn open_issues_near(&self, category: Category, bbox: &BoundingBox, from_ms: i64, to_ms: i64) -> Result<Vec<OpenIssue>>;
    /// What a device last reported, and when.
    fn device_report(&self, device: DeviceId) -> Result<Option<(i64, gridwalk_proto::console::DeviceReport)>>;
    /// Every device with its worker and last report, newest first.
    fn device_details(&self) -> Result<Vec<DeviceDetail>>;
    /// One page of the audit log.
    fn audit_page(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>>;
}

/// What a write may do, inside one transaction.
pub trait Tx: Reader {
    /// Run `part` in a nested savepoint: if it fails (or panics), what it wrote is undone and
    /// the rest of the transaction goes on. For jobs over many rows, so one bad row is
    /// skipped rather than failing the whole job.
    fn apart(&self, part: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()>;

    fn set_meta(&self, key: &str, value: &str) -> Result<()>;

    /// Replace the stored registry wholesale and bump its version.
    fn replace_registry(&self, registry: &Registry) -> Result<u64>;

    fn insert_worker(&self, w: &WorkerInfo, password_hash: &str, now_ms: i64) -> Result<()>;
    /// Count a failed login; returns the consecutive failures.
    fn note_login_failure(&self, username: &str) -> Result<i64>;
    fn lock_login(&self, username: &str, until_ms: i64) -> Result<()>;
    fn clear_login_failures(&self, username: &str) -> Result<()>;
    /// Count a failed login to `username` from `address`; returns that pair's consecutive failures.
    fn note_login_failure_from(&self, username: &str, address: &str) -> Result<i64>;
    fn lock_login_from(&self, username: &str, address: &str, until_ms: i64) -> Result<()>;
    fn clear_login_failures_from(&self, username: &str, address: &str) -> Result<()>;
    /// Disable (`Some(now)`) or enable (`None`) a worker; false when there is no such worker.
    fn set_worker_disabled(&self, worker: WorkerId, disabled_ms: Option<i64>) -> Result<bool>;
    fn set_password_hash(&self, worker: WorkerId, password_hash: &str) -> Result<()>;
    fn set_role_and_scope(&self, worker: WorkerId, role: Role, scope: &[ScopeUnit]) -> Result<()>;
    /// Revoke every live device of `worker` but `except`; returns how many were revoked.
    fn revoke_worker_devices(&self, worker: WorkerId, except: Option<DeviceId>, now_ms: i64) -> Result<usize>;
    /// A device's token now expires at `expires_ms` (a sync renewed it, or a login set it).
    fn set_device_expiry(&self, device: DeviceId, expires_ms: i64) -> Result<()>;
    fn insert_device(&self, id: DeviceId, worker: WorkerId, name: &str, token_hash: Option<&str>, now_ms: i64) -> Result<()>;
    /// Give `worker`'s live device a new session token hash (its notify-only token stays):
    /// false, and nothing changed, when the device is not theirs or is revoked.
    fn reissue_device_token(&self, device: DeviceId, worker: WorkerId, token_hash: &str) -> Result<bool>;
    /// Mark a device revoked (if it is not already); false when there is no such device.
    fn revoke_device(&self, id: DeviceId, now_ms: i64) -> Result<bool>;
    fn set_held_seq(&self, device: DeviceId, seq: u64) -> Result<()>;

    /// Append an event under the next global sequence (an engine may send it with the next
    /// statement that needs an answer: its error, if any, comes then).
    fn insert_event(&self, e: &NewEvent<'_>) -> Result<()>;
    fn insert_refusal(&self, device: DeviceId, seq: u64, event: EventId, hash: &str, r: &Refusal, now_ms: i64) -> Result<()>;
    /// Write an issue's view, at `point` (`app::views::issue_point`), and the whistle index
    /// that follows it.
    fn put_issue_view(&self, view: &IssueView, place: &Place, point: Option<GeoPoint>) -> Result<()>;
    /// Write a visit's view, `distance_m` from its courtyard (`app::views::visit_distance_m`).
    fn put_visit_view(&self, state: &VisitState, place: &Place, distance_m: Option<f64>) -> Result<()>;

    /// Record an escalation; false when it was already recorded (each happens once).
    fn insert_escalation(&self, e: &EscalationRow) -> Result<bool>;
    /// A stored event of `device` names this photo (declaring `bytes`, if it does).
    fn insert_photo_ref(&self, sha256: &str, device: DeviceId, bytes: Option<u64>) -> Result<()>;
    /// `device` uploaded `bytes` more of the blob.
    fn add_uploaded_bytes(&self, sha256: &str, device: DeviceId, bytes: u64, now_ms: i64) -> Result<()>;
    fn insert_hotline_order(&self, order_no: &str, issue: IssueId, courtyard: CourtyardId, received_ms: i64, now_ms: i64) -> Result<()>;
    fn insert_api_key(&self, id: &str, name: &str, key_hash: &str, now_ms: i64) -> Result<()>;
    fn revoke_api_key(&self, id: &str, now_ms: i64) -> Result<()>;
    /// One audit line, in the same transaction as the action it records.
    fn audit(&self, at_ms: i64, actor: &str, action: &str, detail: &str) -> Result<()>;
    /// Queue an order that could not be placed; false if its number was already queued.
    fn insert_unplaced_order(&self, row: &UnplacedRow) -> Result<bool>;
    /// A dispatcher placed a queued order: its issue.
    fn mark_order_placed(&self, order_no: &str, issue: IssueId, now_ms: i64) -> Result<()>;
    fn insert_notify_token(&self, device: DeviceId, token_hash: &str, now_ms: i64) -> Result<()>;
    fn set_responsible_worker(&self, courtyard: CourtyardId, worker: WorkerId, now_ms: i64) -> Result<()>;

    /// Queue a message to a resident, due at once; false (nothing queued) when its event, or
    /// its issue's topic, already has one.
    fn insert_notice(&self, n: &NewNotice<'_>) -> Result<bool>;
    /// One more try was taken by the sender: the message is `sent`. False if it was not queued.
    fn mark_notice_sent(&self, seq: i64, now_ms: i64) -> Result<bool>;
    /// One more try failed and another is due at `next_attempt_ms`.
    fn mark_notice_retry(&self, seq: i64, next_attempt_ms: i64, error: &str) -> Result<()>;
    /// One more try failed and none follows: the message is `failed`.
    fn mark_notice_failed(&self, seq: i64, error: &str) -> Result<()>;

    /// Hold, until this transaction ends, the right to ingest `device`'s events: a second
    /// process ingesting the same device waits, then sees what this one stored. (One SQLite
    /// writer is already alone: nothing to hold there.)
    fn lock_device(&self, device: DeviceId) -> Result<()>;
    /// Take or renew the lease `name` for `holder` until `now_ms + ttl_ms`: true if `holder`
    /// holds it now, false while another holder's lease runs. Jobs that must run in one
    /// process at a time (the escalation sweep) go only while they hold theirs.
    fn take_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool>;

    /// Mark a device as a browser session (`console`) or a tablet.
    fn set_device_kind(&self, device: DeviceId, kind: &str) -> Result<()>;
    /// Keep what a device last said of its own sync.
    fn put_device_report(&self, device: DeviceId, report: &gridwalk_proto::console::DeviceReport, now_ms: i64) -> Result<()>;
}

/// A write job as an engine runs it: given the transaction, it does its work and says whether
/// it succeeded; the engine then tells it the commit's fate. An engine that cannot open a
/// transaction refuses the job instead: it never runs outside one, so an error answer always
/// means nothing of it was stored.
pub struct WriteJob(Box<JobFn>);

/// A job's body: given the transaction (None: refused, not run), what to keep and whom to tell.
type JobFn = dyn FnOnce(Option<&dyn Tx>) -> Settle + Send;

impl WriteJob {
    /// Run the job inside the engine's open transaction.
    pub fn run(self, tx: &dyn Tx) -> Settle {
        (self.0)(Some(tx))
    }

    /// Answer the job with `why` without running it.
    pub fn refuse(self, why: Error) {
        ((self.0)(None).reply)(Err(why))
    }
}

/// What a job left to do after it ran: whether to keep its work, and whom to tell the fate.
pub struct Settle {
    pub ok: bool,
    pub reply: Box<dyn FnOnce(Result<()>) + Send>,
}

/// A writer connection as a group commit drives it: its transaction seen through the storage
/// traits, and the statements that open, split and close the transaction.
pub(crate) trait Batch {
    fn tx(&self) -> &dyn Tx;
    /// Run transaction-control SQL (`BEGIN`, `COMMIT`, …). A lock another connection held is
    /// [`Error::Busy`], the database away [`Error::Unavailable`].
    fn control(&self, sql: &str) -> Result<()>;
    /// Open the next job's savepoint (an engine may send it with the job's first statement).
    fn open_job(&self) -> Result<()> {
        self.control("SAVEPOINT job")
    }
    /// Keep what the job that ran ok wrote. `Ok(Err(e))`: the job's own writes failed after
    /// all (an engine that sends writes late learns it only now), and it was undone alone.
    /// `Err`: the savepoint could not be settled; the transaction is in doubt.
    fn keep_job(&self) -> Result<Result<()>> {
        self.control("RELEASE job").map(Ok)
    }
    /// Undo what the job that failed wrote.
    fn undo_job(&self) -> Result<()> {
        self.control("ROLLBACK TO job; RELEASE job")
    }
}

/// What every job of a batch is told when the batch stored nothing: "try again" stays "try
/// again"; anything else is a storage fault, with what failed.
fn batch_error(e: &Error, what: &str) -> Error {
    match e {
        Error::Busy => Error::Busy,
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        other => Error::Storage(format!("{what}: {other}")),
    }
}

/// Most jobs SQLite folds into one transaction: bounds the latency of the first job in a
/// batch.
pub(crate) const MAX_GROUP: usize = 512;

/// Take the next batch: wait for a job, then every job queued behind it (up to `max`).
/// `None` once every sender is gone.
pub(crate) fn next_batch(rx: &std::sync::mpsc::Receiver<WriteJob>, max: usize) -> Option<Vec<WriteJob>> {
    let mut batch = vec![rx.recv().ok()?];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// One group commit, the same on every engine: `begin`, every job in its own savepoint (a job
/// that fails is rolled back alone), one commit (`commit()` says how, after the jobs ran), and
/// only then every answer. A job never runs outside the transaction: if it cannot begin, every
/// job is refused unrun; a savepoint that cannot be opened or settled leaves the transaction in
/// doubt (a failed job's writes could be kept), so the whole batch is rolled back.
pub(crate) fn group_commit(b: &dyn Batch, begin: &str, commit: &dyn Fn() -> String, batch: Vec<WriteJob>) {
    let n = batch.len();
    if let Err(e) = b.control(begin) {
        tracing::warn!(error = %e, jobs = n, "writer could not begin a transaction; every job refused, nothing stored");
        let _ = b.control("ROLLBACK");
        for job in batch {
            job.refuse(batch_error(&e, "could not begin a transaction"));
        }
        return;
    }
    // Each job's settlement, and the error that replaces its own answer when its writes
    // failed only as the savepoint was kept.
    let mut pending: Vec<(Settle, Option<Error>)> = Vec::with_capacity(n);
    let mut broken: Option<Error> = None;
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        if let Err(e) = b.open_job() {
            job.refuse(batch_error(&e, "could not open a savepoint"));
            broken = Some(e);
            break;
        }
        let p = job.run(b.tx());
        let settled = if p.ok { b.keep_job() } else { b.undo_job().map(Ok) };
        match settled {
            Ok(Ok(())) => pending.push((p, None)),
            Ok(Err(late)) => pending.push((p, Some(late))),
            Err(e) => {
                tracing::error!(error = %e, "savepoint failed; the batch is rolled back");
                pending.push((p, None));
                broken = Some(e);
                break;
            }
        }
    }
    let committed = match broken {
        Some(e) => {
            for job in jobs {
                job.refuse(batch_error(&e, "the batch was rolled back"));
            }
            Err(e)
        }
        None => b.control(&commit()),
    };
    if let Err(e) = &committed {
        tracing::error!(error = %e, jobs = n, "group commit failed; rolled back, nothing stored");
        let _ = b.control("ROLLBACK");
    } else {
        tracing::trace!(jobs = n, "group commit");
    }
    for (p, late) in pending {
        let fate = match (&committed, late) {
            (Err(e), _) => Err(batch_error(e, "commit failed")),
            // Undone alone: the job's answer is the error, whatever it computed.
            (Ok(()), Some(late)) => Err(late),
            (Ok(()), None) => Ok(()),
        };
        (p.reply)(fate);
    }
}

/// Where a write job's answer goes.
trait Answer<T>: Send + 'static {
    /// Whether nobody waits for the answer any more.
    fn abandoned(&self) -> bool;
    fn send(self, r: Result<T>);
}

impl<T: Send + 'static> Answer<T> for oneshot::Sender<Result<T>> {
    fn abandoned(&self) -> bool {
        self.is_closed()
    }

    fn send(self, r: Result<T>) {
        let _ = oneshot::Sender::send(self, r);
    }
}

/// A blocking caller waits until it is answered.
impl<T: Send + 'static> Answer<T> for std::sync::mpsc::Sender<Result<T>> {
    fn abandoned(&self) -> bool {
        false
    }

    fn send(self, r: Result<T>) {
        let _ = std::sync::mpsc::Sender::send(&self, r);
    }
}

/// A storage engine.
pub trait Store: Send + Sync + 'static {
    /// Queue a job for the next commit. The job runs in its own savepoint: a job that fails is
    /// undone alone.
    fn submit(&self, job: WriteJob) -> Result<()>;
    /// Run `job` on a read connection on this thread.
    fn read_with(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<()>) -> Result<()>;
    /// Call `wake` whenever another process may have committed events (this process's own
    /// commits poke the feed directly). An engine only one process writes to has nothing to
    /// tell.
    fn watch(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<()> {
        let _ = wake;
        Ok(())
    }
}

/// The handle the use cases hold: typed reads and writes over any [`Store`].
#[derive(Clone)]
pub struct Storage(Arc<dyn Store>);

impl Storage {
    pub fn new(store: impl Store) -> Storage {
        Storage(Arc::new(store))
    }

    /// See [`Store::watch`].
    pub fn watch(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<()> {
        self.0.watch(wake)
    }

    /// A job that runs `f` and hands its outcome, joined with the commit's fate, to `answer`.
    /// A job whose caller has gone (the client hung up on its request) is not run: nothing
    /// waits for what it would store, the device sends it again, and an overloaded server
    /// sheds work nobody wants instead of answering requests long abandoned.
    fn job<T, F>(f: F, answer: impl Answer<T>) -> WriteJob
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T> + Send + 'static,
    {
        WriteJob(Box::new(move |store: Option<&dyn Tx>| {
            let Some(store) = store else {
                // Refused before it ran: the engine's reason is the whole answer.
                let reply = move |why: Result<()>| {
                    answer.send(Err(why.err().unwrap_or_else(|| Error::Internal("a job that never ran was told it committed".into()))))
                };
                return Settle { ok: false, reply: Box::new(reply) };
            };
            if answer.abandoned() {
                tracing::debug!("a write job whose caller has gone is not run");
                return Settle { ok: false, reply: Box::new(|_| {}) };
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(store)))
                .unwrap_or_else(|_| Err(Error::Internal("a write job panicked".into())));
            let ok = outcome.is_ok();
            let reply = Box::new(move |commit: Result<()>| answer.send(commit.and(outcome)));
            Settle { ok, reply }
        }))
    }

    /// Run `f` inside the next commit. Resolves only after the commit is durable (or failed).
    /// Dropped before its job runs (the request was abandoned), the job is not run.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        self.0.submit(Self::job(f, tx))?;
        rx.await.map_err(|_| Error::Internal("the writer dropped a job".into()))?
    }

    /// [`Storage::write`] for callers that may block this thread (the CLI, start-up).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel::<Result<T>>();
        self.0.submit(Self::job(f, tx))?;
        rx.recv().map_err(|_| Error::Internal("the writer dropped a job".into()))?
    }

    /// Run `f` on a read connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Reader) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f)).await.map_err(|e| Error::Internal(format!("read task failed: {e}")))?
    }

    /// Run `f` on a read connection on this thread.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&dyn Reader) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.0.read_with(&mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("a read job did not run".into()))
    }
}
