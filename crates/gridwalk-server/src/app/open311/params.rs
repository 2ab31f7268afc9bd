//! Parsing Open311 parameters (form bodies and query strings) into checked requests. Pure: no
//! database, no clock (the caller passes `now_ms`).

use super::error::Open311Error;
use super::extras::Extras;
use super::services::{self, Service};
use super::w3c;
use gridwalk_domain::validate::MAX_TIME_MS;
use gridwalk_domain::Category;
use std::collections::BTreeMap;

/// The longest range `GET requests` takes, and its default window back from now.
pub const MAX_RANGE_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
pub const MAX_MEDIA_URL_CHARS: usize = 500;
/// Requests per page of `GET requests` unless `page_size` says otherwise, and the most it may say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;
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

/// Whether `u` is an `http://` or `https://` URL with a host and no spaces or control
/// characters: the only kind of `media_url` taken in or shown (a `javascript:` or `data:` URL
/// would run in whatever page renders the listing).
pub fn is_http_url(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &u[8..]
    } else if lower.starts_with("http://") {
        &u[7..]
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !u.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '\\' | '`'))
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
        if !is_http_url(u) {
            return Err(Open311Error::BadMediaUrl);
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
    /// `service_request_id` given: exactly these public ids (ids that are not ours are simply
    /// not found), at most [`MAX_PAGE_SIZE`] of them.
    Ids(Vec<String>),
    Filter {
        categories: Option<Vec<Category>>,
        start_ms: i64,
        end_ms: i64,
        statuses: Statuses,
        /// 1..=[`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when not given.
        page_size: u32,
        /// `page_after`: the last `service_request_id` of the previous page.
        page_after: Option<String>,
    },
}

fn comma_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// A datetime parameter, parsed and bounded to 1970..2100 before any arithmetic.
fn date(p: &Params, field: &'static str) -> Result<Option<i64>, Open311Error> {
    let Some(ms) = p.one(field)?.map(|s| w3c::parse(s, field)).transpose()? else { return Ok(None) };
    if !(0..=MAX_TIME_MS).contains(&ms) {
        return Err(Open311Error::BadField { field: field.into(), reason: "must lie between 1970 and 2100".into() });
    }
    Ok(Some(ms))
}

/// Check a `GET requests` query at `now_ms`. With no dates the window is the last 90 days; one
/// date spans 90 days from (or to) it; two may be at most 90 days apart. Pages hold
/// `page_size` requests (default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]); the next
/// page is asked for with `page_after` = the last `service_request_id` of this one.
pub fn request_query(p: &Params, now_ms: i64) -> Result<RequestQuery, Open311Error> {
    if let Some(ids) = p.one("service_request_id")? {
        let ids: Vec<String> = comma_list(ids).filter(|s| crate::model::is_public_id(s)).map(str::to_owned).collect();
        if ids.len() > MAX_PAGE_SIZE as usize {
            return Err(Open311Error::BadPage(format!("at most {MAX_PAGE_SIZE} service_request_ids at once")));
        }
        return Ok(RequestQuery::Ids(ids));
    }
    let page_size = match p.one("page_size")? {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => return Err(Open311Error::BadPage(format!("page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, not {v:?}"))),
        },
    };
    let page_after = match p.one("page_after")? {
        None => None,
        Some(v) if crate::model::is_public_id(v) => Some(v.to_owned()),
        Some(v) => return Err(Open311Error::BadPage(format!("page_after must be a service_request_id of a previous page, not {v:?}"))),
    };
    let categories = p
        .one("service_code")?
        .map(|codes| comma_list(codes).map(|c| services::by_code(c).map(|s| s.category)).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let (start, end) = (date(p, "start_date")?, date(p, "end_date")?);
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
    Ok(RequestQuery::Filter { categories, start_ms, end_ms, statuses, page_size, page_after })
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
        assert_eq!(codes(&[("service_code", "other"), ("address_id", "x"), ("media_url", "ftp://x")]), Err("bad_media_url"));
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
        let id = crate::model::public_id(gridwalk_domain::IssueId::from_parts(1, [1; 10]));
        assert_eq!(
            q(&[("service_request_id", &format!("{id}, junk")), ("start_date", "bad"), ("status", "bad")]).unwrap(),
            RequestQuery::Ids(vec![id.clone()]),
            "service_request_id overrides every other filter"
        );
        let internal = gridwalk_domain::IssueId::from_parts(1, [1; 10]).to_string();
        assert_eq!(q(&[("service_request_id", &internal)]).unwrap(), RequestQuery::Ids(vec![]), "an internal issue id is no public id");
    }

    #[test]
    fn pages_and_bounds() {
        let now = 1_760_000_000_000;
        let code = |pairs: &[(&str, &str)]| request_query(&params(pairs), now).map(|_| ()).map_err(|e| e.code());
        for bad in ["0", "201", "-1", "ten", "1e3", "99999999999999999999"] {
            assert_eq!(code(&[("page_size", bad)]), Err("bad_page"), "page_size {bad:?} is refused: 1 to 200");
        }
        for bad in ["x", "ABCDEF0123456789abcd", "0123456789abcdef0123a"] {
            assert_eq!(code(&[("page_after", bad)]), Err("bad_page"), "page_after {bad:?} is no public id");
        }
        match request_query(&params(&[]), now).unwrap() {
            RequestQuery::Filter { page_size, page_after, .. } => assert_eq!((page_size, page_after), (DEFAULT_PAGE_SIZE, None)),
            other => panic!("expected a filter, got {other:?}"),
        }
        match request_query(&params(&[("page_size", "200"), ("page_after", "0123456789abcdef0123")]), now).unwrap() {
            RequestQuery::Filter { page_size, page_after, .. } => {
                assert_eq!((page_size, page_after.as_deref()), (200, Some("0123456789abcdef0123")))
            }
            other => panic!("expected a filter, got {other:?}"),
        }
        assert_eq!(code(&[("start_date", "1969-12-31T23:59:59Z")]), Err("bad_field"), "dates before 1970 are refused before arithmetic");
        assert_eq!(code(&[("end_date", "2200-01-01T00:00:00Z")]), Err("bad_field"), "dates after 2100 are refused");
        let many: Vec<String> = (0..201u64).map(|i| crate::model::public_id(gridwalk_domain::IssueId::from_parts(i, [0; 10]))).collect();
        assert_eq!(code(&[("service_request_id", &many.join(","))]), Err("bad_page"), "at most 200 ids at once");
    }

    #[test]
    fn only_http_urls_are_media() {
        for ok in ["https://example.org/1.jpg", "http://m.example.org/p?a=1&b=2", "HTTPS://EXAMPLE.ORG/x"] {
            assert!(is_http_url(ok), "{ok} is an http(s) URL");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript://example.org/%0aalert(1)",
            "data:text/html,<script>",
            "ftp://example.org/x",
            "https://",
            "https:///path",
            "https://ex ample.org",
            "https://example.org/\"><script>",
            "//example.org/x",
            "vbscript:msgbox",
        ] {
            assert!(!is_http_url(bad), "{bad:?} is refused");
        }
    }
}
