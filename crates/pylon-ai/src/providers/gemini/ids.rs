//! Tool-call ids for Gemini, which has none: stable ids made from the
//! answer's `responseId`, the candidate and the call's position, and the
//! call's `thoughtSignature` (which Gemini wants back with the call on the
//! next turn) carried inside the id in URL-safe form, so any client that
//! echoes the id back replays the signature too.

use sha2::{Digest, Sha256};

/// Separates the id from the signature it carries.
const MARK: &str = "__thought__";

/// The id of call `index` of candidate `choice` in the answer `response_id`
/// (random when the answer has no id).
pub fn call_id(response_id: &str, choice: u32, index: u32) -> String {
    if response_id.is_empty() {
        let u = uuid::Uuid::new_v4().simple().to_string();
        return format!("call_{}", &u[..24]);
    }
    let digest = Sha256::digest(format!("{response_id}\0{choice}\0{index}").as_bytes());
    format!("call_{}", &hex::encode(digest)[..24])
}

/// `id` carrying `signature` (standard base64, as Gemini sends it).
pub fn with_signature(id: &str, signature: &str) -> String {
    let safe: String = signature
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    format!("{id}{MARK}{safe}")
}

/// The signature an id carries, back in standard base64.
pub fn signature_of(id: &str) -> Option<String> {
    let (_, safe) = id.split_once(MARK)?;
    if safe.is_empty() {
        return None;
    }
    let mut sig: String = safe
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !sig.len().is_multiple_of(4) {
        sig.push('=');
    }
    Some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_carry_signatures() {
        assert_eq!(call_id("r1", 0, 1), call_id("r1", 0, 1));
        assert_ne!(call_id("r1", 0, 1), call_id("r1", 0, 2));
        assert_ne!(call_id("", 0, 0), call_id("", 0, 0));
        let id = call_id("r1", 0, 0);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        for sig in ["QUJD", "QUJDRA==", "a+b/c+d/ZQ=", "x"] {
            let carried = with_signature(&id, sig);
            assert!(!carried.contains(['+', '/', '=']), "{carried}");
            let back = signature_of(&carried).unwrap();
            assert_eq!(back.trim_end_matches('='), sig.trim_end_matches('='));
            assert!(back.len().is_multiple_of(4));
        }
        assert_eq!(signature_of(&id), None);
    }
}
