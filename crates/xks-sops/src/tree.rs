//! The document tree sops works on: ordered maps, sequences and scalars, read
//! from and written to YAML or JSON with the order of the file kept (the MAC
//! covers the values in document order).

use std::fmt::Write as _;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use yaml_rust2::Yaml;
use zeroize::Zeroize;

use crate::{Error, Result};

/// Deepest nesting accepted when reading (guards the recursive walks).
const MAX_DEPTH: usize = 64;

/// A node of a sops document.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A mapping, in document order. Keys are strings (as sops requires).
    Map(Vec<(String, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Null.
    Null,
}

impl Zeroize for Node {
    fn zeroize(&mut self) {
        match self {
            Self::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.zeroize();
                v.zeroize();
            }),
            Self::Seq(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Self::Str(s) => s.zeroize(),
            Self::Int(i) => i.zeroize(),
            Self::Float(f) => *f = 0.0,
            Self::Bool(b) => b.zeroize(),
            Self::Null => {}
        }
    }
}

impl Node {
    /// The entry `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    fn depth(&self) -> usize {
        match self {
            Self::Map(e) => 1 + e.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            Self::Seq(i) => 1 + i.iter().map(Node::depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Parses a YAML document (exactly one).
    ///
    /// # Errors
    /// [`Error::Syntax`] for invalid YAML, several documents, aliases, non-string keys
    /// or nesting deeper than 64.
    pub fn from_yaml(text: &str) -> Result<Self> {
        // Bound nesting before the parser runs: block nesting needs an indentation
        // step per level, flow nesting an open bracket (counted generously: brackets
        // inside strings count too, balanced ones like `ENC[…]` cost nothing).
        let mut flow = 0usize;
        let mut deepest = 0usize;
        for c in text.chars() {
            match c {
                '[' | '{' => flow += 1,
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(flow);
        }
        if deepest > 4 * MAX_DEPTH || text.lines().any(|l| l.len() - l.trim_start().len() > 4 * MAX_DEPTH) {
            return Err(Error::Syntax("YAML nested too deeply".into()));
        }
        // Refuse aliases before the loader expands them (exponential "billion laughs").
        let mut aliases = AliasCounter(0);
        yaml_rust2::parser::Parser::new_from_str(text).load(&mut aliases, true).map_err(|e| Error::Syntax(format!("YAML: {e}")))?;
        if aliases.0 > 0 {
            return Err(Error::Syntax("YAML aliases are not supported".into()));
        }
        let mut docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| Error::Syntax(format!("YAML: {e}")))?;
        let doc = match (docs.pop(), docs.is_empty()) {
            (Some(d), true) => d,
            (None, _) => return Err(Error::Syntax("empty YAML document".into())),
            (Some(_), false) => return Err(Error::Syntax("several YAML documents in one file are not supported".into())),
        };
        let node = from_yaml(doc, 0)?;
        Ok(node)
    }

    /// Parses a JSON document.
    ///
    /// # Errors
    /// [`Error::Syntax`] for invalid JSON or nesting deeper than 64.
    pub fn from_json(text: &str) -> Result<Self> {
        // serde_json stops at 128 levels by itself; the walk below is bounded tighter.
        let node: Node = serde_json::from_str(text).map_err(|e| Error::Syntax(format!("JSON: {e}")))?;
        if node.depth() > MAX_DEPTH {
            return Err(Error::Syntax("JSON nested too deeply".into()));
        }
        Ok(node)
    }

    /// Renders the tree as YAML (block style, multi-line strings as literal blocks).
    ///
    /// # Errors
    /// Never for trees made by this crate; [`Error::Syntax`] if the emitter fails.
    pub fn to_yaml(&self) -> Result<String> {
        let mut out = String::new();
        let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
        emitter.multiline_strings(true);
        emitter.dump(&to_yaml(self)).map_err(|e| Error::Syntax(format!("YAML output: {e}")))?;
        // The emitter starts with a document marker; sops files do not.
        if out.starts_with("---\n") {
            out.drain(..4);
        }
        out.push('\n');
        Ok(out)
    }

    /// Renders the tree as JSON (pretty, four-space indent like sops).
    ///
    /// # Errors
    /// [`Error::Syntax`] for a non-finite float.
    pub fn to_json(&self) -> Result<String> {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(self, &mut ser).map_err(|e| Error::Syntax(format!("JSON output: {e}")))?;
        let mut s = String::from_utf8(buf).map_err(|_| Error::Syntax("JSON output is not UTF-8".into()))?;
        s.push('\n');
        Ok(s)
    }
}

struct AliasCounter(usize);

impl yaml_rust2::parser::EventReceiver for AliasCounter {
    fn on_event(&mut self, ev: yaml_rust2::Event) {
        if matches!(ev, yaml_rust2::Event::Alias(_)) {
            self.0 += 1;
        }
    }
}

fn from_yaml(y: Yaml, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(Error::Syntax("YAML nested too deeply".into()));
    }
    Ok(match y {
        Yaml::Hash(h) => {
            let mut entries = Vec::with_capacity(h.len());
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(r) => r,
                    _ => return Err(Error::Syntax("YAML map keys must be scalars".into())),
                };
                entries.push((key, from_yaml(v, depth + 1)?));
            }
            Node::Map(entries)
        }
        Yaml::Array(a) => Node::Seq(a.into_iter().map(|v| from_yaml(v, depth + 1)).collect::<Result<_>>()?),
        Yaml::String(s) => Node::Str(s),
        Yaml::Integer(i) => Node::Int(i),
        Yaml::Real(r) => Node::Float(parse_float(&r).ok_or_else(|| Error::Syntax("YAML: invalid number".into()))?),
        Yaml::Boolean(b) => Node::Bool(b),
        Yaml::Null => Node::Null,
        Yaml::Alias(_) => return Err(Error::Syntax("YAML aliases are not supported".into())),
        Yaml::BadValue => return Err(Error::Syntax("YAML: invalid value".into())),
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn to_yaml(n: &Node) -> Yaml {
    match n {
        Node::Map(entries) => Yaml::Hash(entries.iter().map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v))).collect()),
        Node::Seq(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Node::Str(s) => Yaml::String(s.clone()),
        Node::Int(i) => Yaml::Integer(*i),
        Node::Float(f) => Yaml::Real(format_float_yaml(*f)),
        Node::Bool(b) => Yaml::Boolean(*b),
        Node::Null => Yaml::Null,
    }
}

