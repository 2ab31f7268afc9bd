//! Input validation with typed errors. Everything a worker or an outside system types goes
//! through here before it becomes an event, on the tablet and again on the server.

use crate::event::{Event, EventBody};
use crate::model::*;
use crate::vocab::Category;
use thiserror::Error;

pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_NOTE_CHARS: usize = 2000;
pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_RESIDENTS_MET: u32 = 10_000;
/// The latest time (ms since the epoch, 2100-01-01) a client may name: bounds every time a
/// client sends before it meets arithmetic.
pub const MAX_TIME_MS: i64 = 4_102_444_800_000;
/// Photos are sha256 hex digests.
const SHA256_HEX_LEN: usize = 64;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ValidationError {
    #[error("{field} must not be empty")]
    EmptyText { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TextTooLong { field: &'static str, max: usize },
    #[error("unknown category {0:?}")]
    UnknownCategory(String),
    #[error("coordinates out of range: lat {lat}, lon {lon}")]
    CoordinatesOutOfRange { lat: f64, lon: f64 },
    #[error("location accuracy must be a non-negative number of metres")]
    BadAccuracy,
    #[error("phone number {0:?} is not a phone number")]
    BadPhone(String),
    #[error("a visit cannot end before it starts")]
    VisitEndsBeforeStart,
    #[error("residents met is implausible: {0}")]
    TooManyResidents(u32),
    #[error("photo hash must be 64 lowercase hex characters")]
    BadPhotoHash,
    #[error("text contains control characters in {field}")]
    ControlCharacters { field: &'static str },
    #[error("{field} is not a time between 1970 and 2100")]
    TimeOutOfRange { field: &'static str },
    #[error("{field} is out of bounds: {why}")]
    TimeOutOfBounds { field: &'static str, why: &'static str },
}

impl ValidationError {
    /// The stable error code the UI and HTTP clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::EmptyText { .. } => "empty_text",
            ValidationError::TextTooLong { .. } => "text_too_long",
            ValidationError::UnknownCategory(_) => "unknown_category",
            ValidationError::CoordinatesOutOfRange { .. } => "coordinates_out_of_range",
            ValidationError::BadAccuracy => "bad_accuracy",
            ValidationError::BadPhone(_) => "bad_phone",
            ValidationError::VisitEndsBeforeStart => "visit_ends_before_start",
            ValidationError::TooManyResidents(_) => "too_many_residents",
            ValidationError::BadPhotoHash => "bad_photo_hash",
            ValidationError::ControlCharacters { .. } => "control_characters",
            ValidationError::TimeOutOfRange { .. } => "time_out_of_range",
            ValidationError::TimeOutOfBounds { .. } => "time_out_of_bounds",
        }
    }
}

pub fn parse_category(code: &str) -> Result<Category, ValidationError> {
    Category::from_code(code).ok_or_else(|| ValidationError::UnknownCategory(code.to_owned()))
}

fn text(field: &'static str, s: &str, max: usize, required: bool) -> Result<(), ValidationError> {
    if required && s.trim().is_empty() {
        return Err(ValidationError::EmptyText { field });
    }
    if s.chars().count() > max {
        return Err(ValidationError::TextTooLong { field, max });
    }
    // Newlines and tabs are fine in notes; other control characters are never typed by a person.
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(ValidationError::ControlCharacters { field });
    }
    Ok(())
}

/// A required free-text field of at most `max` characters.
pub fn text_field(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    text(field, s, max, true)
}

pub fn location(l: &Location) -> Result<(), ValidationError> {
    point(l.lat, l.lon)?;
    if !l.accuracy_m.is_finite() || l.accuracy_m < 0.0 {
        return Err(ValidationError::BadAccuracy);
    }
    Ok(())
}

pub fn point(lat: f64, lon: f64) -> Result<(), ValidationError> {
    if !(lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return Err(ValidationError::CoordinatesOutOfRange { lat, lon });
    }
    Ok(())
}

pub fn contact(c: &ResidentContact) -> Result<(), ValidationError> {
    if let Some(name) = &c.name {
        text("contact.name", name, MAX_NAME_CHARS, false)?;
    }
    let digits = c.phone.chars().filter(|c| c.is_ascii_digit()).count();
    let only_phone_chars = c.phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '));
    if !only_phone_chars || !(5..=20).contains(&digits) {
        return Err(ValidationError::BadPhone(c.phone.clone()));
    }
    Ok(())
}

fn photo_hash(h: &str) -> Result<(), ValidationError> {
    if h.len() != SHA256_HEX_LEN || !h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(ValidationError::BadPhotoHash);
    }
    Ok(())
}

