//! `response-transformer` settings.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::policies::request_transformer::config::{JsonOpsConfig, NameOpsConfig};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseTransformerConfig {
    pub headers: NameOpsConfig,
    /// Applied only to responses whose `Content-Type` is JSON.
    pub body: JsonOpsConfig,
    /// Status as received (`"404"`) → status sent to the client.
    pub status_map: BTreeMap<String, u16>,
    /// Status (`"502"`) or class (`"5xx"`) as received → a body replacing
    /// the response's. An exact status wins over its class.
    pub error_bodies: BTreeMap<String, ErrorBodyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorBodyConfig {
    /// Defaults to `application/json` for `json`, `text/plain; charset=utf-8` for `body`.
    pub content_type: Option<String>,
    /// A text template, rendered as is.
    pub body: Option<String>,
    /// A JSON document whose string values may be templates (rendered as JSON strings).
    pub json: Option<serde_json::Value>,
}
