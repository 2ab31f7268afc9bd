//! 告知进展、告知结果: the resident who reported an issue is told when it is responded to, when
//! a worker marks a progress step public, and when it is resolved.
//!
//! # Queueing
//! [`queue_notices`] runs inside the writer job that stored the events (a push, a
//! server-authored event), on the issue as just folded: one row in the `notices` table per
//! newly stored event that the fold applied and that tells the resident something, rendered
//! from [`NoticeTemplates`]. So a message is queued exactly when its event commits, and never
//! without it. Re-running it for the same event queues nothing (the event id is unique), and an
//! issue is told of its response once and of each resolution once, even if a late event in fold
//! order displaces the one that was told.
//!
//! # Delivery
//! [`deliver`] takes the due messages (per issue in order), hands each to a [`NoticeSender`]
//! outside any transaction, and records the outcome: sent, retry later
//! (`retry_base * 2^attempts`, capped), or failed (refused, or out of attempts).
//!
//! **Once.** A message is marked `sent` only after the sender said so (for the webhook, a 2xx).
//! If the server dies between the send and the mark, the message is still `queued` and is sent
//! again after the restart: delivery is at least once, and the resend carries the same id (the
//! event's id, also the `Idempotency-Key` header), which lets the gateway drop it. Nothing is
//! lost: a queued message is in the database from the commit of its event on.
//!
//! **The phone** leaves the server only through the sender. Logs carry it masked
//! ([`gridwalk_domain::mask_phone`]), the staff API masks it, and the `Debug` of every type that
//! holds it masks it.

use super::query::MAX_ISSUE_PAGE;
use super::registry::RegistryIndex;
use crate::config::NoticeSenderConfig;
pub use crate::config::NoticeTemplates;
use crate::error::{Error, Result};
use crate::model::{NoticeKind, NoticeRow, NoticeState, Scope};
use crate::store::{NewNotice, Reader, Storage, Tx};
use gridwalk_clock::Clock;
use gridwalk_domain::{mask_phone, EventBody, EventId, IssueId, IssueState};
use gridwalk_proto::{NoticeInfo, NoticeList};
use serde::Serialize;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two tries of one message.
pub const RETRY_CAP_MS: i64 = 3_600_000;
/// Tries of one message, and the first wait, when the sender's configuration names none (the
/// log sender never fails, but a sender passed in by a caller may).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// How long the webhook sender waits for the gateway's answer.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Most messages one delivery round sends.
pub const DELIVERY_BATCH: u32 = 100;

// ---------------------------------------------------------------------------------------------
// Templates and queueing

/// Fill `{name}` placeholders from `vars` in one pass: a value is never scanned again, so a
/// note that contains `{order_no}` stays as written. Unknown placeholders are left as they are.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let filled = after.find('}').and_then(|close| vars.iter().find(|(k, _)| *k == &after[..close]).map(|(_, v)| (close, v)));
        match filled {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a history entry tells the resident, if anything: its kind, template and note.
fn telling<'a>(templates: &'a NoticeTemplates, body: &'a EventBody) -> Option<(NoticeKind, &'a str, &'a str)> {
    match body {
        EventBody::IssueResponded { note } => Some((NoticeKind::Responded, &templates.responded, note)),
        EventBody::ProgressAdded { note, public: true } => Some((NoticeKind::Progress, &templates.progress, note)),
        EventBody::IssueResolved { note, .. } => Some((NoticeKind::Resolved, &templates.resolved, note)),
        _ => None,
    }
}

