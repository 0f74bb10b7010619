//! Errors of building policies from config.

/// Why a policy could not be built. Each carries the config path (relative to
/// the policy's `config`) and the reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown policy `{0}`")]
    Unknown(String),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
}

impl PolicyError {
    /// A config error at `path` inside the policy's `config`.
    pub fn config(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
