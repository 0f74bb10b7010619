//! `request-validator` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestValidatorConfig {
    /// Schema of the JSON request body.
    pub body_schema: Option<serde_json::Value>,
    /// Schema of the query, seen as an object of strings (a repeated
    /// parameter is an array of strings).
    pub query_schema: Option<serde_json::Value>,
    /// Schema of the route's path parameters, an object of strings.
    pub path_schema: Option<serde_json::Value>,
    /// Schema of the headers, an object of lowercase names to strings
    /// (repeated headers joined with `, `).
    pub header_schema: Option<serde_json::Value>,
    /// Draft for schemas without `$schema`: `2020-12`, `2019-09`, `7`, `6` or `4`.
    pub draft: String,
    /// Turn query, path and header strings into integers, numbers or booleans
    /// where the property's schema declares that type.
    pub coerce_types: bool,
    /// With `body_schema`: an empty body fails (off: an empty body is not validated).
    pub body_required: bool,
    /// Assert `format` keywords (`email`, `uuid`, `date-time`, ...).
    pub validate_formats: bool,
    /// Most failures listed in the answer.
    pub max_errors: usize,
}

impl Default for RequestValidatorConfig {
    fn default() -> Self {
        Self {
            body_schema: None,
            query_schema: None,
            path_schema: None,
            header_schema: None,
            draft: "2020-12".into(),
            coerce_types: true,
            body_required: true,
            validate_formats: false,
            max_errors: 20,
        }
    }
}
