//! Path rewrites, compiled once when the router is built.
//!
//! [`Router::rewrite`](super::Router::rewrite) applies the rewrite of a matched
//! route to the normalized request path (the query is not part of it; the caller
//! re-attaches it). Every result starts with `/`.
//!
//! * `strip_prefix: null` removes the prefix the request matched
//!   ([`RouteMatch::matched_prefix`]); without one the path is unchanged.
//! * `strip_prefix: "/p"` removes the literal `/p`, segment-aware like prefix
//!   matching: `/p` and `/p/x` lose it, `/px` does not.
//! * `path: "/v2/{id}"` builds a new path; `{name}` (or `{*name}`) inserts a
//!   template parameter or a named regex group of the matched path, exactly as it
//!   appeared in the request path (still percent-encoded, so an encoded `/` stays
//!   encoded). Unknown names insert nothing. The result is normalized again, so a
//!   parameter cannot introduce `..` segments.
//! * `regex: {pattern, replacement}` replaces the first match of the (unanchored)
//!   pattern; `$1`, `${1}` and `${name}` insert groups (write `${1}x`, not `$1x`,
//!   when a group is followed by a name character). The result is normalized again.

use std::borrow::Cow;

use pylon_config::RewriteConfig;

use super::path::{encode_path_component, normalize_path};
use super::{RouteMatch, RouterError};

/// A piece of a `path` rewrite template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    Param(String),
}

/// A compiled rewrite rule.
#[derive(Debug, Clone)]
pub(crate) enum CompiledRewrite {
    StripMatched,
    StripLiteral(String),
    Path(Vec<Part>),
    Regex {
        regex: regex::Regex,
        replacement: String,
    },
}

impl CompiledRewrite {
    pub(crate) fn compile(route: &str, rule: &RewriteConfig) -> Result<Self, RouterError> {
        Ok(match rule {
            RewriteConfig::StripPrefix(None) => CompiledRewrite::StripMatched,
            RewriteConfig::StripPrefix(Some(p)) => {
                let p = normalize_path(p).map_err(|e| RouterError::InvalidRewrite {
                    route: route.to_string(),
                    reason: format!("strip_prefix `{p}`: {e}"),
                })?;
                CompiledRewrite::StripLiteral(p)
            }
            RewriteConfig::Path(t) => CompiledRewrite::Path(parse_parts(t)),
            RewriteConfig::Regex {
                pattern,
                replacement,
            } => CompiledRewrite::Regex {
                regex: regex::Regex::new(pattern).map_err(|e| RouterError::InvalidRegex {
                    route: route.to_string(),
                    pattern: pattern.clone(),
                    reason: e.to_string(),
                })?,
                replacement: replacement.clone(),
            },
        })
    }

    /// Apply the rule. `raw` holds the parameters of the match as they appear in
    /// `path` (percent-encoded); names missing there fall back to the decoded
    /// `m.params`, re-encoded as a single segment.
    pub(crate) fn apply(&self, m: &RouteMatch, path: &str, raw: &[(&str, &str)]) -> String {
        match self {
            CompiledRewrite::StripMatched => match &m.matched_prefix {
                Some(prefix) => strip_segment_prefix(path, prefix),
                None => rooted(path.to_string()),
            },
            CompiledRewrite::StripLiteral(prefix) => strip_segment_prefix(path, prefix),
            CompiledRewrite::Path(parts) => {
                let mut out = String::with_capacity(path.len() + 16);
                for part in parts {
                    match part {
                        Part::Literal(l) => out.push_str(l),
                        Part::Param(name) => {
                            if let Some((_, v)) = raw.iter().find(|(n, _)| n == name) {
                                out.push_str(v);
                            } else if let Some((_, v)) = m.params.iter().find(|(n, _)| n == name) {
                                out.push_str(&encode_path_component(v, false));
                            }
                        }
                    }
                }
                renormalize(out)
            }
            CompiledRewrite::Regex { regex, replacement } => {
                match regex.replace(path, replacement.as_str()) {
                    Cow::Borrowed(_) => path.to_string(),
                    Cow::Owned(s) => renormalize(s),
                }
            }
        }
    }
}

/// Split `/v2/{id}/x` into literal and parameter parts. A `{` without a matching
/// `}` or with an invalid name is literal text.
fn parse_parts(t: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .map(|close| (&after[..close], close))
            .and_then(|(inner, close)| {
                let name = inner.strip_prefix('*').unwrap_or(inner);
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                valid.then_some((name, close))
            });
        match name {
            Some((name, close)) => {
                lit.push_str(&rest[..open]);
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(Part::Param(name.to_string()));
                rest = &after[close + 1..];
            }
            None => {
                lit.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    parts
}

/// Remove `prefix` from `path` when it is a segment-aware prefix of it.
fn strip_segment_prefix(path: &str, prefix: &str) -> String {
    match path.strip_prefix(prefix) {
        Some(rest) if prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/') => {
            rooted(rest.to_string())
        }
        _ => rooted(path.to_string()),
    }
}

/// Make sure the path starts with `/`.
fn rooted(mut s: String) -> String {
    if !s.starts_with('/') {
        s.insert(0, '/');
    }
    s
}

/// Normalize a built path; if it cannot be normalized, keep it as built.
fn renormalize(s: String) -> String {
    let s = rooted(s);
    normalize_path(&s).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_templates() {
        assert_eq!(
            parse_parts("/v2/{id}/x{*rest}"),
            vec![
                Part::Literal("/v2/".into()),
                Part::Param("id".into()),
                Part::Literal("/x".into()),
                Part::Param("rest".into()),
            ]
        );
        assert_eq!(parse_parts("/a{b"), vec![Part::Literal("/a{b".into())]);
        assert_eq!(
            parse_parts("/a{}/{x y}"),
            vec![Part::Literal("/a{}/{x y}".into())]
        );
        assert_eq!(parse_parts("{a}"), vec![Part::Param("a".into())]);
    }

    #[test]
    fn strips_segment_aware() {
        assert_eq!(strip_segment_prefix("/api/x", "/api"), "/x");
        assert_eq!(strip_segment_prefix("/api", "/api"), "/");
        assert_eq!(strip_segment_prefix("/api/", "/api"), "/");
        assert_eq!(strip_segment_prefix("/apix", "/api"), "/apix");
        assert_eq!(strip_segment_prefix("/api/x", "/api/"), "/x");
        assert_eq!(strip_segment_prefix("/other", "/api"), "/other");
        assert_eq!(strip_segment_prefix("/x", "/"), "/x");
    }
}