/// Queue the messages that the events `new_events` (just stored) of the issue `state` (folded
/// *with* its history) tell the resident: one per event the fold applied that is a response, a
/// public progress step or a resolution, if the report has a contact. An empty template turns
/// its kind of message off. Idempotent: an event that already has a message gets none, and so
/// does a second response or a second resolution in the same round of the issue (a late event
/// that displaced the one told). Returns how many were queued.
pub fn queue_notices(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    templates: &NoticeTemplates,
    state: &IssueState,
    new_events: &[EventId],
    now_ms: i64,
) -> Result<usize> {
    let Some(report) = &state.report else { return Ok(0) };
    let Some(contact) = report.contact.as_ref().filter(|c| !c.phone.trim().is_empty()) else { return Ok(0) };
    if new_events.is_empty() {
        return Ok(0);
    }
    let fresh: HashSet<EventId> = new_events.iter().copied().collect();
    let order_no = report.external_ref.clone().unwrap_or_else(|| state.id.to_string());
    let courtyard = registry.courtyard(report.courtyard).map(|c| c.name.as_str()).unwrap_or_default();
    let category = report.category.label_zh();
    let mut resolutions = 0u32;
    let mut queued = 0;
    for h in state.history.iter().filter(|h| h.conflict.is_none()) {
        let round = resolutions;
        if matches!(h.event.body, EventBody::IssueResolved { .. }) {
            resolutions += 1;
        }
        if !fresh.contains(&h.event.id) {
            continue;
        }
        let Some((kind, template, note)) = telling(templates, &h.event.body) else { continue };
        if template.trim().is_empty() {
            continue;
        }
        let topic = match kind {
            NoticeKind::Responded => "responded".to_owned(),
            NoticeKind::Resolved => format!("resolved:{round}"),
            NoticeKind::Progress => format!("progress:{}", h.event.id),
        };
        let vars = [("order_no", order_no.as_str()), ("category", category), ("courtyard", courtyard), ("note", note.trim())];
        let text = render(template, &vars);
        let notice =
            NewNotice { event_id: h.event.id, issue_id: state.id, kind, topic: &topic, phone: &contact.phone, text: &text, now_ms };
        if tx.insert_notice(&notice)? {
            queued += 1;
            tracing::info!(issue = %state.id, event = %h.event.id, kind = kind.code(), phone = %mask_phone(&contact.phone), "notice queued");
        }
    }
    Ok(queued)
}

/// The messages about one issue as staff see them (phones masked); out of scope is refused.
pub fn issue_notices(r: &dyn Reader, scope: &Scope, id: IssueId) -> Result<NoticeList> {
    let place = r.issue_place(id)?.ok_or_else(|| Error::NotFound(format!("issue {id}")))?;
    if !scope.contains(&place) {
        return Err(Error::OutOfScope(format!("issue {id}")));
    }
    let rows = r.issue_notices(id)?;
    let notices = rows.iter().take(MAX_ISSUE_PAGE as usize).map(notice_info).collect();
    Ok(NoticeList { notices })
}

/// A stored message as the staff API shows it: never the phone itself.
pub fn notice_info(n: &NoticeRow) -> NoticeInfo {
    NoticeInfo {
        id: n.event_id,
        kind: n.kind.code().to_owned(),
        phone_masked: mask_phone(&n.phone),
        text: n.text.clone(),
        state: n.state.code().to_owned(),
        attempts: n.attempts,
        next_attempt_ms: (n.state == NoticeState::Queued).then_some(n.next_attempt_ms),
        last_error: n.last_error.clone(),
        created_ms: n.created_ms,
        sent_ms: n.sent_ms,
    }
}

// ---------------------------------------------------------------------------------------------
// Senders

/// One message as a sender gets it. `id` is the message's stable, globally unique id: the id
/// of the event it tells of (not the local row number, which a new data directory would reuse
/// and a gateway would then drop as a resend). Its `Debug` masks the phone.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OutgoingNotice {
    pub id: String,
    pub phone: String,
    pub text: String,
}

impl std::fmt::Debug for OutgoingNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingNotice").field("id", &self.id).field("phone", &mask_phone(&self.phone)).field("text", &self.text).finish()
    }
}

/// Why a send failed: worth another try later, or not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("transient: {0}")]
    Transient(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn code(&self) -> &'static str {
        match self {
            SendError::Transient(_) => "notice_transient",
            SendError::Permanent(_) => "notice_permanent",
        }
    }
}

/// What a send returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Where messages go. `Ok` means the message is taken (it is then never sent again by this
/// server); an implementation must not log the phone unmasked.
pub trait NoticeSender: Send + Sync {
    fn send<'a>(&'a self, notice: &'a OutgoingNotice) -> SendFuture<'a>;
}

/// The default: writes each message to the log, phone masked, and counts it as sent. Nothing
/// leaves the server.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSender;

impl NoticeSender for LogSender {
    fn send<'a>(&'a self, notice: &'a OutgoingNotice) -> SendFuture<'a> {
        tracing::info!(notice = %notice.id, phone = %mask_phone(&notice.phone), text = %notice.text, "notice (log sender: not sent anywhere)");
        Box::pin(std::future::ready(Ok(())))
    }
}

