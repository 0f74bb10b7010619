//! `threat-protection` settings. A limit set to `null` is off.

use serde::Deserialize;

/// What a finding does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse the request.
    Block,
    /// Let it through; log a warning with the request id and the check.
    LogOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreatProtectionConfig {
    pub mode: Mode,
    /// Largest request body: `Content-Length` first, then the buffered size.
    pub max_body_bytes: Option<u64>,
    /// Deepest nesting of JSON objects and arrays (`{}` is depth 1).
    pub max_json_depth: Option<usize>,
    /// Most elements in one JSON array.
    pub max_array_length: Option<usize>,
    /// Longest JSON string (key or value), in bytes as sent.
    pub max_string_length: Option<usize>,
    /// Most keys in one JSON object.
    pub max_object_keys: Option<usize>,
    /// Look for SQL-injection patterns.
    pub sql_injection: bool,
    /// Look for cross-site-scripting patterns.
    pub xss: bool,
    /// Inspect query parameter names and values (percent-decoded once).
    pub inspect_query: bool,
    /// Request headers whose values are inspected.
    pub inspect_headers: Vec<String>,
    /// Inspect the keys and string values of JSON request bodies.
    pub inspect_json_body: bool,
    /// User agents refused: case-insensitive substrings, or regexes prefixed with `~`.
    pub user_agent_deny: Vec<String>,
}

impl Default for ThreatProtectionConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Block,
            max_body_bytes: None,
            max_json_depth: Some(64),
            max_array_length: Some(10_000),
            max_string_length: None,
            max_object_keys: Some(1_000),
            sql_injection: true,
            xss: true,
            inspect_query: true,
            inspect_headers: vec!["referer".into(), "user-agent".into()],
            inspect_json_body: true,
            user_agent_deny: Vec::new(),
        }
    }
}
