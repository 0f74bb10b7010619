//! Which fields of a config document are secrets, and sealing a document before it is
//! stored: clear values at secret fields become encrypted envelopes, `{"$fingerprint"}`
//! placeholders (what reads show) are swapped back for the stored envelope they name, and
//! `${ENV}` / `${file:…}` references stay as written (they are resolved on each node).
//!
//! To make a new field secret, add its pattern to [`SECRET_FIELDS`] (`*` matches any list
//! index or map key), or to [`POLICY_SECRET_FIELDS`] for a field inside a policy's `config`.

use std::collections::HashMap;

use serde_json::Value;

use crate::envelope::{self, FINGERPRINT, MasterKey, PathSeg, push_path};
use crate::error::ConfigIssue;

/// Secret fields of the document, as `/`-separated patterns.
pub const SECRET_FIELDS: &[&str] = &[
    "consumers/*/credentials/*/secret",
    "certificates/*/key_pem",
    "server/metrics_token",
    // The AI gateway's provider credentials (the `ai:` section).
    "ai/providers/*/keys/*",
    "ai/providers/*/aws/secret_access_key",
    "ai/providers/*/aws/session_token",
];

/// Secret fields inside a policy's `config`, wherever the policy is attached.
pub const POLICY_SECRET_FIELDS: &[&str] = &["client_secret", "keys/*/secret"];

/// Where policies are attached.
const POLICY_ATTACHMENTS: &[&str] = &[
    "policies/*",
    "services/*/policies/*",
    "routes/*/policies/*",
    "consumer_groups/*/policies/*",
];

/// Every secret pattern of a document.
pub fn secret_patterns() -> Vec<String> {
    let mut out: Vec<String> = SECRET_FIELDS.iter().map(|s| (*s).to_owned()).collect();
    for a in POLICY_ATTACHMENTS {
        for f in POLICY_SECRET_FIELDS {
            out.push(format!("{a}/config/{f}"));
        }
    }
    out
}

/// Calls `f(dotted path, JSON pointer, value)` on every value of `v` matching `segs`.
fn visit(
    v: &mut Value,
    segs: &[&str],
    dotted: &str,
    pointer: &str,
    f: &mut dyn FnMut(&str, &str, &mut Value),
) {
    let Some((first, rest)) = segs.split_first() else {
        f(dotted, pointer, v);
        return;
    };
    match v {
        Value::Array(items) if *first == "*" => {
            for (i, item) in items.iter_mut().enumerate() {
                let d = push_path(dotted, &PathSeg::Index(i));
                visit(item, rest, &d, &format!("{pointer}/{i}"), f);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if *first == "*" || first == k {
                    let d = push_path(dotted, &PathSeg::Key(k));
                    let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    visit(item, rest, &d, &p, f);
                }
            }
        }
        _ => {}
    }
}

/// Calls `f(dotted path, JSON pointer, value)` on every secret field present in `doc`.
pub fn for_each_secret(doc: &mut Value, f: &mut dyn FnMut(&str, &str, &mut Value)) {
    for pattern in secret_patterns() {
        let segs: Vec<&str> = pattern.split('/').collect();
        visit(doc, &segs, "", "", f);
    }
}

fn envelopes_by_fingerprint(doc: &Value, out: &mut HashMap<String, Value>) {
    match doc {
        Value::Object(m) if envelope::is_envelope(doc) => {
            if let Some(fp) = m.get(FINGERPRINT).and_then(Value::as_str) {
                out.insert(fp.to_owned(), doc.clone());
            }
        }
        Value::Object(m) => m.values().for_each(|v| envelopes_by_fingerprint(v, out)),
        Value::Array(a) => a.iter().for_each(|v| envelopes_by_fingerprint(v, out)),
        _ => {}
    }
}