pub fn visit(v: &Visit) -> Result<(), ValidationError> {
    if v.ended_at_ms < v.started_at_ms {
        return Err(ValidationError::VisitEndsBeforeStart);
    }
    if let Some(l) = &v.location {
        location(l)?;
    }
    text("notes", &v.notes, MAX_NOTE_CHARS, false)?;
    if v.residents_met > MAX_RESIDENTS_MET {
        return Err(ValidationError::TooManyResidents(v.residents_met));
    }
    Ok(())
}

pub fn issue_report(r: &IssueReport) -> Result<(), ValidationError> {
    text("description", &r.description, MAX_DESCRIPTION_CHARS, true)?;
    if let Some(c) = &r.contact {
        contact(c)?;
    }
    if let Some(l) = &r.location {
        location(l)?;
    }
    if let Some(x) = &r.external_ref {
        text("external_ref", x, MAX_NAME_CHARS, true)?;
    }
    Ok(())
}

/// Validate an event body as a whole: the one check both tablet and server run.
pub fn body(b: &EventBody) -> Result<(), ValidationError> {
    match b {
        EventBody::VisitRecorded(v) => visit(v),
        EventBody::IssueReported(r) => issue_report(r),
        EventBody::IssueResponded { note } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::NoteAdded { text: t } => text("text", t, MAX_NOTE_CHARS, true),
        EventBody::PhotoAttached { sha256, mime, .. } => {
            photo_hash(sha256)?;
            text("mime", mime, MAX_NAME_CHARS, true)
        }
        EventBody::IssueResolved { note, photo_sha256 } => {
            if let Some(h) = photo_sha256 {
                photo_hash(h)?;
            }
            text("note", note, MAX_NOTE_CHARS, true)
        }
        EventBody::CallbackRecorded { note, .. } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::IssueReopened { reason } => text("reason", reason, MAX_NOTE_CHARS, true),
        EventBody::ProgressAdded { note, .. } => text("note", note, MAX_NOTE_CHARS, true),
        EventBody::Whistled { target, note, .. } => {
            text("target", target, MAX_NAME_CHARS, true)?;
            text("note", note, MAX_NOTE_CHARS, false)
        }
        EventBody::ReportedIn { target, note } => {
            text("target", target, MAX_NAME_CHARS, true)?;
            text("note", note, MAX_NOTE_CHARS, false)
        }
        EventBody::IssueClosed { note } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::Pledged { note, .. } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::Recurred { .. } | EventBody::RecurrenceFlagged { .. } | EventBody::DuplicateLinked { .. } => Ok(()),
        EventBody::Assigned { reason, .. } => text("reason", reason, MAX_NOTE_CHARS, false),
        EventBody::Accepted { note } | EventBody::Urged { note } | EventBody::Transferred { note, .. } => {
            text("note", note, MAX_NOTE_CHARS, false)
        }
        // A return, an extension request, a refused review and a cancellation must say why.
        EventBody::Returned { note, .. } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::ExtensionRequested { until_ms, reason } => {
            if !(0..=MAX_TIME_MS).contains(until_ms) {
                return Err(ValidationError::TimeOutOfRange { field: "until_ms" });
            }
            text("reason", reason, MAX_NOTE_CHARS, true)
        }
        EventBody::ExtensionDecided { note, .. } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::Reviewed { approved, note } => text("note", note, MAX_NOTE_CHARS, !approved),
        EventBody::ClosedAsDuplicate { note, .. } => text("note", note, MAX_NOTE_CHARS, false),
        EventBody::Cancelled { reason } => text("reason", reason, MAX_NOTE_CHARS, true),
        EventBody::MeToo { note, order_no } => {
            if let Some(no) = order_no {
                text("order_no", no, MAX_NAME_CHARS, true)?;
            }
            text("note", note, MAX_NOTE_CHARS, false)
        }
        EventBody::DuplicateSuspected { .. } => Ok(()),
    }
}

