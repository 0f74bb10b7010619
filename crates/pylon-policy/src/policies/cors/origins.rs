//! Which origins are allowed: exact origins in a set, wildcard and regex
//! patterns in one `RegexSet`.

use std::collections::HashSet;

use regex::RegexSet;

use crate::error::PolicyError;

pub struct Origins {
    pub any: bool,
    exact: HashSet<String>,
    patterns: Option<RegexSet>,
}

/// A wildcard pattern as a regex: `*` is one or more DNS labels.
fn wildcard(pattern: &str) -> String {
    let parts: Vec<String> = pattern.split('*').map(regex::escape).collect();
    parts.join("[a-z0-9-]+(?:\\.[a-z0-9-]+)*")
}

impl Origins {
    pub fn build(list: &[String]) -> Result<Self, PolicyError> {
        if list.is_empty() {
            return Err(PolicyError::config(
                "allow_origins",
                "at least one origin (or `*`) is needed",
            ));
        }
        let mut any = false;
        let mut exact = HashSet::new();
        let mut patterns = Vec::new();
        for (i, o) in list.iter().enumerate() {
            let o = o.trim();
            if o == "*" {
                any = true;
            } else if let Some(re) = o.strip_prefix('~') {
                if let Err(e) = regex::Regex::new(re) {
                    return Err(PolicyError::config(
                        format!("allow_origins[{i}]"),
                        format!("invalid regex: {e}"),
                    ));
                }
                patterns.push(format!("(?i)^(?:{re})$"));
            } else if o.contains('*') {
                patterns.push(format!("(?i)^{}$", wildcard(&o.to_ascii_lowercase())));
            } else if o.is_empty() || o.ends_with('/') || o.contains(char::is_whitespace) {
                return Err(PolicyError::config(
                    format!("allow_origins[{i}]"),
                    format!("`{o}` is not an origin (scheme://host[:port], no path)"),
                ));
            } else {
                exact.insert(o.to_ascii_lowercase());
            }
        }
        let patterns = if patterns.is_empty() {
            None
        } else {
            Some(RegexSet::new(&patterns).map_err(|e| {
                PolicyError::config("allow_origins", format!("invalid pattern: {e}"))
            })?)
        };
        Ok(Self {
            any,
            exact,
            patterns,
        })
    }

    /// Whether `origin` (the request's `Origin` value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        if self.exact.contains(origin) || self.exact.contains(&origin.to_ascii_lowercase()) {
            return true;
        }
        self.patterns.as_ref().is_some_and(|p| p.is_match(origin))
    }
}
