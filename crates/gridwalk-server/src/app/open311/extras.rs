//! What an Open311 request carries beyond our `IssueReport` fields (`media_url`, `attribute[…]`
//! values, an e-mail and a name without a phone) travels inside the issue's description, as a
//! trailer the worker reads on the tablet and this module parses back:
//!
//! ```text
//! 路灯不亮，已经三天了
//!
//! [Open311]
//! media_url: https://example.org/p/1.jpg
//! attribute[pole_number]: A-12
//! ```
//!
//! Rules, so the description comes back exactly as it was filed: the trailer is a line
//! `[Open311]` preceded by a blank line (or at the very start, for an empty description),
//! followed by `key: value` lines whose values hold no line breaks. It is written whenever
//! there is an extra, when the description is empty (the report needs some text), or when the
//! description itself contains `[Open311]`; decoding takes the *last* marker, so a resident's
//! own `[Open311]` text stays in the description. Only issues filed through Open311 (their
//! `external_ref` starts with [`super::ORDER_PREFIX`]) are decoded.

pub const MARKER: &str = "[Open311]";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub media_url: Option<String>,
    pub email: Option<String>,
    /// A name given without a phone (with a phone it is the report's contact name).
    pub name: Option<String>,
    pub attributes: Vec<(String, String)>,
}

impl Extras {
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.media_url {
            out.push(format!("media_url: {u}"));
        }
        if let Some(e) = &self.email {
            out.push(format!("email: {e}"));
        }
        if let Some(n) = &self.name {
            out.push(format!("name: {n}"));
        }
        out.extend(self.attributes.iter().map(|(k, v)| format!("attribute[{k}]: {v}")));
        out
    }
}

/// The report's description: the resident's text plus the trailer when one is needed.
pub fn encode(description: &str, extras: &Extras) -> String {
    let lines = extras.lines();
    if lines.is_empty() && !description.is_empty() && !description.contains(MARKER) {
        return description.to_owned();
    }
    let mut out = String::from(description);
    if !description.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(MARKER);
    for l in lines {
        out.push('\n');
        out.push_str(&l);
    }
    out
}

fn parse_lines(trailer: &str) -> Option<Extras> {
    let mut x = Extras::default();
    for line in trailer.split('\n').skip(1) {
        let (key, value) = line.split_once(": ")?;
        let value = value.to_owned();
        match key {
            "media_url" => x.media_url = Some(value),
            "email" => x.email = Some(value),
            "name" => x.name = Some(value),
            k => {
                let code = k.strip_prefix("attribute[")?.strip_suffix(']')?;
                x.attributes.push((code.to_owned(), value));
            }
        }
    }
    Some(x)
}

/// Split a stored description into the resident's text and the extras. A description without
/// a well-formed trailer is all text.
pub fn decode(stored: &str) -> (String, Extras) {
    let at = match stored.rfind(MARKER) {
        Some(at) => at,
        None => return (stored.to_owned(), Extras::default()),
    };
    let (text, trailer) = if at == 0 {
        ("", stored)
    } else if stored[..at].ends_with("\n\n") {
        (&stored[..at - 2], &stored[at..])
    } else {
        return (stored.to_owned(), Extras::default());
    };
    if !(trailer == MARKER || trailer.starts_with("[Open311]\n")) {
        return (stored.to_owned(), Extras::default());
    }
    match parse_lines(trailer) {
        Some(x) => (text.to_owned(), x),
        None => (stored.to_owned(), Extras::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let full = Extras {
            media_url: Some("https://example.org/a.jpg?x=1&y=2".into()),
            email: Some("wang@example.org".into()),
            name: Some("王芳".into()),
            attributes: vec![("leak_kind".into(), "gas".into()), ("floor".into(), "3".into())],
        };
        for desc in ["路灯不亮，已经三天了", "", "居民说：[Open311] 是什么？", "两行\n\n[Open311]\n假的", "ends with blank lines\n\n"]
        {
            for x in [Extras::default(), full.clone()] {
                let stored = encode(desc, &x);
                assert!(!stored.trim().is_empty(), "the stored description is never empty");
                assert_eq!(decode(&stored), (desc.to_owned(), x.clone()), "{desc:?} with {x:?} comes back exactly");
            }
        }
        assert_eq!(encode("路灯不亮", &Extras::default()), "路灯不亮", "a plain description is stored as is");
    }

    #[test]
    fn the_trailer_reads_well_on_a_tablet() {
        let x = Extras {
            media_url: Some("https://m/1.jpg".into()),
            attributes: vec![("pole_number".into(), "A-12".into())],
            ..Default::default()
        };
        assert_eq!(encode("路灯不亮", &x), "路灯不亮\n\n[Open311]\nmedia_url: https://m/1.jpg\nattribute[pole_number]: A-12");
        assert_eq!(decode("no trailer [Open311]"), ("no trailer [Open311]".into(), Extras::default()), "a marker mid-line is text");
    }
}