pub fn event(e: &Event) -> Result<(), ValidationError> {
    body(&e.body)
}

/// How far the times an event carries may stray from the server's clock when it receives
/// the event. Every time a tablet sends is checked against these before it meets
/// arithmetic, a fold or the server's own clock (see [`times`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockBounds {
    /// The most any time may lie ahead of the server's clock (a tablet's clock drifts a
    /// little between syncs; its offset is measured at each).
    pub ahead_ms: i64,
    /// The most a device's clock may be off, either way: the bound on `clock_offset_ms`, and
    /// so on how far ahead of the server a correct HLC can be (a fast tablet's stamps).
    pub offset_ms: i64,
    /// How long an event may wait on a tablet that is offline before the server takes it.
    pub offline_ms: i64,
    /// How long before the server's receipt the times that decide the rates (when an issue
    /// was received, first responded to or resolved) may lie: a tablet offline longer than
    /// this cannot claim an answer "on time" that the server never saw.
    pub rate_tolerance_ms: i64,
    /// The longest one visit may last.
    pub visit_ms: i64,
}

impl Default for ClockBounds {
    /// Five minutes ahead, a day of clock error, thirty days offline, three days of rate
    /// tolerance (a weekend without signal), twelve-hour visits.
    fn default() -> Self {
        ClockBounds {
            ahead_ms: 5 * 60_000,
            offset_ms: 24 * 3_600_000,
            offline_ms: 30 * 24 * 3_600_000,
            rate_tolerance_ms: 72 * 3_600_000,
            visit_ms: 12 * 3_600_000,
        }
    }
}

fn out_of_bounds(field: &'static str, why: &'static str) -> ValidationError {
    ValidationError::TimeOutOfBounds { field, why }
}

