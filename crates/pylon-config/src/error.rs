//! Configuration errors: every problem carries the file, the path inside the
//! document and a reason, and all problems of one load are reported together.

use std::fmt;

/// One problem found in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path inside the document, e.g. `routes[2].match.paths[0]`.
    pub path: String,
    pub reason: String,
}

impl ConfigIssue {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        // One issue, one line: multi-line messages (regex errors) are folded.
        let reason: String = reason.into();
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        Self {
            path: path.into(),
            reason,
        }
    }
}

/// Everything wrong with one config source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the config came from (or a label such as `<embedded>`).
    pub file: String,
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    pub fn single(file: &str, path: &str, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            issues: vec![ConfigIssue::new(path, reason)],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = if issue.path.is_empty() {
                "<root>"
            } else {
                &issue.path
            };
            write!(f, "{}: {}: {}", self.file, path, issue.reason)?;
        }
        Ok(())
    }
}
