//! Parsing Open311 parameters (form bodies and query strings) into checked requests. Pure: no
//! database, no clock (the caller passes `now_ms`).

use super::error::Open311Error;
use super::extras::Extras;
use super::services::{self, Service};
use super::w3c;
use gridwalk_domain::{Category, IssueId};
use std::collections::BTreeMap;

/// The longest range `GET requests` takes, and its default window back from now.
pub const MAX_RANGE_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
pub const MAX_MEDIA_URL_CHARS: usize = 500;
pub const MAX_EMAIL_CHARS: usize = 100;

/// Parameters by name, each with every value it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k).or_default().push(v);
        }
        Params(m)
    }

    /// One value, trimmed; empty counts as absent; given twice with different values is an error.
    pub fn one(&self, field: &str) -> Result<Option<&str>, Open311Error> {
        let Some(values) = self.0.get(field) else { return Ok(None) };
        let mut distinct: Vec<&str> = values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
        distinct.dedup();
        match distinct.len() {
            0 => Ok(None),
            1 => Ok(Some(distinct[0])),
            _ => Err(Open311Error::Repeated { field: field.to_owned() }),
        }
    }

    /// `attribute[CODE]` and `attribute[CODE][]` values by code.
    pub fn attributes(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, values) in &self.0 {
            let Some(inner) = k.strip_prefix("attribute[") else { continue };
            let code = inner.strip_suffix("][]").or_else(|| inner.strip_suffix(']'));
            if let Some(code) = code {
                out.entry(code.to_owned()).or_default().extend(values.iter().cloned());
            }
        }
        out
    }

    /// Attribute-like keys that are not well formed (`attribute[x` and the like).
    pub fn malformed_attribute_keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter(|k| k.starts_with("attribute") && !(k.starts_with("attribute[") && (k.ends_with("][]") || k.ends_with(']'))))
            .map(String::as_str)
            .collect()
    }
}

/// Where a new request is.
#[derive(Clone, Debug, PartialEq)]
pub enum Where {
    /// A point (dispatched to the nearest courtyard), with the address text if one was given.
    Point { lat: f64, lon: f64, address: Option<String> },
    /// A courtyard's code or name, from `address_id` (preferred) or `address_string`.
    Address(String),
}

/// A checked `POST requests`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRequest {
    pub service: Service,
    pub place: Where,
    pub description: String,
    pub phone: Option<String>,
    /// First and last name joined (family name first when either is not ASCII).
    pub name: Option<String>,
    pub extras: Extras,
}

fn coordinate(p: &Params, field: &'static str) -> Result<Option<f64>, Open311Error> {
    p.one(field)?
        .map(|v| v.parse::<f64>().map_err(|_| Open311Error::BadField { field: field.into(), reason: format!("{v:?} is not a number") }))
        .transpose()
}

fn one_line(field: &'static str, v: &str, max: usize) -> Result<String, Open311Error> {
    if v.chars().count() > max {
        return Err(Open311Error::BadField { field: field.into(), reason: format!("at most {max} characters") });
    }
    if v.chars().any(char::is_control) {
        return Err(Open311Error::BadField { field: field.into(), reason: "control characters are not allowed".into() });
    }
    Ok(v.to_owned())
}

/// The spec's location rule: lat and long together and in range, or an address; some location.
pub fn location(p: &Params) -> Result<Where, Open311Error> {
    let (lat, lon) = (coordinate(p, "lat")?, coordinate(p, "long")?);
    let address = p.one("address_string")?.map(|a| one_line("address_string", a, 200)).transpose()?;
    match (lat, lon) {
        (Some(lat), Some(lon)) => {
            if !(lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
                return Err(Open311Error::LatLongRange);
            }
            Ok(Where::Point { lat, lon, address })
        }
        (Some(_), None) | (None, Some(_)) => Err(Open311Error::LatLongPair),
        (None, None) => match p.one("address_id")?.map(str::to_owned).or(address) {
            Some(a) => Ok(Where::Address(a)),
            None => Err(Open311Error::NoLocation),
        },
    }
}

