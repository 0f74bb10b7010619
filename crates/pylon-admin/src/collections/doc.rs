//! Finding a collection's list and items inside a config document, and the per-object
//! ETag (a digest of the stored item, so it changes exactly when the item does, whoever
//! changed it: an object write, a whole-draft `PUT`, an import or a rollback).

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::Collection;
use crate::error::{AdminError, ApiResult};

/// The list at `pointer` below `root`, if present.
pub(crate) fn list<'a>(root: &'a Value, pointer: &[&str]) -> &'a [Value] {
    let mut v = root;
    for seg in pointer {
        match v.get(seg) {
            Some(next) => v = next,
            None => return &[],
        }
    }
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The list at `pointer` below `root`, created (with its parents) when missing.
pub(crate) fn list_mut<'a>(root: &'a mut Value, pointer: &[&str]) -> ApiResult<&'a mut Vec<Value>> {
    let mut v = root;
    for seg in pointer {
        if v.is_null() {
            *v = Value::Object(Map::new());
        }
        let Value::Object(map) = v else {
            return Err(AdminError::invalid(
                pointer.join("."),
                "is not a mapping in the draft",
            ));
        };
        v = map.entry((*seg).to_owned()).or_insert(Value::Null);
    }
    if v.is_null() {
        *v = Value::Array(Vec::new());
    }
    v.as_array_mut()
        .ok_or_else(|| AdminError::invalid(pointer.join("."), "is not a list in the draft"))
}

/// The key of `item` under `c`, as text.
pub(crate) fn key_of<'a>(c: &Collection, item: &'a Value) -> Option<&'a str> {
    item.get(c.key).and_then(Value::as_str)
}

/// Index of the item named `key`.
pub(crate) fn find(c: &Collection, items: &[Value], key: &str) -> Option<usize> {
    items.iter().position(|i| key_of(c, i) == Some(key))
}

/// Where a (possibly nested) collection's list is in one document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    /// Index of the parent item in the parent's list (nested collections).
    pub parent_index: Option<usize>,
}

impl Scope {
    /// Finds the parent item named `parent` (nested collections); 404 if it is missing.
    pub(crate) fn resolve(c: &Collection, doc: &Value, parent: Option<&str>) -> ApiResult<Scope> {
        match (c.parent, parent) {
            (Some(p), Some(name)) => match find(p, list(doc, p.pointer), name) {
                Some(i) => Ok(Scope {
                    parent_index: Some(i),
                }),
                None => Err(not_found(p, name)),
            },
            _ => Ok(Scope { parent_index: None }),
        }
    }

    pub(crate) fn parent<'a>(&self, c: &Collection, doc: &'a Value) -> Option<&'a Value> {
        let p = c.parent?;
        list(doc, p.pointer).get(self.parent_index?)
    }

    pub(crate) fn items<'a>(&self, c: &Collection, doc: &'a Value) -> &'a [Value] {
        match c.parent {
            Some(_) => self.parent(c, doc).map_or(&[], |p| list(p, c.pointer)),
            None => list(doc, c.pointer),
        }
    }

    pub(crate) fn items_mut<'a>(
        &self,
        c: &Collection,
        doc: &'a mut Value,
    ) -> ApiResult<&'a mut Vec<Value>> {
        match (c.parent, self.parent_index) {
            (Some(p), Some(i)) => {
                let parent = list_mut(doc, p.pointer)?
                    .get_mut(i)
                    .ok_or_else(|| AdminError::invalid(p.pointer.join("."), "changed meanwhile"))?;
                list_mut(parent, c.pointer)
            }
            _ => list_mut(doc, c.pointer),
        }
    }

    /// The dotted config path of item `index` (`consumers[1].credentials[0]`).
    pub(crate) fn item_path(&self, c: &Collection, index: usize) -> String {
        format!("{}[{index}]", c.dotted(self.parent_index))
    }
}

pub(crate) fn not_found(c: &Collection, key: &str) -> AdminError {
    AdminError::NotFound {
        kind: c.kind,
        id: key.to_owned(),
    }
}

/// The ETag of an item: `"` + 16 hex digits of SHA-256 over its JSON `"`. Object keys
/// serialize sorted (serde_json's map is ordered), so equal items have equal tags.
pub(crate) fn etag(item: &Value) -> String {
    let text = serde_json::to_string(item).unwrap_or_default();
    format!("\"{}\"", hex::encode(&Sha256::digest(text.as_bytes())[..8]))
}

/// Does `If-Match` (a list of tags, or `*`) name `current`?
pub(crate) fn matches(if_match: &str, current: &str) -> bool {
    if_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn etags_follow_content_not_key_order() {
        let a = json!({"name": "x", "b": 1, "a": [1, 2]});
        let b: Value = serde_json::from_str(r#"{"a":[1,2],"b":1,"name":"x"}"#).unwrap();
        assert_eq!(etag(&a), etag(&b));
        assert_ne!(etag(&a), etag(&json!({"name": "x", "b": 2, "a": [1, 2]})));
        let t = etag(&a);
        assert!(matches(&t, &t));
        assert!(matches(&format!("W/{t}"), &t));
        assert!(matches("*", &t));
        assert!(matches(&format!("\"nope\", {t}"), &t));
        assert!(!matches("\"nope\"", &t));
    }

    #[test]
    fn lists_are_found_and_created() {
        let mut doc = json!({"ai": {"providers": [{"name": "p"}]}});
        assert_eq!(list(&doc, &["ai", "providers"]).len(), 1);
        assert!(list(&doc, &["nothing"]).is_empty());
        list_mut(&mut doc, &["x", "y"]).unwrap().push(json!(1));
        assert_eq!(doc["x"]["y"], json!([1]));
        assert!(list_mut(&mut json!({"a": 1}), &["a"]).is_err());
    }
}
