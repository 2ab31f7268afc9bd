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
    }
}

pub fn event(e: &Event) -> Result<(), ValidationError> {
    body(&e.body)
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
    fn phones_are_masked_in_lists() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("65001234"), "6***1234");
        assert_eq!(mask_phone("123"), "***");
    }
}