/// POSTs each message as JSON `{id, phone, text}` with `Idempotency-Key: <id>`, so a gateway
/// can drop a resend. 2xx is sent; 5xx, 408, 429, a timeout or no connection is transient;
/// any other answer (4xx, and 3xx: redirects are not followed, the phone goes to the configured
/// address only) is permanent.
#[derive(Debug)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl WebhookSender {
    pub fn new(url: &str, timeout: Duration) -> Result<WebhookSender> {
        let url = reqwest::Url::parse(url).map_err(|e| Error::BadNoticeSender(format!("webhook url {url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BadNoticeSender(format!("webhook url {url}: use http or https")));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::BadNoticeSender(format!("webhook client: {e}")))?;
        Ok(WebhookSender { client, url })
    }
}

/// How a webhook's HTTP status settles a send.
pub fn webhook_outcome(status: u16) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError::Transient(format!("gateway answered HTTP {status}"))),
        _ => Err(SendError::Permanent(format!("gateway answered HTTP {status}"))),
    }
}

/// A reqwest error and its causes, without the URL (which may hold a gateway key).
fn describe(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if timeout && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

impl NoticeSender for WebhookSender {
    fn send<'a>(&'a self, notice: &'a OutgoingNotice) -> SendFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(self.url.clone())
                .header("Idempotency-Key", &notice.id)
                .json(notice)
                .send()
                .await
                .map_err(|e| SendError::Transient(describe(e)))?;
            webhook_outcome(resp.status().as_u16())
        })
    }
}

/// The sender a configuration names.
pub fn sender_for(config: &NoticeSenderConfig) -> Result<Arc<dyn NoticeSender>> {
    Ok(match config {
        NoticeSenderConfig::Log => Arc::new(LogSender),
        NoticeSenderConfig::Webhook { url, .. } => Arc::new(WebhookSender::new(url, WEBHOOK_TIMEOUT)?),
    })
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// How often and how long a message is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub max_attempts: u32,
    pub base_ms: i64,
    pub cap_ms: i64,
}

impl RetryPolicy {
    pub fn of(config: &NoticeSenderConfig) -> RetryPolicy {
        let (max_attempts, base) = match config {
            NoticeSenderConfig::Log => (DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BASE),
            NoticeSenderConfig::Webhook { max_attempts, retry_base, .. } => (*max_attempts, *retry_base),
        };
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base_ms: i64::try_from(base.as_millis()).unwrap_or(i64::MAX),
            cap_ms: RETRY_CAP_MS,
        }
    }
}

/// The wait before the next try after a failed one, when `attempts` tries had failed before
/// it: `base_ms * 2^attempts`, at most `cap_ms`; never negative, never overflowing.
pub fn next_attempt(attempts: u32, base_ms: i64, cap_ms: i64) -> i64 {
    let (base, cap) = (base_ms.max(0), cap_ms.max(0));
    let factor = if attempts >= 62 { i64::MAX } else { 1i64 << attempts };
    base.saturating_mul(factor).min(cap)
}

/// What one try leaves to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retry { at_ms: i64, error: String },
    Failed { error: String },
}

/// Settle one try of a message that had `attempts` tries before it (pure).
pub fn settle(result: Result<(), SendError>, attempts: u32, policy: &RetryPolicy, now_ms: i64) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(SendError::Permanent(error)) => Outcome::Failed { error },
        Err(SendError::Transient(error)) => {
            let made = attempts.saturating_add(1);
            if made >= policy.max_attempts {
                Outcome::Failed { error: format!("gave up after {made} attempts: {error}") }
            } else {
                Outcome::Retry { at_ms: now_ms.saturating_add(next_attempt(attempts, policy.base_ms, policy.cap_ms)), error }
            }
        }
    }
}

/// What one delivery round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl DeliveryRound {
    pub fn is_empty(&self) -> bool {
        self.sent + self.retried + self.failed == 0
    }
}

/// Record one try's outcome (inside a writer job).
fn record(tx: &dyn Tx, seq: i64, outcome: &Outcome, now_ms: i64) -> Result<()> {
    match outcome {
        Outcome::Sent => {
            tx.mark_notice_sent(seq, now_ms)?;
        }
        Outcome::Retry { at_ms, error } => tx.mark_notice_retry(seq, *at_ms, error)?,
        Outcome::Failed { error } => tx.mark_notice_failed(seq, error)?,
    }
    Ok(())
}

