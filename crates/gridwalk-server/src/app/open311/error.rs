//! Open311's errors: each has a stable machine code and a real HTTP status (400 bad input, 403
//! a missing or wrong `api_key`, 404 an unknown thing). On the wire they are the spec's array of
//! `{code, description}`, where `code` is the HTTP status and `description` starts with the
//! stable machine code, so clients can match on either.

use crate::error::Error;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Open311Error {
    #[error("api_key is required to file a request")]
    MissingApiKey,
    #[error("api_key is not a valid key, or it was revoked")]
    InvalidApiKey,
    #[error("unknown jurisdiction_id {0:?}")]
    UnknownJurisdiction(String),
    #[error("unknown service_code {0:?}")]
    UnknownService(String),
    #[error("service {0:?} takes no attributes, so it has no definition")]
    NoDefinition(String),
    #[error("unknown service_request_id {0:?}")]
    UnknownRequest(String),
    #[error("unknown format {0:?}: use .json or .xml")]
    UnknownFormat(String),
    #[error("no such Open311 resource: {0}")]
    NoSuchResource(String),
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{field} must be given once")]
    Repeated { field: String },
    #[error("bad {field}: {reason}")]
    BadField { field: String, reason: String },
    #[error("lat and long must be given together")]
    LatLongPair,
    #[error("lat/long out of range: lat must be in [-90, 90] and long in [-180, 180]")]
    LatLongRange,
    #[error("a location is required: lat and long, address_string or address_id")]
    NoLocation,
    #[error("no courtyard is named or coded {0:?}")]
    UnknownAddress(String),
    #[error("{field} is not a W3C datetime with a timezone: {value:?}")]
    BadDatetime { field: String, value: String },
    #[error("end_date is before start_date")]
    BackwardsRange,
    #[error("a date range may span at most {max_days} days")]
    RangeTooLong { max_days: i64 },
    #[error("unknown status {0:?}: use open, closed or both, comma-separated")]
    BadStatus(String),
    #[error("unknown attribute {0:?} for this service")]
    UnknownAttribute(String),
    #[error("attribute {0:?} is required for this service")]
    MissingAttribute(String),
    #[error("attribute {code:?}: {reason}")]
    BadAttribute { code: String, reason: String },
    #[error("bad form body: {0}")]
    BadForm(String),
    #[error("bad page: {0}")]
    BadPage(String),
    #[error("media_url must be an http:// or https:// URL with a host and no spaces")]
    BadMediaUrl,
    #[error("{0}")]
    Server(#[from] Error),
}

impl Open311Error {
    /// The stable code, as the first word of the description.
    pub fn code(&self) -> &'static str {
        match self {
            Open311Error::MissingApiKey => "missing_api_key",
            Open311Error::InvalidApiKey => "invalid_api_key",
            Open311Error::UnknownJurisdiction(_) => "unknown_jurisdiction",
            Open311Error::UnknownService(_) => "unknown_service",
            Open311Error::NoDefinition(_) => "no_definition",
            Open311Error::UnknownRequest(_) => "unknown_request",
            Open311Error::UnknownFormat(_) => "unknown_format",
            Open311Error::NoSuchResource(_) => "not_found",
            Open311Error::Missing(_) => "missing_field",
            Open311Error::Repeated { .. } => "repeated_field",
            Open311Error::BadField { .. } => "bad_field",
            Open311Error::LatLongPair => "lat_long_pair",
            Open311Error::LatLongRange => "lat_long_range",
            Open311Error::NoLocation => "no_location",
            Open311Error::UnknownAddress(_) => "unknown_address",
            Open311Error::BadDatetime { .. } => "bad_datetime",
            Open311Error::BackwardsRange => "backwards_range",
            Open311Error::RangeTooLong { .. } => "range_too_long",
            Open311Error::BadStatus(_) => "bad_status",
            Open311Error::UnknownAttribute(_) => "unknown_attribute",
            Open311Error::MissingAttribute(_) => "missing_attribute",
            Open311Error::BadAttribute { .. } => "bad_attribute",
            Open311Error::BadForm(_) => "bad_form",
            Open311Error::BadPage(_) => "bad_page",
            Open311Error::BadMediaUrl => "bad_media_url",
            Open311Error::Server(e) => e.code(),
        }
    }

    /// The HTTP status. Server errors keep theirs, except that what the API calls 422 (an
    /// unknown courtyard and the like) is bad input here: the spec has 400 for that.
    pub fn status(&self) -> u16 {
        match self {
            Open311Error::MissingApiKey | Open311Error::InvalidApiKey => 403,
            Open311Error::UnknownJurisdiction(_)
            | Open311Error::UnknownService(_)
            | Open311Error::NoDefinition(_)
            | Open311Error::UnknownRequest(_)
            | Open311Error::UnknownFormat(_)
            | Open311Error::NoSuchResource(_) => 404,
            Open311Error::Server(e) => match e.status() {
                s if s >= 500 => 500,
                401 => 403,
                404 | 405 | 413 | 415 | 429 => e.status(),
                _ => 400,
            },
            _ => 400,
        }
    }

    /// The description on the wire: `code: message`. Server faults say little.
    pub fn description(&self) -> String {
        match self {
            Open311Error::Server(e) => format!("{}: {}", e.code(), e.public_message()),
            _ => format!("{}: {self}", self.code()),
        }
    }
}

impl From<gridwalk_domain::ValidationError> for Open311Error {
    fn from(e: gridwalk_domain::ValidationError) -> Self {
        Open311Error::Server(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_spec() {
        let cases: Vec<(Open311Error, u16)> = vec![
            (Open311Error::MissingApiKey, 403),
            (Open311Error::InvalidApiKey, 403),
            (Open311Error::UnknownJurisdiction("x".into()), 404),
            (Open311Error::UnknownService("x".into()), 404),
            (Open311Error::UnknownRequest("x".into()), 404),
            (Open311Error::NoLocation, 400),
            (Open311Error::RangeTooLong { max_days: 90 }, 400),
            (Open311Error::Server(Error::UnknownCourtyard("x".into())), 400),
            (Open311Error::Server(Error::Internal("secret".into())), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{e:?}: 400 bad input, 403 key, 404 unknown thing");
            assert!(e.description().starts_with(e.code()), "the description starts with the stable code");
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{e:?} has a snake_case code");
        }
        assert!(!Open311Error::Server(Error::Internal("secret".into())).description().contains("secret"), "faults leak nothing");
    }
}
