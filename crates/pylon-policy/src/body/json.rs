//! An order-preserving JSON document ([`Doc`]) and RFC 6901 JSON pointers
//! ([`Pointer`]) with the edits the transform policies make: get, remove and
//! set (creating missing parents).
//!
//! Object keys keep the order they had in the body, so a rewritten body
//! differs from the original only where it was edited. Parsing goes through
//! `serde_json`, whose nesting limit (128) bounds the depth.

use std::fmt;

use bytes::Bytes;
use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

pub type Map = IndexMap<String, Doc>;

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Doc {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Doc>),
    Object(Map),
}

impl Doc {
    /// Parse a JSON text.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Serialize compactly; `hint` is the expected size (e.g. the old body's).
    pub fn to_bytes(&self, hint: usize) -> Bytes {
        let mut out = Vec::with_capacity(hint.saturating_add(64));
        // Writing to a Vec cannot fail and every value here is serializable.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.clear();
        }
        Bytes::from(out)
    }
}

impl From<serde_json::Value> for Doc {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Doc::Null,
            serde_json::Value::Bool(b) => Doc::Bool(b),
            serde_json::Value::Number(n) => Doc::Number(n),
            serde_json::Value::String(s) => Doc::String(s),
            serde_json::Value::Array(a) => Doc::Array(a.into_iter().map(Doc::from).collect()),
            serde_json::Value::Object(o) => {
                Doc::Object(o.into_iter().map(|(k, v)| (k, Doc::from(v))).collect())
            }
        }
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => s.serialize_unit(),
            Doc::Bool(b) => s.serialize_bool(*b),
            Doc::Number(n) => n.serialize(s),
            Doc::String(t) => s.serialize_str(t),
            Doc::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Doc::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Doc, E> {
        Ok(Doc::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Doc, E> {
        Ok(Doc::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Doc, E> {
        Ok(Doc::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc, E> {
        serde_json::Number::from_f64(v)
            .map(Doc::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Doc, E> {
        Ok(Doc::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Doc, E> {
        Ok(Doc::String(v))
    }
    fn visit_unit<E>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }
    fn visit_none<E>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        Doc::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Doc, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = access.next_entry::<String, Doc>()? {
            // A repeated key keeps its first position and its last value.
            map.insert(k, v);
        }
        Ok(Doc::Object(map))
    }
}

/// A parsed RFC 6901 JSON pointer (`/a/b/0`, `~1` for `/`, `~0` for `~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(Box<[String]>);

impl Pointer {
    /// Parse a pointer; `""` is the whole document.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(Self(Box::new([])));
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(format!(
                "JSON pointer `{s}` must be empty or start with `/`"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut tok = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    tok.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => tok.push('~'),
                    Some('1') => tok.push('/'),
                    _ => {
                        return Err(format!(
                            "JSON pointer `{s}`: `~` must be followed by `0` or `1`"
                        ));
                    }
                }
            }
            tokens.push(tok);
        }
        Ok(Self(tokens.into()))
    }

    /// Whether this is the whole document.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The value this pointer names.
    pub fn get<'d>(&self, doc: &'d Doc) -> Option<&'d Doc> {
        let mut cur = doc;
        for tok in self.0.iter() {
            cur = match cur {
                Doc::Object(m) => m.get(tok)?,
                Doc::Array(a) => a.get(index(tok)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Remove and return the value this pointer names (array items after it
    /// shift down; object keys keep their order). The root cannot be removed.
    pub fn remove(&self, doc: &mut Doc) -> Option<Doc> {
        let (last, parents) = self.0.split_last()?;
        let mut cur = doc;
        for tok in parents {
            cur = match cur {
                Doc::Object(m) => m.get_mut(tok)?,
                Doc::Array(a) => a.get_mut(index(tok)?)?,
                _ => return None,
            };
        }
        match cur {
            Doc::Object(m) => m.shift_remove(last),
            Doc::Array(a) => {
                let i = index(last)?;
                (i < a.len()).then(|| a.remove(i))
            }
            _ => None,
        }
    }

    /// Set the value this pointer names, creating missing parents as objects
    /// (a `null` parent becomes an object too). In an array, an index equal
    /// to the length or `-` appends. When the path runs through a string,
    /// number or boolean, or past an array's end, nothing changes and the
    /// value is handed back.
    pub fn set(&self, doc: &mut Doc, value: Doc) -> Result<(), Doc> {
        let Some((last, parents)) = self.0.split_last() else {
            *doc = value;
            return Ok(());
        };
        // Check first, so a failed set leaves the document as it was.
        if !self.reachable(doc) {
            return Err(value);
        }
        let mut cur = doc;
        for tok in parents {
            if matches!(cur, Doc::Null) {
                *cur = Doc::Object(Map::new());
            }
            cur = match cur {
                Doc::Object(m) => m
                    .entry(tok.clone())
                    .or_insert_with(|| Doc::Object(Map::new())),
                Doc::Array(a) => match array_slot(a, tok) {
                    Some(i) => {
                        if i == a.len() {
                            a.push(Doc::Object(Map::new()));
                        }
                        &mut a[i]
                    }
                    None => return Err(value),
                },
                _ => return Err(value),
            };
        }
        if matches!(cur, Doc::Null) {
            *cur = Doc::Object(Map::new());
        }
        match cur {
            Doc::Object(m) => {
                m.insert(last.clone(), value);
                Ok(())
            }
            Doc::Array(a) => match array_slot(a, last) {
                Some(i) if i == a.len() => {
                    a.push(value);
                    Ok(())
                }
                Some(i) => {
                    a[i] = value;
                    Ok(())
                }
                None => Err(value),
            },
            _ => Err(value),
        }
    }

    /// Whether [`Pointer::set`] can succeed without changing anything first.
    fn reachable(&self, doc: &Doc) -> bool {
        let mut cur = Some(doc);
        for tok in self.0.iter() {
            cur = match cur {
                // Missing: created from here on.
                None | Some(Doc::Null) => return true,
                Some(Doc::Object(m)) => m.get(tok),
                Some(Doc::Array(a)) => match array_slot(a, tok) {
                    Some(i) => a.get(i),
                    None => return false,
                },
                Some(_) => return false,
            };
        }
        true
    }
}

/// A canonical array index (`0`, `17`; no sign, no leading zero).
fn index(tok: &str) -> Option<usize> {
    if tok.is_empty() || (tok.len() > 1 && tok.starts_with('0')) {
        return None;
    }
    if !tok.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}

/// The index a set may write: an existing item, or the length (append).
fn array_slot(a: &[Doc], tok: &str) -> Option<usize> {
    if tok == "-" {
        return Some(a.len());
    }
    index(tok).filter(|&i| i <= a.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Doc {
        Doc::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ptr(s: &str) -> Pointer {
        Pointer::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn text(d: &Doc) -> String {
        String::from_utf8_lossy(&d.to_bytes(0)).into_owned()
    }

    #[test]
    fn key_order_survives_a_round_trip() {
        let src = r#"{"z":1,"a":{"y":[1,2.5,"x",null,true],"b":{}},"m":"é\n"}"#;
        assert_eq!(text(&doc(src)), src);
    }

    #[test]
    fn pointers_parse_with_escapes() {
        assert_eq!(ptr("/a~1b/c~0d").0.as_ref(), ["a/b", "c~d"]);
        assert!(ptr("").is_root());
        assert!(Pointer::parse("a/b").is_err());
        assert!(Pointer::parse("/a~2").is_err());
    }

    #[test]
    fn remove_and_get() {
        let mut d = doc(r#"{"a":{"b":1,"c":2},"l":[0,1,2]}"#);
        assert_eq!(ptr("/a/c").remove(&mut d), Some(doc("2")));
        assert_eq!(ptr("/l/1").remove(&mut d), Some(doc("1")));
        assert_eq!(ptr("/l/01").remove(&mut d), None);
        assert_eq!(ptr("/missing/x").remove(&mut d), None);
        assert_eq!(ptr("").remove(&mut d), None);
        assert_eq!(text(&d), r#"{"a":{"b":1},"l":[0,2]}"#);
        assert_eq!(ptr("/l/1").get(&d), Some(&doc("2")));
    }

    #[test]
    fn set_creates_parents_and_appends() {
        let mut d = doc(r#"{"a":1,"n":null,"l":[{"x":1}]}"#);
        assert!(ptr("/b/c/d").set(&mut d, doc("true")).is_ok());
        assert!(ptr("/n/k").set(&mut d, doc("\"v\"")).is_ok());
        assert!(ptr("/l/0/x").set(&mut d, doc("2")).is_ok());
        assert!(ptr("/l/-").set(&mut d, doc("3")).is_ok());
        assert!(ptr("/l/2/y").set(&mut d, doc("4")).is_ok());
        assert!(ptr("/a").set(&mut d, doc("[]")).is_ok());
        assert_eq!(
            text(&d),
            r#"{"a":[],"n":{"k":"v"},"l":[{"x":2},3,{"y":4}],"b":{"c":{"d":true}}}"#
        );
        // Through a scalar or past the end of an array: nothing changes.
        let before = d.clone();
        assert!(ptr("/n/k/deeper").set(&mut d, doc("1")).is_err());
        assert!(ptr("/l/9").set(&mut d, doc("1")).is_err());
        assert!(ptr("/l/1/x").set(&mut d, doc("1")).is_err());
        assert_eq!(d, before);
        assert!(ptr("").set(&mut d, doc("5")).is_ok());
        assert_eq!(text(&d), "5");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Doc::parse(deep.as_bytes()).is_err());
        assert!(Doc::parse(b"{\"a\":").is_err());
    }
}