/// Check a `POST requests` form (everything but the key and the jurisdiction).
pub fn new_request(p: &Params) -> Result<NewRequest, Open311Error> {
    let code = p.one("service_code")?.ok_or(Open311Error::Missing("service_code"))?;
    let service = services::by_code(code)?;
    if let Some(bad) = p.malformed_attribute_keys().first() {
        return Err(Open311Error::BadAttribute { code: (*bad).to_owned(), reason: "use attribute[CODE]=VALUE".into() });
    }
    let attributes = services::check_attributes(&service, &p.attributes())?;
    let place = location(p)?;
    let description = p.0.get("description").and_then(|v| v.first()).map(|d| d.trim().to_owned()).unwrap_or_default();
    let media_url = p.one("media_url")?.map(|u| one_line("media_url", u, MAX_MEDIA_URL_CHARS)).transpose()?;
    if let Some(u) = &media_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace) {
            return Err(Open311Error::BadField { field: "media_url".into(), reason: "an http(s) URL without spaces".into() });
        }
    }
    let email = p.one("email")?.map(|e| one_line("email", e, MAX_EMAIL_CHARS)).transpose()?;
    if let Some(e) = &email {
        let ok = e.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.')) && !e.contains(char::is_whitespace);
        if !ok {
            return Err(Open311Error::BadField { field: "email".into(), reason: format!("{e:?} is not an e-mail address") });
        }
    }
    let first = p.one("first_name")?.map(|n| one_line("first_name", n, 32)).transpose()?;
    let last = p.one("last_name")?.map(|n| one_line("last_name", n, 32)).transpose()?;
    let name = match (first, last) {
        (Some(f), Some(l)) if f.is_ascii() && l.is_ascii() => Some(format!("{f} {l}")),
        (Some(f), Some(l)) => Some(format!("{l}{f}")),
        (Some(n), None) | (None, Some(n)) => Some(n),
        (None, None) => None,
    };
    let phone = p.one("phone")?.map(|n| one_line("phone", n, 32)).transpose()?;
    // With a phone the name goes into the report's contact; without one it rides in the extras.
    let extras = Extras { media_url, email, name: if phone.is_none() { name.clone() } else { None }, attributes };
    Ok(NewRequest { service, place, description, phone, name, extras })
}

/// Which of open and closed a listing wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statuses {
    pub open: bool,
    pub closed: bool,
}

/// A checked `GET requests`.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestQuery {
    /// `service_request_id` given: exactly these (ids that are not ours are simply not found).
    Ids(Vec<IssueId>),
    Filter {
        categories: Option<Vec<Category>>,
        start_ms: i64,
        end_ms: i64,
        statuses: Statuses,
    },
}

