//! JSON → XML, the inverse of [`super::xml_to_json`]'s mapping.
//!
//! The root element is `root` when configured (wrapping the whole document);
//! otherwise the JSON must be an object with one key, whose name is the root.
//! A value becomes the content of its element:
//! - `null` → an empty element (`<a/>`); a string, number or boolean → text;
//! - an object → `"@name"` keys become attributes (scalar values; `null`
//!   leaves the attribute out), `"#text"` becomes text at its place, every
//!   other key a child element, in the object's key order;
//! - an array as an object's value → one element per item, all with that
//!   key's name; any other array (the whole document under `root`, or an
//!   array inside an array) → one `<item>` child per item.
//!
//! Keys must be XML names; text and attribute values are escaped. A string
//! with a character XML 1.0 cannot carry (control characters other than tab,
//! newline and carriage return) is refused.

use quick_xml::escape::escape;

use super::error::ConvertError;
use crate::body::json::Doc;

/// Convert a JSON body to an XML document (with an XML declaration).
pub fn json_to_xml(
    input: &[u8],
    root: Option<&str>,
    max_depth: usize,
) -> Result<String, ConvertError> {
    let doc = Doc::parse(input).map_err(|e| ConvertError::Json(e.to_string()))?;
    let mut w = Writer {
        out: String::with_capacity(input.len() + input.len() / 2 + 64),
        max_depth,
    };
    w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    match (root, &doc) {
        (Some(r), _) => w.single(r, &doc, 1)?,
        (None, Doc::Object(m)) if m.len() == 1 => {
            if let Some((k, v)) = m.iter().next() {
                if matches!(v, Doc::Array(_)) {
                    return Err(ConvertError::Shape(format!(
                        "the top-level key `{k}` holds an array, which would make several roots; configure `root`"
                    )));
                }
                if k.starts_with('@') || k == "#text" {
                    return Err(ConvertError::Shape(format!(
                        "the top-level key `{k}` is not an element name; configure `root`"
                    )));
                }
                w.single(k, v, 1)?;
            }
        }
        _ => {
            return Err(ConvertError::Shape(
                "the JSON top level is not an object with a single key; configure `root`".into(),
            ));
        }
    }
    Ok(w.out)
}

struct Writer {
    out: String,
    max_depth: usize,
}

impl Writer {
    /// The elements for the value of key `name`: one per item for an array.
    fn element(&mut self, name: &str, value: &Doc, depth: usize) -> Result<(), ConvertError> {
        match value {
            Doc::Array(items) => {
                for item in items {
                    self.single(name, item, depth)?;
                }
                Ok(())
            }
            other => self.single(name, other, depth),
        }
    }

    /// Exactly one element `name` holding `value`.
    fn single(&mut self, name: &str, value: &Doc, depth: usize) -> Result<(), ConvertError> {
        if depth > self.max_depth {
            return Err(ConvertError::TooDeep(self.max_depth));
        }
        check_name(name)?;
        self.out.push('<');
        self.out.push_str(name);
        if let Doc::Object(m) = value {
            for (k, v) in m {
                let Some(attr) = k.strip_prefix('@') else {
                    continue;
                };
                check_name(attr)?;
                let text = match v {
                    Doc::Null => continue,
                    Doc::Array(_) | Doc::Object(_) => {
                        return Err(ConvertError::Shape(format!(
                            "attribute `{k}` must be a string, number or boolean"
                        )));
                    }
                    scalar => scalar_text(scalar),
                };
                self.out.push(' ');
                self.out.push_str(attr);
                self.out.push_str("=\"");
                self.text(&text)?;
                self.out.push('"');
            }
        }
        match value {
            Doc::Null => {
                self.out.push_str("/>");
                return Ok(());
            }
            Doc::Object(m) => {
                self.out.push('>');
                for (k, v) in m {
                    if k.starts_with('@') {
                        continue;
                    }
                    if k == "#text" {
                        match v {
                            Doc::Null => {}
                            Doc::Array(_) | Doc::Object(_) => {
                                return Err(ConvertError::Shape(
                                    "`#text` must be a string, number or boolean".into(),
                                ));
                            }
                            scalar => self.text(&scalar_text(scalar))?,
                        }
                        continue;
                    }
                    self.element(k, v, depth + 1)?;
                }
            }
            Doc::Array(items) => {
                self.out.push('>');
                for item in items {
                    self.single("item", item, depth + 1)?;
                }
            }
            scalar => {
                self.out.push('>');
                self.text(&scalar_text(scalar))?;
            }
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }

    fn text(&mut self, s: &str) -> Result<(), ConvertError> {
        if s.chars().any(|c| {
            c < ' ' && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }) {
            return Err(ConvertError::Shape(
                "a string holds a control character XML cannot carry".into(),
            ));
        }
        self.out.push_str(&escape(s));
        Ok(())
    }
}

fn scalar_text(d: &Doc) -> std::borrow::Cow<'_, str> {
    match d {
        Doc::String(s) => std::borrow::Cow::Borrowed(s),
        Doc::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        Doc::Bool(b) => std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
        _ => std::borrow::Cow::Borrowed(""),
    }
}

/// An XML name: a letter, `_` or `:` first, then letters, digits, `-`, `.`,
/// `_`, `:` (any non-ASCII letter or digit counts).
fn check_name(name: &str) -> Result<(), ConvertError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ConvertError::Shape(format!(
            "`{name}` is not a valid XML name"
        )))
    }
}
