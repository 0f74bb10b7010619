//! XML → JSON.
//!
//! The result is an object with one key, the root element's name. An element
//! becomes:
//! - `null` when it has no attributes, no children and no text;
//! - a string (its text) when it has only text;
//! - otherwise an object: attributes as `"@name": "value"`, then child
//!   elements by name (a name seen more than once becomes an array, in
//!   document order), then the text, if any, as `"#text"` (the text pieces of
//!   mixed content are joined).
//!
//! Names keep their namespace prefixes (`soap:Body`) and `xmlns`
//! declarations stay as attributes (`@xmlns:soap`). Text is trimmed of
//! leading and trailing whitespace; CDATA is text; comments and processing
//! instructions are dropped. Every value is a string (XML has no types).
//! Entities: the five predefined ones and character references only; a
//! document with a DOCTYPE is refused, so no entity is ever expanded.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

use super::error::ConvertError;
use crate::body::json::{Doc, Map};

struct Frame {
    name: String,
    attrs: Vec<(String, String)>,
    children: Map,
    text: String,
}

/// Convert an XML document to JSON, refusing nesting deeper than `max_depth`.
pub fn xml_to_json(input: &[u8], max_depth: usize) -> Result<Doc, ConvertError> {
    let text = std::str::from_utf8(input).map_err(|_| ConvertError::NotUtf8)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Doc)> = None;
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                let frame = open(&e, &stack, &root, max_depth)?;
                stack.push(frame);
            }
            Event::Empty(e) => {
                let frame = open(&e, &stack, &root, max_depth)?;
                close(frame, &mut stack, &mut root);
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| ConvertError::Xml("unexpected end tag".into()))?;
                close(frame, &mut stack, &mut root);
            }
            Event::Text(t) => add_text(&mut stack, &t.xml10_content()?)?,
            Event::CData(c) => add_text(&mut stack, &c.xml10_content()?)?,
            Event::GeneralRef(r) => {
                let mut buf = [0u8; 4];
                let resolved: &str = match r.resolve_char_ref()? {
                    Some(c) => c.encode_utf8(&mut buf),
                    None => {
                        let name = r.decode()?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| ConvertError::Entity(name.into_owned()))?
                    }
                };
                if stack.is_empty() {
                    return Err(ConvertError::Outside);
                }
                add_text(&mut stack, resolved)?;
            }
            Event::DocType(_) => return Err(ConvertError::DocType),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ConvertError::Xml("an element is not closed".into()));
    }
    let (name, value) = root.ok_or(ConvertError::NoRoot)?;
    let mut top = Map::with_capacity(1);
    top.insert(name, value);
    Ok(Doc::Object(top))
}

fn open(
    e: &BytesStart<'_>,
    stack: &[Frame],
    root: &Option<(String, Doc)>,
    max_depth: usize,
) -> Result<Frame, ConvertError> {
    if root.is_some() {
        return Err(ConvertError::Outside);
    }
    if stack.len() >= max_depth {
        return Err(ConvertError::TooDeep(max_depth));
    }
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|_| ConvertError::NotUtf8)?
        .to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a?;
        let key = std::str::from_utf8(a.key.as_ref()).map_err(|_| ConvertError::NotUtf8)?;
        let value = a.unescape_value().map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                _,
                name,
            )) => ConvertError::Entity(name),
            other => ConvertError::from(other),
        })?;
        attrs.push((format!("@{key}"), value.into_owned()));
    }
    Ok(Frame {
        name,
        attrs,
        children: Map::new(),
        text: String::new(),
    })
}

fn add_text(stack: &mut [Frame], text: &str) -> Result<(), ConvertError> {
    match stack.last_mut() {
        Some(f) => f.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(ConvertError::Outside),
    }
    Ok(())
}

/// Turn a finished element into its value and attach it to its parent.
fn close(f: Frame, stack: &mut [Frame], root: &mut Option<(String, Doc)>) {
    let text = f.text.trim();
    let value = if f.attrs.is_empty() && f.children.is_empty() {
        if text.is_empty() {
            Doc::Null
        } else {
            Doc::String(text.to_string())
        }
    } else {
        let mut m = Map::with_capacity(f.attrs.len() + f.children.len() + 1);
        for (k, v) in f.attrs {
            m.insert(k, Doc::String(v));
        }
        m.extend(f.children);
        if !text.is_empty() {
            m.insert("#text".to_string(), Doc::String(text.to_string()));
        }
        Doc::Object(m)
    };
    match stack.last_mut() {
        Some(parent) => match parent.children.get_mut(&f.name) {
            // An element's own value is never an array: an array here holds
            // earlier elements of the same name.
            Some(Doc::Array(items)) => items.push(value),
            Some(existing) => {
                let first = std::mem::take(existing);
                *existing = Doc::Array(vec![first, value]);
            }
            None => {
                parent.children.insert(f.name, value);
            }
        },
        None => *root = Some((f.name, value)),
    }
}