/// Check every time an event carries against the server's clock at receipt, `now_ms`, and
/// the bounds. Pure: the caller passes its clock. After this, `corrected_ms()` and every
/// deadline derived from the event are within a few months of `now_ms`, far from overflow.
pub fn times(e: &Event, now_ms: i64, b: &ClockBounds) -> Result<(), ValidationError> {
    let lo = now_ms.saturating_sub(b.offline_ms);
    let hi = now_ms.saturating_add(b.ahead_ms);
    if !(0..=MAX_TIME_MS).contains(&e.wall_ms) {
        return Err(ValidationError::TimeOutOfRange { field: "wall_ms" });
    }
    if e.clock_offset_ms.unsigned_abs() > b.offset_ms.unsigned_abs() {
        return Err(out_of_bounds("clock_offset_ms", "the device clock is further off than the server allows; set the tablet's clock"));
    }
    let at = e.corrected_ms();
    if at > hi {
        return Err(out_of_bounds("wall_ms", "the event is dated in the future"));
    }
    if at < lo {
        return Err(out_of_bounds("wall_ms", "the event waited offline longer than the server allows"));
    }
    // An HLC is ticked from the wall clock it is stamped with, so it is never below it; and
    // it is never further ahead of the server than a fast tablet (within the offset bound)
    // can be. This is what keeps one far-future stamp from lifting every clock it meets.
    if e.hlc.ms < e.wall_ms {
        return Err(out_of_bounds("hlc", "the HLC is behind the wall clock it was stamped with"));
    }
    if e.hlc.ms > hi.saturating_add(b.offset_ms) {
        return Err(out_of_bounds("hlc", "the HLC is further ahead of the server's clock than any tablet's can be"));
    }
    let rate_lo = now_ms.saturating_sub(b.rate_tolerance_ms);
    match &e.body {
        EventBody::IssueReported(r) => {
            let received = r.received_at_ms.unwrap_or(at);
            if received > at.saturating_add(b.ahead_ms) || received > hi {
                return Err(out_of_bounds("received_at_ms", "an issue cannot be received after it is reported"));
            }
            if received < rate_lo {
                return Err(out_of_bounds(
                    "received_at_ms",
                    "the receipt lies further before the server's receipt than the rate tolerance",
                ));
            }
        }
        // The events whose time is a first response or a resolution in the rates.
        EventBody::IssueResponded { .. } | EventBody::IssueResolved { .. } if at < rate_lo => {
            return Err(out_of_bounds(
                "wall_ms",
                "a response or resolution lies further before the server's receipt than the rate tolerance",
            ));
        }
        EventBody::VisitRecorded(v) => {
            // Visit times are the device's clock, so they get the offset's slack too.
            let (vlo, vhi) = (lo.saturating_sub(b.offset_ms), hi.saturating_add(b.offset_ms));
            for (field, t) in [("started_at_ms", v.started_at_ms), ("ended_at_ms", v.ended_at_ms)] {
                if !(vlo..=vhi).contains(&t) {
                    return Err(out_of_bounds(field, "the visit time is too old or in the future"));
                }
            }
            if v.ended_at_ms.saturating_sub(v.started_at_ms) > b.visit_ms {
                return Err(out_of_bounds("ended_at_ms", "the visit lasts longer than the server allows"));
            }
            if v.ended_at_ms > e.wall_ms.saturating_add(b.ahead_ms) {
                return Err(out_of_bounds("ended_at_ms", "a visit cannot end after it is recorded"));
            }
        }
        EventBody::ExtensionRequested { until_ms, .. } if *until_ms <= at => {
            return Err(out_of_bounds("until_ms", "an extension must end after it is asked for"));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_case_table() {
        let cases: Vec<(&str, Result<(), ValidationError>)> = vec![
            ("empty", text("description", "  ", 10, true)),
            ("long", text("description", &"路".repeat(11), 10, true)),
            ("ctrl", text("notes", "a\u{0007}b", 10, false)),
            ("ok-zh", text("description", "路灯不亮", 10, true)),
            ("lat", point(91.0, 116.0)),
            ("nan", point(f64::NAN, 116.0)),
            ("ok-pt", point(39.9, 116.5)),
            ("phone", contact(&ResidentContact { name: None, phone: "abc".into() })),
            ("ok-phone", contact(&ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() })),
            ("cat", parse_category("ufo").map(|_| ())),
        ];
        let want = [
            Some("empty_text"),
            Some("text_too_long"),
            Some("control_characters"),
            None,
            Some("coordinates_out_of_range"),
            Some("coordinates_out_of_range"),
            None,
            Some("bad_phone"),
            None,
            Some("unknown_category"),
        ];
        for ((name, got), want) in cases.into_iter().zip(want) {
            assert_eq!(got.err().map(|e| e.code()), want, "case {name}: validation gives the documented code");
        }
    }

    #[test]
    fn times_case_table() {
        use crate::event::{Entity, Event};
        use crate::hlc::Hlc;
        use crate::ids::*;
        use crate::vocab::{IssueSource, VisitMode};
        const NOW: i64 = 1_780_000_000_000;
        const H: i64 = 3_600_000;
        let b = ClockBounds::default();
        let report = |received: Option<i64>| {
            EventBody::IssueReported(IssueReport {
                courtyard: CourtyardId::from_parts(1, [1; 10]),
                category: Category::StreetLight,
                source: IssueSource::Visit,
                description: "路灯不亮".into(),
                contact: None,
                location: None,
                received_at_ms: received,
                external_ref: None,
            })
        };
        let visit = |start: i64, end: i64| {
            EventBody::VisitRecorded(Visit {
                courtyard: CourtyardId::from_parts(1, [1; 10]),
                mode: VisitMode::WalkThrough,
                started_at_ms: start,
                ended_at_ms: end,
                location: None,
                notes: String::new(),
                residents_met: 1,
                linked_issues: vec![],
            })
        };
        let ev = |wall: i64, offset: i64, hlc: i64, body: EventBody| Event {
            id: EventId::from_parts(1, [1; 10]),
            author: WorkerId::from_parts(1, [2; 10]),
            device: DeviceId::from_parts(1, [3; 10]),
            hlc: Hlc::new(hlc, 0),
            wall_ms: wall,
            clock_offset_ms: offset,
            entity: Entity::Issue(IssueId::from_parts(1, [4; 10])),
            body,
        };
        let responded = || EventBody::IssueResponded { note: String::new() };
        let cases: Vec<(&str, Event, Option<&str>)> = vec![
            ("now", ev(NOW, 0, NOW, report(None)), None),
            ("a tablet an hour fast, measured", ev(NOW + H, -H, NOW + H, report(None)), None),
            ("recorded offline two days ago", ev(NOW - 48 * H, 0, NOW - 48 * H, responded()), None),
            ("year 2100 HLC", ev(NOW, 0, 4_102_444_800_000, report(None)), Some("hlc")),
            ("HLC a day and an hour ahead", ev(NOW, 0, NOW + 25 * H, report(None)), Some("hlc")),
            ("HLC behind its own wall clock", ev(NOW, 0, NOW - 1, report(None)), Some("hlc")),
            ("wall clock ten years off", ev(NOW - 87_600 * H, 0, NOW, report(None)), Some("wall_ms")),
            ("absurd offset", ev(NOW, i64::MAX, NOW, report(None)), Some("clock_offset_ms")),
            ("negative wall clock", ev(i64::MIN, 0, NOW, report(None)), Some("wall_ms")),
            ("dated in the future", ev(NOW + H, 0, NOW + H, report(None)), Some("wall_ms")),
            ("received 30 days ago", ev(NOW, 0, NOW, report(Some(NOW - 720 * H))), Some("received_at_ms")),
            ("received near i64::MIN", ev(NOW, 0, NOW, report(Some(i64::MIN + 1))), Some("received_at_ms")),
            ("received after it is reported", ev(NOW, 0, NOW, report(Some(NOW + H))), Some("received_at_ms")),
            ("received an hour before the report", ev(NOW, 0, NOW, report(Some(NOW - H))), None),
            ("a backdated response", ev(NOW - 96 * H, 0, NOW - 96 * H, responded()), Some("wall_ms")),
            ("a visit", ev(NOW, 0, NOW, visit(NOW - H, NOW)), None),
            ("a visit of three days", ev(NOW, 0, NOW, visit(NOW - 72 * H, NOW)), Some("ended_at_ms")),
            ("a visit starting at i64::MIN", ev(NOW, 0, NOW, visit(i64::MIN, NOW)), Some("started_at_ms")),
            ("a visit ending after its record", ev(NOW, 0, NOW, visit(NOW, NOW + 2 * H)), Some("ended_at_ms")),
        ];
        for (name, e, want) in cases {
            let got = times(&e, NOW, &b).err().map(|err| match err {
                ValidationError::TimeOutOfBounds { field, .. } | ValidationError::TimeOutOfRange { field } => field,
                other => panic!("case {name}: a time check fails with a time error, not {other:?}"),
            });
            assert_eq!(got, want, "case {name}: every time an event carries is bounded by the server's clock at receipt");
        }
    }

    #[test]
    fn phones_are_masked_in_lists() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("65001234"), "6***1234");
        assert_eq!(mask_phone("123"), "***");
    }
}
