//! A YAML tree in which every node remembers where it came from.
//!
//! Built from `saphyr-parser` events. Scalars are resolved with the YAML 1.2 core schema
//! (quoted scalars are always strings). Duplicate mapping keys keep the last value and leave a
//! warning, as Azure ML does; anchors, aliases and `<<` merge keys are supported.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as ParserSpan};

use crate::diag::{SpecError, Warning};
use crate::source::{Source, Span};

/// One YAML node and its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// The value of a YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `quoted` is true when the source used quotes or a block scalar.
    Str {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in source order; a duplicate key keeps its first position and its last value.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A word for the kind of value, used in "expected X, found Y" messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar's text as written, for any scalar (strings, numbers, booleans).
    #[must_use]
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str { text, .. } => Some(text.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Converts the node to JSON (for recording specs and literal values).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Str { text, .. } => serde_json::Value::String(text.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses the first document of `source` into a [`Node`] tree.
pub fn parse(source: &Source, warnings: &mut Vec<Warning>) -> Result<Node, SpecError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(&source.text),
        source,
        anchors: HashMap::new(),
        warnings,
    };
    builder.document()
}

struct Builder<'a, 'w> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    source: &'a Source,
    anchors: HashMap<usize, Node>,
    warnings: &'w mut Vec<Warning>,
}

impl<'a> Builder<'a, '_> {
    fn next(&mut self) -> Result<(Event<'a>, ParserSpan), SpecError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                let m = e.marker();
                let span = Span::new(m.index(), m.index(), m.line(), m.col() + 1);
                Err(
                    SpecError::new(self.source, span, format!("invalid YAML: {}", e.info()))
                        .with_label("here")
                        .with_help("check the indentation and quoting around this point"),
                )
            }
            None => Err(SpecError::new(
                self.source,
                self.source.end_span(),
                "invalid YAML: unexpected end of input",
            )),
        }
    }

    fn document(&mut self) -> Result<Node, SpecError> {
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::DocumentStart(_) => break,
                Event::StreamEnd => {
                    return Err(SpecError::new(
                        self.source,
                        Span::from_parser(span),
                        "the file is empty",
                    )
                    .with_help(
                        "a spec file must contain a YAML mapping such as `type: pipeline`",
                    ));
                }
                _ => {}
            }
        }
        let (ev, span) = self.next()?;
        self.node(ev, span)
    }

    fn node(&mut self, ev: Event<'a>, span: ParserSpan) -> Result<Node, SpecError> {
        let start = Span::from_parser(span);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref().map(|t| t.suffix.as_str()));
                let node = Node { value, span: start };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => self.anchors.get(&id).cloned().ok_or_else(|| {
                SpecError::new(self.source, start, "unknown YAML alias")
                    .with_help("define the anchor (`&name`) before using the alias (`*name`)")
            }),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let end = loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break Span::from_parser(span);
                    }
                    items.push(self.node(ev, span)?);
                };
                let node = Node {
                    value: Value::Seq(items),
                    span: start.to(end),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let end = loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break Span::from_parser(span);
                    }
                    let key = self.node(ev, span)?;
                    let (ev, span) = self.next()?;
                    let value = self.node(ev, span)?;
                    if key.as_str() == Some("<<") {
                        self.merge(&mut entries, value)?;
                        continue;
                    }
                    self.insert(&mut entries, key, value);
                };
                let node = Node {
                    value: Value::Map(entries),
                    span: start.to(end),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            other => Err(SpecError::new(
                self.source,
                start,
                format!("invalid YAML: unexpected {other:?}"),
            )),
        }
    }

    fn insert(&mut self, entries: &mut Vec<(Node, Node)>, key: Node, value: Node) {
        let name = key.scalar_text();
        if let Some(existing) = entries
            .iter_mut()
            .find(|(k, _)| name.is_some() && k.scalar_text() == name)
        {
            self.warnings.push(Warning::new(
                self.source,
                key.span,
                format!(
                    "duplicate key `{}` (first at line {}); the last value wins",
                    name.unwrap_or_default(),
                    existing.0.span.line
                ),
            ));
            existing.1 = value;
        } else {
            entries.push((key, value));
        }
    }

    fn merge(&mut self, entries: &mut Vec<(Node, Node)>, value: Node) -> Result<(), SpecError> {
        let maps = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            _ => {
                return Err(SpecError::new(
                    self.source,
                    value.span,
                    "a `<<` merge key needs a mapping or a list of mappings",
                ));
            }
        };
        for map in maps {
            let Value::Map(items) = map.value else {
                return Err(SpecError::new(
                    self.source,
                    map.span,
                    "a `<<` merge key needs a mapping or a list of mappings",
                ));
            };
            for (k, v) in items {
                let name = k.scalar_text();
                if !entries.iter().any(|(e, _)| e.scalar_text() == name) {
                    entries.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if style != ScalarStyle::Plain || tag == Some("str") {
        return Value::Str {
            text: text.to_owned(),
            quoted: true,
        };
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if looks_like_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    Value::Str {
        text: text.to_owned(),
        quoted: false,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Node, Vec<Warning>) {
        let src = Source::new("t.yml", text);
        let mut w = Vec::new();
        let node = parse(&src, &mut w).unwrap();
        (node, w)
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let (node, _) = load("a: 1\nb: 1.5\nc: true\nd: '1'\ne: ~\nf: text\ng: 1e3\n");
        let Value::Map(entries) = node.value else {
            panic!("not a map")
        };
        let kinds: Vec<_> = entries.iter().map(|(_, v)| v.value.kind()).collect();
        assert_eq!(
            kinds,
            [
                "an integer",
                "a number",
                "a boolean",
                "a string",
                "null",
                "a string",
                "a number"
            ]
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_warn() {
        let (node, warnings) = load("a: 1\nb: 2\na: 3\n");
        let Value::Map(entries) = node.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].1.value, Value::Int(3));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].span.line, 3);
        assert!(warnings[0].message.contains("duplicate key `a`"));
    }

    #[test]
    fn spans_are_one_based_line_and_column() {
        let (node, _) = load("top:\n  inner: value\n");
        let Value::Map(entries) = node.value else {
            panic!("not a map")
        };
        let Value::Map(inner) = &entries[0].1.value else {
            panic!("not a map")
        };
        assert_eq!((inner[0].1.span.line, inner[0].1.span.col), (2, 10));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let (node, _) = load("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n");
        let json = node.to_json();
        assert_eq!(json["other"]["x"], 1);
        assert_eq!(json["other"]["y"], 2);
    }
}