/// Seals `new` for storage, given the stored `old` document; returns every problem
/// (a clear secret without a master key, an unknown fingerprint) with its path.
pub fn seal_document(new: &mut Value, old: &Value, key: Option<&MasterKey>) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut stored = HashMap::new();
    envelopes_by_fingerprint(old, &mut stored);
    envelope::walk_mut(new, "", &mut |path, v| {
        if envelope::is_placeholder(v) {
            let fp = v
                .get(FINGERPRINT)
                .and_then(Value::as_str)
                .unwrap_or_default();
            match stored.get(fp) {
                Some(env) => *v = env.clone(),
                None => issues.push(ConfigIssue::new(
                    path,
                    format!("no stored secret has the fingerprint `{fp}`; send the value itself"),
                )),
            }
        }
    });
    for_each_secret(new, &mut |path, pointer, v| match v {
        Value::String(clear) if !clear.contains("${") => {
            let previous = old.pointer(pointer).filter(|p| envelope::is_envelope(p));
            let same = previous
                .filter(|p| key.and_then(|k| k.open(p).ok()).as_deref() == Some(clear.as_str()));
            if let Some(prev) = same {
                *v = prev.clone();
                return;
            }
            match key.map(|k| k.seal(clear)) {
                Some(Ok(sealed)) => *v = sealed,
                Some(Err(e)) => issues.push(ConfigIssue::new(path, format!("cannot encrypt: {e}"))),
                None => issues.push(ConfigIssue::new(
                    path,
                    "a secret: set PYLON_MASTER_KEY (or PYLON_MASTER_KEY_FILE) to store it encrypted, or give a ${ENV} reference",
                )),
            }
        }
        v if envelope::is_envelope(v) => {
            if let Some(k) = key
                && let Err(e) = k.open(v)
            {
                issues.push(ConfigIssue::new(path, format!("cannot decrypt: {e}")));
            }
        }
        _ => {}
    });
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(secret: Value) -> Value {
        json!({"consumers": [{"name": "a", "credentials": [
            {"type": "jwt", "key": "k", "secret": secret}]}],
            "routes": [{"name": "r", "policies": [{"name": "oauth2-introspection",
                "config": {"client_secret": "${INTROSPECTION_SECRET}"}}]}]})
    }

    #[test]
    fn clear_secrets_are_encrypted_and_references_kept() {
        let k = MasterKey::from_bytes(&[3; 32]).unwrap();
        let mut new = doc(json!("hs-secret"));
        assert!(seal_document(&mut new, &json!({}), Some(&k)).is_empty());
        let s = &new["consumers"][0]["credentials"][0]["secret"];
        assert!(envelope::is_envelope(s));
        assert_eq!(k.open(s).unwrap(), "hs-secret");
        assert_eq!(
            new["routes"][0]["policies"][0]["config"]["client_secret"],
            "${INTROSPECTION_SECRET}"
        );
        // The same clear value again keeps the stored envelope (no spurious diff).
        let mut again = doc(json!("hs-secret"));
        seal_document(&mut again, &new, Some(&k));
        assert_eq!(again, new);
        // The masked read view written back keeps the secret.
        let mut back = envelope::masked(&new);
        assert!(seal_document(&mut back, &new, Some(&k)).is_empty());
        assert_eq!(back, new);
    }

    #[test]
    fn list_items_are_secret_fields_too() {
        let k = MasterKey::from_bytes(&[4; 32]).unwrap();
        let mut new = json!({"ai": {"providers": [{"name": "p", "keys": ["sk-1", "${KEY_2}"]}]}});
        assert!(seal_document(&mut new, &json!({}), Some(&k)).is_empty());
        let keys = &new["ai"]["providers"][0]["keys"];
        assert_eq!(k.open(&keys[0]).unwrap(), "sk-1");
        assert_eq!(keys[1], "${KEY_2}");
    }

    #[test]
    fn without_a_key_or_with_an_unknown_fingerprint_it_is_refused() {
        let mut new = doc(json!("hs-secret"));
        let issues = seal_document(&mut new, &json!({}), None);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "consumers[0].credentials[0].secret");
        let mut new = doc(json!({FINGERPRINT: "hmac-sha256:00"}));
        let issues = seal_document(&mut new, &json!({}), None);
        assert_eq!(issues[0].path, "consumers[0].credentials[0].secret");
    }
}
