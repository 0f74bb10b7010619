//! Checks on the registered claims of a verified token, strictly typed: a
//! present `exp` or `nbf` that is not a number fails (it is never read as
//! "absent").

use serde_json::Value;

pub(super) struct ClaimChecks {
    pub(super) require_exp: bool,
    pub(super) require_nbf: bool,
    pub(super) issuers: Vec<String>,
    pub(super) audiences: Vec<String>,
    pub(super) leeway_secs: u64,
    pub(super) required: Vec<String>,
}

impl ClaimChecks {
    /// `Err(reason)` (for the debug log) when the claims are not acceptable at `now` (Unix seconds).
    pub(super) fn check(&self, claims: &Value, now: u64) -> Result<(), &'static str> {
        let Some(obj) = claims.as_object() else {
            return Err("claims are not a JSON object");
        };
        let now = now as f64;
        let leeway = self.leeway_secs as f64;
        match obj.get("exp") {
            Some(v) => {
                let exp = v.as_f64().ok_or("exp is not a number")?;
                if now >= exp + leeway {
                    return Err("token expired");
                }
            }
            None if self.require_exp => return Err("exp missing"),
            None => {}
        }
        match obj.get("nbf") {
            Some(v) => {
                let nbf = v.as_f64().ok_or("nbf is not a number")?;
                if now + leeway < nbf {
                    return Err("token not yet valid");
                }
            }
            None if self.require_nbf => return Err("nbf missing"),
            None => {}
        }
        if !self.issuers.is_empty() {
            let iss = obj.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| self.issuers.iter().any(|a| a == i)) {
                return Err("issuer not accepted");
            }
        }
        if !self.audiences.is_empty() {
            let ok = match obj.get("aud") {
                Some(Value::String(a)) => self.audiences.contains(a),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| self.audiences.iter().any(|w| w == a)),
                _ => false,
            };
            if !ok {
                return Err("audience not accepted");
            }
        }
        if self
            .required
            .iter()
            .any(|c| obj.get(c).is_none_or(Value::is_null))
        {
            return Err("a required claim is missing");
        }
        Ok(())
    }
}
