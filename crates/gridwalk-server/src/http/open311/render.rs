//! One tree, two formats: every Open311 answer is built once as [`Node`]s and rendered as JSON
//! or as XML from the same tree, so the two formats cannot drift apart.

use super::xml::Doc;
use serde_json::{Map, Value};

/// The two formats of the spec, from the path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }

    /// Split `name.ext` into the name and its format.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        let (name, ext) = file.rsplit_once('.')?;
        Some((name, Format::from_extension(ext)?))
    }
}

/// A value in an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Text(String),
    Int(i64),
    Number(f64),
    Bool(bool),
    /// JSON `null`, an empty XML element.
    Null,
    /// A list of records; in XML each record is an element named `item`.
    List {
        item: &'static str,
        records: Vec<Record>,
    },
}

pub type Record = Vec<(&'static str, Node)>;

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::Text(s.to_owned())
    }
}
impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::Text(s)
    }
}
impl From<Option<String>> for Node {
    fn from(s: Option<String>) -> Self {
        s.map_or(Node::Null, Node::Text)
    }
}

/// A whole answer: a list under a root (`services`/`service`), or one record under a root.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    List { root: &'static str, item: &'static str, records: Vec<Record> },
    One { root: &'static str, record: Record },
}

fn json_record(r: &Record) -> Value {
    let mut m = Map::new();
    for (k, v) in r {
        m.insert((*k).to_owned(), json_node(v));
    }
    Value::Object(m)
}

fn json_node(n: &Node) -> Value {
    match n {
        Node::Text(s) => Value::String(s.clone()),
        Node::Int(i) => Value::from(*i),
        Node::Number(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Node::Bool(b) => Value::Bool(*b),
        Node::Null => Value::Null,
        Node::List { records, .. } => Value::Array(records.iter().map(json_record).collect()),
    }
}

fn xml_record(d: &mut Doc, r: &Record) {
    for (k, v) in r {
        match v {
            Node::Text(s) => d.text(k, s),
            Node::Int(i) => d.text(k, &i.to_string()),
            Node::Number(f) => d.text(k, &f.to_string()),
            Node::Bool(b) => d.text(k, if *b { "true" } else { "false" }),
            Node::Null => d.text(k, ""),
            Node::List { item, records } => {
                d.open(k);
                for rec in records {
                    d.open(item);
                    xml_record(d, rec);
                    d.close();
                }
                d.close()
            }
        };
    }
}

pub fn render(format: Format, answer: &Answer) -> String {
    match (format, answer) {
        (Format::Json, Answer::List { records, .. }) => Value::Array(records.iter().map(json_record).collect()).to_string(),
        (Format::Json, Answer::One { record, .. }) => json_record(record).to_string(),
        (Format::Xml, Answer::List { root, item, records }) => {
            let mut d = Doc::new(root);
            for r in records {
                d.open(item);
                xml_record(&mut d, r);
                d.close();
            }
            d.finish()
        }
        (Format::Xml, Answer::One { root, record }) => {
            let mut d = Doc::new(root);
            xml_record(&mut d, record);
            d.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tree_renders_as_both_formats() {
        let a = Answer::List {
            root: "errors",
            item: "error",
            records: vec![vec![("code", Node::Int(403)), ("description", "invalid_api_key: 钥匙不对 <&>".into())]],
        };
        assert_eq!(render(Format::Json, &a), r#"[{"code":403,"description":"invalid_api_key: 钥匙不对 <&>"}]"#);
        assert_eq!(
            render(Format::Xml, &a),
            r#"<?xml version="1.0" encoding="utf-8"?><errors><error><code>403</code><description>invalid_api_key: 钥匙不对 &lt;&amp;&gt;</description></error></errors>"#
        );
        let one = Answer::One {
            root: "service_definition",
            record: vec![
                ("service_code", "leak".into()),
                ("attributes", Node::List { item: "attribute", records: vec![vec![("required", Node::Bool(true)), ("x", Node::Null)]] }),
            ],
        };
        assert_eq!(render(Format::Json, &one), r#"{"attributes":[{"required":true,"x":null}],"service_code":"leak"}"#);
        assert!(render(Format::Xml, &one).ends_with(
            "<service_definition><service_code>leak</service_code><attributes><attribute><required>true</required><x></x></attribute></attributes></service_definition>"
        ));
        assert_eq!(Format::split("leak.xml"), Some(("leak", Format::Xml)));
        assert_eq!(Format::split("leak.html"), None, "only .json and .xml are formats");
    }
}
