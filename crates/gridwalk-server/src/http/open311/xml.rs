//! A small XML writer for GeoReport v2's flat documents: a declaration, a root, repeated
//! records of text elements. Text is escaped; characters XML 1.0 cannot carry are dropped.

pub const DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// Escape text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows tab, newline and carriage return among the controls, nothing else.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A document under construction.
#[derive(Debug)]
pub struct Doc {
    out: String,
    open: Vec<&'static str>,
}

impl Doc {
    pub fn new(root: &'static str) -> Doc {
        let mut d = Doc { out: String::from(DECLARATION), open: Vec::new() };
        d.open(root);
        d
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// `<name>text</name>`; an empty text is written as `<name></name>`.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Close everything still open and return the text.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_keeps_chinese() {
        assert_eq!(escape(r#"<a href="x">&'路灯'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;路灯&apos;");
        assert_eq!(escape("a\u{1}b\nc"), "ab\nc", "a control character XML cannot carry is dropped, a newline kept");
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
}
