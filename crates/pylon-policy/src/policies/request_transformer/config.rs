//! `request-transformer` settings, and the header/query/JSON operation
//! blocks that `response-transformer` shares.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Edits of named values (headers or query parameters), applied in the order
/// remove, rename, set, add. Values of `set` and `add` are templates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NameOpsConfig {
    pub remove: Vec<String>,
    /// `from: to`; the values move to the new name, replacing any it had.
    pub rename: BTreeMap<String, String>,
    /// Replace every value with this one.
    pub set: BTreeMap<String, String>,
    /// Append one value (or several).
    pub add: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// Edits of a JSON body, by JSON pointer: remove, rename, set; or `replace`
/// the whole body (not combinable with the others).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonOpsConfig {
    pub remove: Vec<String>,
    pub rename: Vec<RenameOp>,
    pub set: Vec<SetOp>,
    /// A JSON document whose string values may hold templates.
    pub replace: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameOp {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetOp {
    pub pointer: String,
    /// A JSON value (`null` included).
    #[serde(default, deserialize_with = "present")]
    pub value: Option<serde_json::Value>,
    /// A template, rendered as a JSON string.
    #[serde(default)]
    pub template: Option<String>,
}

/// `Some` whenever the field is present, even as `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestTransformerConfig {
    pub headers: NameOpsConfig,
    pub query: NameOpsConfig,
    /// Applied only to requests whose `Content-Type` is JSON.
    pub body: JsonOpsConfig,
}
