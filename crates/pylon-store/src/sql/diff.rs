//! Structural JSON diff between two config documents: a list of add/remove/replace
//! operations addressed by JSON pointers (RFC 6901), without the values, so a stored diff
//! never repeats secrets that the documents may hold.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of change at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Add,
    Remove,
    Replace,
}

/// One change: `op` at `path` (a JSON pointer; `""` is the whole document).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DiffOp {
    pub op: DiffKind,
    pub path: String,
}

/// Computes the changes that turn `old` into `new`.
///
/// Objects are compared key by key (keys in sorted order); arrays index by index: the common
/// prefix is compared element-wise, extra new elements are `add`s in ascending order, extra
/// old elements are `remove`s in descending order (so the list can be applied in sequence,
/// like a JSON Patch). A change of type, or of a scalar, is a `replace` of that node.
pub fn json_diff(old: &Value, new: &Value) -> Vec<DiffOp> {
    let mut out = Vec::new();
    let mut path = String::new();
    walk(old, new, &mut path, &mut out);
    out
}

fn walk(old: &Value, new: &Value, path: &mut String, out: &mut Vec<DiffOp>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = path.len();
                push_token(path, key);
                match (a.get(key.as_str()), b.get(key.as_str())) {
                    (Some(x), Some(y)) => walk(x, y, path, out),
                    (Some(_), None) => emit(out, DiffKind::Remove, path),
                    (None, Some(_)) => emit(out, DiffKind::Add, path),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let common = a.len().min(b.len());
            for i in 0..common {
                let len = path.len();
                push_token(path, &i.to_string());
                walk(&a[i], &b[i], path, out);
                path.truncate(len);
            }
            for i in common..b.len() {
                let len = path.len();
                push_token(path, &i.to_string());
                emit(out, DiffKind::Add, path);
                path.truncate(len);
            }
            for i in (common..a.len()).rev() {
                let len = path.len();
                push_token(path, &i.to_string());
                emit(out, DiffKind::Remove, path);
                path.truncate(len);
            }
        }
        _ if old == new => {}
        _ => emit(out, DiffKind::Replace, path),
    }
}

fn emit(out: &mut Vec<DiffOp>, op: DiffKind, path: &str) {
    out.push(DiffOp {
        op,
        path: path.to_owned(),
    });
}

/// Appends `/token` with RFC 6901 escaping (`~` → `~0`, `/` → `~1`).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(old: Value, new: Value) -> Vec<(DiffKind, String)> {
        json_diff(&old, &new)
            .into_iter()
            .map(|d| (d.op, d.path))
            .collect()
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(json_diff(&doc, &doc.clone()).is_empty());
    }

    #[test]
    fn object_keys_added_removed_replaced_in_sorted_order() {
        let got = ops(
            json!({"keep": 1, "gone": true, "change": "a", "nested": {"x": 1}}),
            json!({"keep": 1, "change": "b", "new": 0, "nested": {"x": 2, "y": 3}}),
        );
        assert_eq!(
            got,
            vec![
                (DiffKind::Replace, "/change".into()),
                (DiffKind::Remove, "/gone".into()),
                (DiffKind::Replace, "/nested/x".into()),
                (DiffKind::Add, "/nested/y".into()),
                (DiffKind::Add, "/new".into()),
            ]
        );
    }

    #[test]
    fn arrays_compare_by_index_and_remove_from_the_end() {
        assert_eq!(
            ops(json!([1, 2, 3, 4]), json!([1, 9])),
            vec![
                (DiffKind::Replace, "/1".into()),
                (DiffKind::Remove, "/3".into()),
                (DiffKind::Remove, "/2".into()),
            ]
        );
        assert_eq!(
            ops(json!([1]), json!([1, 2, 3])),
            vec![(DiffKind::Add, "/1".into()), (DiffKind::Add, "/2".into())]
        );
    }

    #[test]
    fn type_change_replaces_the_node_and_root_is_empty_pointer() {
        assert_eq!(
            ops(json!({"a": [1]}), json!({"a": {"0": 1}})),
            vec![(DiffKind::Replace, "/a".into())]
        );
        assert_eq!(
            ops(json!(1), json!("1")),
            vec![(DiffKind::Replace, "".into())]
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(
            ops(json!({}), json!({"a/b": 1, "m~n": 2})),
            vec![
                (DiffKind::Add, "/a~1b".into()),
                (DiffKind::Add, "/m~0n".into())
            ]
        );
    }
}
