//! `xml-json` settings.

use serde::Deserialize;

/// Which conversion to make on a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    None,
    XmlToJson,
    JsonToXml,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XmlJsonConfig {
    /// Conversion of request bodies (only those of the matching content type).
    pub request: Direction,
    /// Conversion of response bodies (only those of the matching content type).
    pub response: Direction,
    /// JSON → XML: the root element wrapping the whole JSON document. Without
    /// it the JSON must be an object with one key, which names the root.
    pub root: Option<String>,
    /// Deepest element nesting accepted or produced (1-128).
    pub max_depth: usize,
}

impl Default for XmlJsonConfig {
    fn default() -> Self {
        Self {
            request: Direction::None,
            response: Direction::None,
            root: None,
            max_depth: 64,
        }
    }
}