fn comma_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Check a `GET requests` query at `now_ms`. With no dates the window is the last 90 days; one
/// date spans 90 days from (or to) it; two may be at most 90 days apart.
pub fn request_query(p: &Params, now_ms: i64) -> Result<RequestQuery, Open311Error> {
    if let Some(ids) = p.one("service_request_id")? {
        return Ok(RequestQuery::Ids(comma_list(ids).filter_map(|s| s.parse().ok()).collect()));
    }
    let categories = p
        .one("service_code")?
        .map(|codes| comma_list(codes).map(|c| services::by_code(c).map(|s| s.category)).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let start = p.one("start_date")?.map(|s| w3c::parse(s, "start_date")).transpose()?;
    let end = p.one("end_date")?.map(|s| w3c::parse(s, "end_date")).transpose()?;
    let span = MAX_RANGE_DAYS * DAY_MS;
    let (start_ms, end_ms) = match (start, end) {
        (None, None) => (now_ms - span, now_ms),
        (Some(s), None) => (s, s + span),
        (None, Some(e)) => (e - span, e),
        (Some(s), Some(e)) => {
            if e < s {
                return Err(Open311Error::BackwardsRange);
            }
            if e - s > span {
                return Err(Open311Error::RangeTooLong { max_days: MAX_RANGE_DAYS });
            }
            (s, e)
        }
    };
    let statuses = match p.one("status")? {
        None => Statuses { open: true, closed: true },
        Some(list) => {
            let mut s = Statuses { open: false, closed: false };
            for item in comma_list(list) {
                match item {
                    "open" => s.open = true,
                    "closed" => s.closed = true,
                    other => return Err(Open311Error::BadStatus(other.to_owned())),
                }
            }
            if !(s.open || s.closed) {
                return Err(Open311Error::BadStatus(list.to_owned()));
            }
            s
        }
    };
    Ok(RequestQuery::Filter { categories, start_ms, end_ms, statuses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn location_rules() {
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<Where, &'a str>);
        let cases: Vec<Case> = vec![
            (vec![("lat", "39.98"), ("long", "116.41")], Ok(Where::Point { lat: 39.98, lon: 116.41, address: None })),
            (vec![("lat", "39.98")], Err("lat_long_pair")),
            (vec![("long", "116.41")], Err("lat_long_pair")),
            (vec![("lat", "91"), ("long", "116.41")], Err("lat_long_range")),
            (vec![("lat", "39.9"), ("long", "-181")], Err("lat_long_range")),
            (vec![("lat", "NaN"), ("long", "116")], Err("lat_long_range")),
            (vec![("lat", "north"), ("long", "116")], Err("bad_field")),
            (vec![("address_string", "惠新西街33号院")], Ok(Where::Address("惠新西街33号院".into()))),
            (vec![("address_id", "CY10-C01-Y001"), ("address_string", "x")], Ok(Where::Address("CY10-C01-Y001".into()))),
            (vec![], Err("no_location")),
            (vec![("lat", ""), ("long", "")], Err("no_location")),
        ];
        for (given, want) in cases {
            let got = location(&params(&given)).map_err(|e| e.code());
            assert_eq!(got, want, "{given:?}: lat/long come as a pair in range, or an address; some location is required");
        }
    }

    #[test]
    fn new_request_collects_fields_and_extras() {
        let r = new_request(&params(&[
            ("service_code", "leak"),
            ("lat", "39.98"),
            ("long", "116.41"),
            ("attribute[leak_kind]", "gas"),
            ("description", " 楼道有燃气味 "),
            ("media_url", "https://example.org/1.jpg"),
            ("first_name", "芳"),
            ("last_name", "王"),
            ("email", "wang@example.org"),
        ]))
        .unwrap();
        assert_eq!(r.service.category, Category::Leak);
        assert_eq!(r.description, "楼道有燃气味");
        assert_eq!(r.name.as_deref(), Some("王芳"), "a Chinese name is family name first");
        assert_eq!(r.extras.name.as_deref(), Some("王芳"), "without a phone the name rides in the extras");
        assert_eq!(r.extras.attributes, vec![("leak_kind".to_owned(), "gas".to_owned())]);
        let codes = |pairs: &[(&str, &str)]| new_request(&params(pairs)).map(|_| ()).map_err(|e| e.code());
        assert_eq!(codes(&[("lat", "39.98"), ("long", "116.41")]), Err("missing_field"), "service_code is required");
        assert_eq!(codes(&[("service_code", "x"), ("lat", "39.98"), ("long", "116.41")]), Err("unknown_service"));
        assert_eq!(codes(&[("service_code", "leak"), ("lat", "39.98"), ("long", "116.41")]), Err("missing_attribute"));
        assert_eq!(codes(&[("service_code", "other"), ("address_id", "x"), ("media_url", "ftp://x")]), Err("bad_field"));
        assert_eq!(codes(&[("service_code", "other"), ("address_id", "x"), ("email", "nobody")]), Err("bad_field"));
        assert_eq!(codes(&[("service_code", "other"), ("address_id", "x"), ("attribute[oops", "1")]), Err("bad_attribute"));
        assert_eq!(codes(&[("service_code", "other"), ("service_code", "leak"), ("address_id", "x")]), Err("repeated_field"));
    }

    #[test]
    fn the_ninety_day_rule() {
        let now = 1_760_000_000_000;
        let q = |pairs: &[(&str, &str)]| request_query(&params(pairs), now);
        let day = DAY_MS;
        match q(&[]).unwrap() {
            RequestQuery::Filter { start_ms, end_ms, .. } => {
                assert_eq!((start_ms, end_ms), (now - 90 * day, now), "no dates: the last 90 days")
            }
            other => panic!("expected a filter, got {other:?}"),
        }
        let s = "2025-01-01T00:00:00+08:00";
        let s_ms = w3c::parse(s, "x").unwrap();
        match q(&[("start_date", s)]).unwrap() {
            RequestQuery::Filter { start_ms, end_ms, .. } => {
                assert_eq!((start_ms, end_ms), (s_ms, s_ms + 90 * day), "start only: 90 days on")
            }
            other => panic!("expected a filter, got {other:?}"),
        }
        assert!(q(&[("start_date", s), ("end_date", "2025-03-31T23:59:59+08:00")]).is_ok(), "89 days and a bit is fine");
        assert!(q(&[("start_date", s), ("end_date", "2025-04-01T00:00:00+08:00")]).is_ok(), "exactly 90 days is fine");
        assert_eq!(
            q(&[("start_date", s), ("end_date", "2025-04-01T00:00:01+08:00")]).map(|_| ()).map_err(|e| e.code()),
            Err("range_too_long"),
            "a second over 90 days is refused"
        );
        assert_eq!(
            q(&[("start_date", s), ("end_date", "2024-12-31T00:00:00+08:00")]).map(|_| ()).map_err(|e| e.code()),
            Err("backwards_range")
        );
        assert_eq!(q(&[("start_date", "2025-01-01")]).map(|_| ()).map_err(|e| e.code()), Err("bad_datetime"), "dates need a time and zone");
        assert_eq!(q(&[("status", "open,pending")]).map(|_| ()).map_err(|e| e.code()), Err("bad_status"));
        assert_eq!(q(&[("service_code", "leak,nope")]).map(|_| ()).map_err(|e| e.code()), Err("unknown_service"));
        match q(&[("status", "closed"), ("service_code", "leak,noise")]).unwrap() {
            RequestQuery::Filter { categories, statuses, .. } => {
                assert_eq!(categories, Some(vec![Category::Leak, Category::Noise]));
                assert_eq!(statuses, Statuses { open: false, closed: true });
            }
            other => panic!("expected a filter, got {other:?}"),
        }
        let id = IssueId::from_parts(1, [1; 10]);
        assert_eq!(
            q(&[("service_request_id", &format!("{id}, junk")), ("start_date", "bad"), ("status", "bad")]).unwrap(),
            RequestQuery::Ids(vec![id]),
            "service_request_id overrides every other filter"
        );
    }
}