fn format_float_yaml(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf".into() } else { "-.inf".into() }
    } else {
        let mut s = format_float(f);
        if !s.contains('.') {
            s.push_str(".0"); // keep it a float when read back
        }
        s
    }
}

/// A float the way sops (Go `strconv.FormatFloat(f, 'f', -1, 64)`) writes it.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        let mut s = String::new();
        let _ = write!(s, "{f}");
        s
    }
}

impl serde::Serialize for Node {
    fn serialize<S: Serializer>(&self, ser: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            Self::Map(entries) => {
                let mut m = ser.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Self::Seq(items) => {
                let mut s = ser.serialize_seq(Some(items.len()))?;
                for v in items {
                    s.serialize_element(v)?;
                }
                s.end()
            }
            Self::Str(s) => ser.serialize_str(s),
            Self::Int(i) => ser.serialize_i64(*i),
            Self::Float(f) => ser.serialize_f64(*f),
            Self::Bool(b) => ser.serialize_bool(*b),
            Self::Null => ser.serialize_unit(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(de: D) -> core::result::Result<Self, D::Error> {
        de.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> core::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<Node, E> {
        // Go's sops reads such numbers as float64 as well.
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> core::result::Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> core::result::Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> core::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> core::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> core::result::Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> core::result::Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            if entries.iter().any(|(e, _)| *e == k) {
                return Err(de::Error::custom("duplicate key"));
            }
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_document_order() -> Result<()> {
        let n = Node::from_json(r#"{"z": 1, "a": [true, null, 1.5, "x"], "m": {"b": 2, "a": 3}}"#)?;
        let Node::Map(e) = &n else { return Err(Error::Syntax("not a map".into())) };
        assert_eq!(e.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["z", "a", "m"]);
        assert_eq!(Node::from_json(&n.to_json()?)?, n);
        assert_eq!(Node::from_yaml(&n.to_yaml()?)?, n);
        Ok(())
    }

    #[test]
    fn yaml_scalars_keep_their_types() -> Result<()> {
        let n = Node::from_yaml("s: '123'\ni: 123\nf: 1.50\nb: true\nn: null\nq: 'true'\nm: |\n  line 1\n  line 2\n")?;
        assert_eq!(n.get("s"), Some(&Node::Str("123".into())));
        assert_eq!(n.get("i"), Some(&Node::Int(123)));
        assert_eq!(n.get("f"), Some(&Node::Float(1.5)));
        assert_eq!(n.get("b"), Some(&Node::Bool(true)));
        assert_eq!(n.get("n"), Some(&Node::Null));
        assert_eq!(n.get("q"), Some(&Node::Str("true".into())));
        assert_eq!(Node::from_yaml(&n.to_yaml()?)?, n);
        Ok(())
    }

    #[test]
    fn hostile_documents_are_errors_not_panics() {
        assert!(Node::from_json(&"[".repeat(100_000)).is_err());
        assert!(Node::from_yaml(&"[".repeat(100_000)).is_err());
        assert!(Node::from_yaml("a: &x 1\nb: *x\n").is_err());
        assert!(Node::from_yaml("a: 1\n---\nb: 2\n").is_err());
        assert!(Node::from_json(r#"{"a": 1, "a": 2}"#).is_err());
        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        assert!(Node::from_json(&deep).is_err());
        assert!(Node::from_yaml(&deep).is_err());
    }

    #[test]
    fn floats_are_written_like_go() {
        assert_eq!(format_float(1234.56789), "1234.56789");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }
}