/// One delivery round: send every due message (at most [`DELIVERY_BATCH`]) and record each
/// outcome as soon as it is known. The send runs outside any transaction (the writer never
/// waits for a gateway); the mark is its own durable write. The caller makes sure only one
/// round runs at a time.
pub async fn deliver(store: &Storage, clock: &dyn Clock, sender: &dyn NoticeSender, policy: &RetryPolicy) -> Result<DeliveryRound> {
    let now = clock.now_ms();
    let due = store.read(move |r| r.due_notices(now, DELIVERY_BATCH)).await?;
    let mut round = DeliveryRound::default();
    for row in due {
        let outgoing = OutgoingNotice { id: row.event_id.to_string(), phone: row.phone.clone(), text: row.text.clone() };
        let result = sender.send(&outgoing).await;
        let now_ms = clock.now_ms();
        let outcome = settle(result, row.attempts, policy, now_ms);
        let phone = mask_phone(&row.phone);
        match &outcome {
            Outcome::Sent => {
                round.sent += 1;
                tracing::info!(notice = %row.event_id, issue = %row.issue_id, phone = %phone, attempt = row.attempts + 1, "notice sent");
            }
            Outcome::Retry { at_ms, error } => {
                round.retried += 1;
                tracing::warn!(notice = %row.event_id, phone = %phone, attempt = row.attempts + 1, retry_in_ms = at_ms - now_ms, error = %error, "notice not sent; will retry");
            }
            Outcome::Failed { error } => {
                round.failed += 1;
                tracing::error!(notice = %row.event_id, issue = %row.issue_id, phone = %phone, attempt = row.attempts + 1, error = %error, "notice failed; given up");
            }
        }
        // A crash right here resends this message after the restart, under the same id: the
        // gateway's Idempotency-Key check drops it.
        let seq = row.seq;
        store.write(move |tx| record(tx, seq, &outcome, now_ms)).await?;
    }
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use gridwalk_domain::{
        fold_issue, registry_gen, Category, DeviceId, Entity, Event, Hlc, IssueReport, IssueSource, ResidentContact, WorkerId,
    };

    const T0: i64 = 1_760_000_000_000;

    fn ev(n: u8, author: u8, body: EventBody) -> Event {
        Event {
            id: EventId::from_parts((T0 + i64::from(n)) as u64, [n; 10]),
            author: WorkerId::from_parts(1, [author; 10]),
            device: DeviceId::from_parts(1, [author; 10]),
            hlc: Hlc::new(T0 + i64::from(n) * 1000, 0),
            wall_ms: T0 + i64::from(n) * 1000,
            clock_offset_ms: 0,
            entity: Entity::Issue(issue()),
            body,
        }
    }

    fn issue() -> IssueId {
        IssueId::from_parts(T0 as u64, [1; 10])
    }

    fn report(yard: &gridwalk_domain::Courtyard, contact: bool) -> EventBody {
        EventBody::IssueReported(IssueReport {
            courtyard: yard.id,
            category: Category::StreetLight,
            source: IssueSource::Hotline,
            description: "楼下路灯不亮".into(),
            contact: contact.then(|| ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
            location: None,
            received_at_ms: Some(T0),
            external_ref: Some("BJ12345-0001".into()),
        })
    }

    fn responded(note: &str) -> EventBody {
        EventBody::IssueResponded { note: note.into() }
    }
    fn progress(public: bool) -> EventBody {
        EventBody::ProgressAdded { note: "已联系物业更换灯泡".into(), public }
    }
    fn resolved() -> EventBody {
        EventBody::IssueResolved { note: "路灯已修复".into(), photo_sha256: None }
    }

    struct Db {
        _dir: tempfile::TempDir,
        store: Storage,
        registry: Arc<RegistryIndex>,
        yard: gridwalk_domain::Courtyard,
    }

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let store = Storage::new(SqliteStore::open(&dir.path().join("n.db"), 2).unwrap());
        let reg = registry_gen::demo_registry();
        let yard = reg.courtyards[0].clone();
        Db { _dir: dir, store, registry: Arc::new(RegistryIndex::new(reg, 1)), yard }
    }

    impl Db {
        /// Fold `earlier` and `new` together and queue for `new` (twice when `again`); returns
        /// the count queued and the stored rows.
        fn queue(&self, earlier: Vec<Event>, new: Vec<Event>, again: bool) -> (usize, Vec<NoticeRow>) {
            let registry = self.registry.clone();
            let state = fold_issue(issue(), earlier.into_iter().chain(new.iter().cloned()));
            let ids: Vec<EventId> = new.iter().map(|e| e.id).collect();
            let n = self
                .store
                .write_blocking(move |tx| {
                    let t = NoticeTemplates::default();
                    let mut n = queue_notices(tx, &registry, &t, &state, &ids, T0)?;
                    if again {
                        n += queue_notices(tx, &registry, &t, &state, &ids, T0)?;
                    }
                    Ok(n)
                })
                .unwrap();
            (n, self.store.read_blocking(|r| r.issue_notices(issue())).unwrap())
        }
    }

    #[test]
    fn a_message_is_queued_for_each_applied_response_public_progress_and_resolution_with_a_contact() {
        type Case = (&'static str, bool, Vec<(u8, u8, EventBody)>, Vec<(u8, u8, EventBody)>, bool, usize);
        let cases: Vec<Case> = vec![
            ("responded", true, vec![], vec![(2, 5, responded("已联系"))], false, 1),
            ("a conflicting second response", true, vec![(2, 5, responded("已联系"))], vec![(3, 6, responded("我也联系了"))], false, 0),
            ("private progress", true, vec![(2, 5, responded(""))], vec![(3, 5, progress(false))], false, 0),
            ("public progress", true, vec![(2, 5, responded(""))], vec![(3, 5, progress(true))], false, 1),
            ("resolved", true, vec![(2, 5, responded(""))], vec![(3, 5, resolved())], false, 1),
            ("no contact", false, vec![], vec![(2, 5, responded("")), (3, 5, progress(true)), (4, 5, resolved())], false, 0),
            ("same event twice", true, vec![], vec![(2, 5, responded(""))], true, 1),
            ("a note is not told", true, vec![], vec![(2, 5, EventBody::NoteAdded { text: "内部备注".into() })], false, 0),
            (
                "response, public progress and resolution in one push",
                true,
                vec![],
                vec![(2, 5, responded("")), (3, 5, progress(true)), (4, 5, resolved())],
                false,
                3,
            ),
            (
                "events stored before are not told again",
                true,
                vec![(2, 5, responded(""))],
                vec![(3, 5, EventBody::NoteAdded { text: "x".into() })],
                false,
                0,
            ),
        ];
        for (name, contact, earlier, new, again, want) in cases {
            let db = db();
            let mut earlier: Vec<Event> = earlier.into_iter().map(|(n, a, b)| ev(n, a, b)).collect();
            earlier.insert(0, ev(1, 9, report(&db.yard, contact)));
            let new: Vec<Event> = new.into_iter().map(|(n, a, b)| ev(n, a, b)).collect();
            let (n, rows) = db.queue(earlier, new, again);
            assert_eq!((n, rows.len()), (want, want), "{name}: {want} message(s) queued");
            for row in &rows {
                assert_eq!((row.state, row.attempts, row.next_attempt_ms), (NoticeState::Queued, 0, T0), "{name}: queued, due at once");
                assert_eq!(row.phone, "13812345678", "{name}: the message goes to the report's phone");
                assert!(
                    row.text.contains("BJ12345-0001") && row.text.contains("路灯不亮"),
                    "{name}: order number and category label: {}",
                    row.text
                );
            }
        }
    }

    #[test]
    fn the_texts_are_the_templates_filled_in_chinese() {
        let db = db();
        let events = vec![ev(1, 9, report(&db.yard, true))];
        let new = vec![ev(2, 5, responded("已电话联系")), ev(3, 5, progress(true)), ev(4, 5, resolved())];
        let (_, rows) = db.queue(events, new, false);
        let texts: Vec<(NoticeKind, &str)> = rows.iter().map(|r| (r.kind, r.text.as_str())).collect();
        assert_eq!(
            texts,
            vec![
                (NoticeKind::Responded, "【朝阳区接诉即办】您反映的路灯不亮问题（工单号BJ12345-0001，祥文家园1号院）已受理，正在办理。已电话联系"),
                (NoticeKind::Progress, "【朝阳区接诉即办】工单BJ12345-0001（路灯不亮，祥文家园1号院）办理进展：已联系物业更换灯泡"),
                (NoticeKind::Resolved, "【朝阳区接诉即办】您反映的路灯不亮问题（工单号BJ12345-0001，祥文家园1号院）已办结：路灯已修复。如不满意，请致电12345。"),
            ],
            "the default templates, in fold order"
        );
    }

    #[test]
    fn a_late_response_that_displaces_the_told_one_is_not_told_again() {
        let db = db();
        let report = ev(1, 9, report(&db.yard, true));
        let (n, _) = db.queue(vec![report.clone()], vec![ev(5, 5, responded("先到"))], false);
        assert_eq!(n, 1);
        // An earlier response (in fold order) arrives later: the fold now applies it instead.
        let (n, rows) = db.queue(vec![report, ev(5, 5, responded("先到"))], vec![ev(3, 6, responded("后到但更早"))], false);
        assert_eq!((n, rows.len()), (0, 1), "the resident is told of the response once");
    }

    #[test]
    fn rendering_fills_known_placeholders_once_and_leaves_the_rest() {
        let vars = [("order_no", "A1"), ("note", "{order_no}")];
        let cases = [
            ("工单{order_no}", "工单A1"),
            ("{note}", "{order_no}"),
            ("{unknown}{order_no}", "{unknown}A1"),
            ("{", "{"),
            ("{order_no", "{order_no"),
            ("}{order_no}}", "}A1}"),
            ("无占位", "无占位"),
        ];
        for (template, want) in cases {
            assert_eq!(render(template, &vars), want, "{template}");
        }
    }

    #[test]
    fn the_wait_doubles_from_the_base_up_to_the_cap() {
        let cases = [
            (0, 1000, RETRY_CAP_MS, 1000),
            (1, 1000, RETRY_CAP_MS, 2000),
            (2, 1000, RETRY_CAP_MS, 4000),
            (5, 1000, RETRY_CAP_MS, 32_000),
            (11, 1000, RETRY_CAP_MS, 2_048_000),
            (12, 1000, RETRY_CAP_MS, RETRY_CAP_MS),
            (40, 1000, RETRY_CAP_MS, RETRY_CAP_MS),
            (63, 1000, RETRY_CAP_MS, RETRY_CAP_MS),
            (u32::MAX, i64::MAX, i64::MAX, i64::MAX),
            (3, 0, RETRY_CAP_MS, 0),
            (3, -5, RETRY_CAP_MS, 0),
            (3, 1000, -1, 0),
        ];
        for (attempts, base, cap, want) in cases {
            assert_eq!(next_attempt(attempts, base, cap), want, "attempts={attempts} base={base} cap={cap}");
        }
    }

    #[test]
    fn a_try_settles_as_sent_retry_or_failed() {
        let policy = RetryPolicy { max_attempts: 3, base_ms: 100, cap_ms: 1000 };
        let t = || Err(SendError::Transient("503".into()));
        let cases = [
            (Ok(()), 0, Outcome::Sent),
            (Ok(()), 2, Outcome::Sent),
            (t(), 0, Outcome::Retry { at_ms: 10_100, error: "503".into() }),
            (t(), 1, Outcome::Retry { at_ms: 10_200, error: "503".into() }),
            (t(), 2, Outcome::Failed { error: "gave up after 3 attempts: 503".into() }),
            (t(), 9, Outcome::Failed { error: "gave up after 10 attempts: 503".into() }),
            (Err(SendError::Permanent("HTTP 400".into())), 0, Outcome::Failed { error: "HTTP 400".into() }),
        ];
        for (result, attempts, want) in cases {
            assert_eq!(settle(result.clone(), attempts, &policy, 10_000), want, "{result:?} after {attempts} attempts");
        }
        let one = RetryPolicy::of(&NoticeSenderConfig::Webhook { url: "http://x".into(), max_attempts: 0, retry_base: Duration::ZERO });
        assert_eq!(one.max_attempts, 1, "at least one try");
        assert_eq!(settle(t(), 0, &one, 0), Outcome::Failed { error: "gave up after 1 attempts: 503".into() });
    }

    #[test]
    fn a_webhook_status_is_sent_transient_or_permanent() {
        let cases = [
            (200, "sent"),
            (202, "sent"),
            (204, "sent"),
            (301, "permanent"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (408, "transient"),
            (422, "permanent"),
            (429, "transient"),
            (500, "transient"),
            (502, "transient"),
            (503, "transient"),
            (599, "transient"),
        ];
        for (status, want) in cases {
            let got = match webhook_outcome(status) {
                Ok(()) => "sent",
                Err(SendError::Transient(_)) => "transient",
                Err(SendError::Permanent(_)) => "permanent",
            };
            assert_eq!(got, want, "HTTP {status}");
        }
    }

    #[test]
    fn a_bad_webhook_url_is_refused_at_once() {
        for url in ["", "not a url", "ftp://gateway/sms", "file:///etc/passwd"] {
            let err = WebhookSender::new(url, WEBHOOK_TIMEOUT).unwrap_err();
            assert_eq!(err.code(), "bad_notice_sender", "{url:?}: {err}");
        }
        assert!(WebhookSender::new("https://sms.example/send?key=k", WEBHOOK_TIMEOUT).is_ok());
    }

    #[test]
    fn what_holds_a_phone_prints_it_masked() {
        let n = OutgoingNotice { id: "e".into(), phone: "13812345678".into(), text: "t".into() };
        let printed = format!("{n:?}");
        assert!(printed.contains("138****5678") && !printed.contains("13812345678"), "{printed}");
    }

    /// A sender that fails as told, and counts.
    struct Scripted {
        results: std::sync::Mutex<Vec<Result<(), SendError>>>,
        seen: std::sync::Mutex<Vec<String>>,
    }

    impl NoticeSender for Scripted {
        fn send<'a>(&'a self, notice: &'a OutgoingNotice) -> SendFuture<'a> {
            self.seen.lock().unwrap().push(notice.id.clone());
            let r = self.results.lock().unwrap().pop().unwrap_or(Ok(()));
            Box::pin(std::future::ready(r))
        }
    }

    #[tokio::test]
    async fn delivery_retries_transient_failures_keeps_each_issue_in_order_and_gives_up_on_permanent_ones() {
        let db = db();
        let events = vec![ev(1, 9, report(&db.yard, true))];
        let (n, _) = db.queue(events, vec![ev(2, 5, responded("")), ev(3, 5, resolved())], false);
        assert_eq!(n, 2);
        let clock = gridwalk_clock::ManualClock::new(T0);
        let policy = RetryPolicy { max_attempts: 3, base_ms: 1000, cap_ms: RETRY_CAP_MS };
        // Popped from the end: the first try fails for now, the second works, the third is refused.
        let sender = Scripted {
            results: std::sync::Mutex::new(vec![
                Err(SendError::Permanent("HTTP 400".into())),
                Ok(()),
                Err(SendError::Transient("503".into())),
            ]),
            seen: Default::default(),
        };
        let r = deliver(&db.store, &clock, &sender, &policy).await.unwrap();
        assert_eq!(r, DeliveryRound { sent: 0, retried: 1, failed: 0 }, "only the issue's first message is due; it fails for now");
        let r = deliver(&db.store, &clock, &sender, &policy).await.unwrap();
        assert!(r.is_empty(), "nothing is due before the wait is over, and the issue's second message waits behind the first");
        clock.advance(1000);
        let r = deliver(&db.store, &clock, &sender, &policy).await.unwrap();
        assert_eq!(r, DeliveryRound { sent: 1, retried: 0, failed: 0 }, "the retry goes out after base_ms");
        let r = deliver(&db.store, &clock, &sender, &policy).await.unwrap();
        assert_eq!(r, DeliveryRound { sent: 0, retried: 0, failed: 1 }, "then the second message; a permanent refusal is final");
        assert!(deliver(&db.store, &clock, &sender, &policy).await.unwrap().is_empty(), "nothing is left to send");
        let rows = db.store.read(|r| r.issue_notices(issue())).await.unwrap();
        let states: Vec<(NoticeKind, NoticeState, u32, Option<i64>)> =
            rows.iter().map(|r| (r.kind, r.state, r.attempts, r.sent_ms)).collect();
        assert_eq!(
            states,
            vec![(NoticeKind::Responded, NoticeState::Sent, 2, Some(T0 + 1000)), (NoticeKind::Resolved, NoticeState::Failed, 1, None)]
        );
        assert_eq!(rows[1].last_error.as_deref(), Some("HTTP 400"));
        let seen = sender.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![rows[0].event_id.to_string(), rows[0].event_id.to_string(), rows[1].event_id.to_string()],
            "ids are the event ids"
        );
        let info = notice_info(&rows[0]);
        assert_eq!((info.phone_masked.as_str(), info.state.as_str()), ("138****5678", "sent"));
    }
}
