//! Pieces the token and password authentication policies share: where a
//! bearer token is found, a bounded TTL cache, an injectable wall clock, the
//! HTTP client for JWKS and introspection calls, and consumer mapping.

pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod fetch;
pub(crate) mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::consumer::{Consumer, Consumers};

/// A claim value usable as a consumer id: a string, or a number as text.
pub(crate) fn claim_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The consumer a verified token names: the configured consumer whose
/// `custom_id` or name is the first present of `claims` (in order); when none
/// matches and `require` is false, a transient consumer named after the first
/// claim value (tenant `default`, no groups). `None` means "refuse".
pub(crate) fn consumer_for(
    consumers: &Consumers,
    token: &serde_json::Value,
    claims: &[String],
    require: bool,
) -> Option<Arc<Consumer>> {
    let values: Vec<String> = claims
        .iter()
        .filter_map(|c| claim_text(token.get(c)))
        .collect();
    if let Some(found) = values.iter().find_map(|v| consumers.by_external_id(v)) {
        return Some(found.clone());
    }
    if require {
        return None;
    }
    let name = values.into_iter().next()?;
    Some(Arc::new(Consumer {
        name: Arc::from(name),
        custom_id: None,
        tenant: Arc::from("default"),
        groups: Vec::new(),
        metadata: BTreeMap::new(),
    }))
}

/// `Bearer realm="..."` plus RFC 6750's `error="invalid_token"`.
pub(crate) fn invalid_token(challenge: &str) -> crate::Reject {
    crate::Reject::unauthorized(Some(&format!("{challenge}, error=\"invalid_token\"")))
}

/// Check a realm for use inside a quoted challenge parameter.
pub(crate) fn check_realm(realm: &str) -> Result<(), crate::PolicyError> {
    if realm.is_empty() || realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
        return Err(crate::PolicyError::config(
            "realm",
            "must be non-empty, without quotes, backslashes or control characters",
        ));
    }
    Ok(())
}
