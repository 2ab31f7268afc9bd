//! GeoReport v2's flat XML documents on quick-xml's writer: a declaration, a root, repeated
//! records of text elements. quick-xml escapes the text; characters XML 1.0 cannot carry are
//! dropped first.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use std::borrow::Cow;

/// `text` without the characters XML 1.0 cannot carry, even as a character reference: the
/// controls other than tab, newline and carriage return, and U+FFFE/U+FFFF (Rust's `char` has
/// no surrogates). quick-xml's escaping leaves them in, which would make the document unreadable.
fn xml10_chars(text: &str) -> Cow<'_, str> {
    let illegal = |c: char| ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}');
    if text.contains(illegal) {
        Cow::Owned(text.chars().filter(|c| !illegal(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// A document under construction.
pub struct Doc {
    out: Writer<Vec<u8>>,
    open: Vec<&'static str>,
}

// quick-xml's `Writer` is not `Debug`; show what has been written so far.
impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc").field("out", &String::from_utf8_lossy(self.out.get_ref())).field("open", &self.open).finish()
    }
}

impl Doc {
    pub fn new(root: &'static str) -> Doc {
        let mut d = Doc { out: Writer::new(Vec::new()), open: Vec::new() };
        // `<?xml version="1.0" encoding="utf-8"?>`
        d.write(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        d.open(root);
        d
    }

    fn write(&mut self, event: Event<'_>) {
        // Writing into a `Vec` cannot fail: `io::Write for Vec<u8>` never returns an error.
        self.out.write_event(event).expect("writing XML into memory");
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.write(Event::Start(BytesStart::new(name)));
        self.open.push(name);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.write(Event::End(BytesEnd::new(name)));
        }
        self
    }

    /// `<name>text</name>`; an empty text is written as `<name></name>`, never `<name/>`.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.write(Event::Start(BytesStart::new(name)));
        self.write(Event::Text(BytesText::new(&xml10_chars(text))));
        self.write(Event::End(BytesEnd::new(name)));
        self
    }

    /// Close everything still open and return the text.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        // Every byte written came from a `&str` or from quick-xml's ASCII markup.
        String::from_utf8(self.out.into_inner()).expect("the XML written is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The markup `Doc::text` writes around `text`.
    fn element(text: &str) -> String {
        let mut d = Doc::new("r");
        d.text("t", text);
        let out = d.finish();
        out.strip_prefix(r#"<?xml version="1.0" encoding="utf-8"?><r><t>"#).unwrap().strip_suffix("</t></r>").unwrap().to_owned()
    }

    #[test]
    fn escapes_markup_and_keeps_chinese() {
        assert_eq!(element(r#"<a href="x">&'路灯'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;路灯&apos;");
        assert_eq!(element("a\u{1}b\nc"), "ab\nc", "a control character XML cannot carry is dropped, a newline kept");
        assert_eq!(element("a\u{FFFE}\u{FFFF}\u{0}\tb"), "a\tb", "non-characters and NUL are dropped, a tab kept");
        assert_eq!(element("a\r\nb"), "a&#13;\nb", "a carriage return survives as a reference (a parser would turn a raw one into \\n)");
    }

    #[test]
    fn writes_a_declared_nested_document() {
        let mut d = Doc::new("services");
        d.open("service").text("service_code", "leak").text("service_name", "跑冒滴漏");
        assert_eq!(
            d.finish(),
            r#"<?xml version="1.0" encoding="utf-8"?><services><service><service_code>leak</service_code><service_name>跑冒滴漏</service_name></service></services>"#,
            "every document starts with the UTF-8 declaration and closes what it opened"
        );
    }

    #[test]
    fn an_empty_text_is_an_open_and_a_close_tag() {
        let mut d = Doc::new("r");
        d.text("x", "");
        assert_eq!(d.finish(), r#"<?xml version="1.0" encoding="utf-8"?><r><x></x></r>"#);
    }
}
