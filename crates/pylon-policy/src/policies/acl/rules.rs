//! Claim rules, evaluated on the verified claims of a request.

use serde_json::Value;

use super::config::ClaimRuleConfig;
use crate::error::PolicyError;

pub(super) enum Test {
    Equals(Value),
    Contains(Value),
    OneOf(Vec<Value>),
}

pub(super) struct ClaimRule {
    claim: String,
    test: Test,
}

impl ClaimRule {
    pub(super) fn parse(at: &str, c: ClaimRuleConfig) -> Result<Self, PolicyError> {
        if c.claim.is_empty() {
            return Err(PolicyError::config(
                format!("{at}.claim"),
                "must not be empty",
            ));
        }
        let test = match (c.equals, c.contains, c.one_of) {
            (Some(v), None, None) => Test::Equals(v),
            (None, Some(v), None) => Test::Contains(v),
            (None, None, Some(list)) if !list.is_empty() => Test::OneOf(list),
            (None, None, Some(_)) => {
                return Err(PolicyError::config(format!("{at}.in"), "must not be empty"));
            }
            _ => {
                return Err(PolicyError::config(
                    at,
                    "exactly one of `equals`, `contains` and `in` is required",
                ));
            }
        };
        Ok(Self {
            claim: c.claim,
            test,
        })
    }

    pub(super) fn holds(&self, claims: &Value) -> bool {
        let Some(value) = lookup(claims, &self.claim) else {
            return false;
        };
        match &self.test {
            Test::Equals(want) => same(value, want),
            Test::Contains(want) => items(value).iter().any(|v| same(v, want)),
            Test::OneOf(list) => items(value).iter().any(|v| list.iter().any(|w| same(v, w))),
        }
    }
}

/// The claim named `name`, or else the value at the dotted path `name`.
fn lookup<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    name.split('.').try_fold(claims, |v, part| v.get(part))
}

/// A claim as a list: its items for an array, its words for a string
/// (OAuth `scope` is space-separated), itself otherwise.
fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(a) => a.clone(),
        Value::String(s) => s
            .split_ascii_whitespace()
            .map(|w| Value::String(w.to_string()))
            .collect(),
        other => vec![other.clone()],
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
