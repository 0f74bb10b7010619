//! Encrypted secrets inside config documents. A secret at rest is an envelope object
//! `{"$encrypted": "v1:<key id>:<base64url(nonce ‖ AES-256-GCM ciphertext)>",
//! "$fingerprint": "hmac-sha256:<16 hex>"}`; the master key comes from `PYLON_MASTER_KEY`
//! (base64 of 32 bytes) or `PYLON_MASTER_KEY_FILE`, never from the store. Loading a config
//! replaces every envelope by its clear text (after `${ENV}` expansion, so a decrypted value
//! is never expanded again). Reads through the admin API show only the fingerprint, as
//! `{"$fingerprint": "..."}`, which a write may send back to keep the secret unchanged.

use std::sync::OnceLock;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::TryRngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ConfigIssue;

/// Key of the ciphertext in an envelope.
pub const ENCRYPTED: &str = "$encrypted";
/// Key of the fingerprint in an envelope and in the read-only placeholder.
pub const FINGERPRINT: &str = "$fingerprint";

const VERSION: &str = "v1";
const AAD: &[u8] = b"pylon-secret-v1";
const NONCE_LEN: usize = 12;

/// Why a master key or an envelope cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read the master key file `{0}`: {1}")]
    File(String, String),
    #[error("set only one of PYLON_MASTER_KEY and PYLON_MASTER_KEY_FILE")]
    BothSet,
    #[error("not an encrypted secret envelope")]
    NotEnvelope,
    #[error("encrypted with another master key (key id {0})")]
    OtherKey(String),
    #[error("the encrypted secret is corrupt or was tampered with")]
    Corrupt,
    #[error("the OS random source failed")]
    Random,
}

/// The AES-256 master key (plus a derived fingerprint key). `Debug` does not print it.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.id)
    }
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::BadKey);
        }
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        let mut fp = Sha256::new();
        fp.update(b"pylon fingerprint key v1\0");
        fp.update(bytes);
        Ok(MasterKey {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
            fingerprint_key: fp.finalize().into(),
            id,
        })
    }

    /// A key written as base64 (standard or URL-safe, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let t = text.trim();
        let bytes = STANDARD
            .decode(t)
            .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
            .map_err(|_| KeyError::BadKey)?;
        MasterKey::from_bytes(&bytes)
    }

    /// A key file holds the base64 text of the key.
    pub fn from_file(path: &str) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::File(path.to_owned(), e.to_string()))?;
        MasterKey::from_base64(&text)
    }

    /// `PYLON_MASTER_KEY` or `PYLON_MASTER_KEY_FILE`; `None` when neither is set.
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        match (var("PYLON_MASTER_KEY"), var("PYLON_MASTER_KEY_FILE")) {
            (Some(_), Some(_)) => Err(KeyError::BothSet),
            (Some(k), None) => MasterKey::from_base64(&k).map(Some),
            (None, Some(f)) => MasterKey::from_file(&f).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// A fresh random key, as base64 (for `pylon secrets generate-key`).
    pub fn generate_base64() -> Result<String, KeyError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    /// Short id of the key (first 4 bytes of its SHA-256, hex), written into envelopes.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `hmac-sha256:<16 hex>` of a clear value under this key: comparable, not reversible
    /// even for short secrets (a plain hash of a weak secret could be guessed).
    pub fn fingerprint(&self, clear: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.fingerprint_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(clear.as_bytes());
        let out = mac.finalize().into_bytes();
        format!("hmac-sha256:{}", hex::encode(&out[..8]))
    }

    /// Encrypts `clear` into an envelope object.
    pub fn seal(&self, clear: &str) -> Result<Value, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| KeyError::Random)?;
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: clear.as_bytes(),
                    aad: AAD,
                },
            )
            .map_err(|_| KeyError::Corrupt)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        let mut env = Map::new();
        env.insert(
            ENCRYPTED.into(),
            Value::String(format!(
                "{VERSION}:{}:{}",
                self.id,
                URL_SAFE_NO_PAD.encode(blob)
            )),
        );
        env.insert(FINGERPRINT.into(), Value::String(self.fingerprint(clear)));
        Ok(Value::Object(env))
    }

    /// Decrypts an envelope object.
    pub fn open(&self, envelope: &Value) -> Result<String, KeyError> {
        let text = envelope
            .get(ENCRYPTED)
            .and_then(Value::as_str)
            .ok_or(KeyError::NotEnvelope)?;
        let mut parts = text.splitn(3, ':');
        let (Some(VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Corrupt);
        };
        if kid != self.id {
            return Err(KeyError::OtherKey(kid.to_owned()));
        }
        let blob = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| KeyError::Corrupt)?;
        if blob.len() < NONCE_LEN {
            return Err(KeyError::Corrupt);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let clear = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: AAD })
            .map_err(|_| KeyError::Corrupt)?;
        String::from_utf8(clear).map_err(|_| KeyError::Corrupt)
    }
}

static INSTALLED: OnceLock<Option<MasterKey>> = OnceLock::new();

/// Makes `key` the process's master key for loading configs (once; later calls are
/// ignored). The binary calls it at start with [`MasterKey::from_env`].
pub fn install(key: Option<MasterKey>) {
    let _ = INSTALLED.set(key);
}

/// The installed master key, if any.
pub fn installed() -> Option<&'static MasterKey> {
    INSTALLED.get().and_then(Option::as_ref)
}

/// Is `v` an envelope object?
pub fn is_envelope(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.contains_key(ENCRYPTED))
}

/// Is `v` the read-only placeholder `{"$fingerprint": ...}`?
pub fn is_placeholder(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key(FINGERPRINT))
}

/// Appends `seg` to a dotted config path (`a.b[2]`).
pub(crate) fn push_path(path: &str, seg: &PathSeg<'_>) -> String {
    match seg {
        PathSeg::Index(i) => format!("{path}[{i}]"),
        PathSeg::Key(k) if path.is_empty() => (*k).to_owned(),
        PathSeg::Key(k) => format!("{path}.{k}"),
    }
}

pub(crate) enum PathSeg<'a> {
    Index(usize),
    Key(&'a str),
}

/// Calls `f(path, value)` on every value of `doc`, children before the value itself.
pub fn walk_mut(doc: &mut Value, path: &str, f: &mut dyn FnMut(&str, &mut Value)) {
    match doc {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk_mut(item, &push_path(path, &PathSeg::Index(i)), f);
            }
        }
        Value::Object(map) if !map.contains_key(ENCRYPTED) && !map.contains_key(FINGERPRINT) => {
            for (k, v) in map.iter_mut() {
                walk_mut(v, &push_path(path, &PathSeg::Key(k)), f);
            }
        }
        _ => {}
    }
    f(path, doc);
}

/// Replaces every envelope in `doc` by its clear text; envelopes that cannot be opened
/// (no key, another key, corrupt) and leftover placeholders are reported with their path.
pub fn open_document(doc: &mut Value, key: Option<&MasterKey>, issues: &mut Vec<ConfigIssue>) {
    walk_mut(doc, "", &mut |path, v| {
        if is_envelope(v) {
            match key.map(|k| k.open(v)) {
                Some(Ok(clear)) => *v = Value::String(clear),
                Some(Err(e)) => issues.push(ConfigIssue::new(path, format!("cannot decrypt: {e}"))),
                None => issues.push(ConfigIssue::new(
                    path,
                    "an encrypted secret, but no master key is set (PYLON_MASTER_KEY or PYLON_MASTER_KEY_FILE)",
                )),
            }
        } else if is_placeholder(v) {
            issues.push(ConfigIssue::new(
                path,
                "a secret fingerprint without the secret (the value itself is needed here)",
            ));
        }
    });
}

/// Replaces every envelope in `doc` by the placeholder `{"$fingerprint": ...}`.
pub fn mask_document(doc: &mut Value) {
    walk_mut(doc, "", &mut |_, v| {
        if is_envelope(v) {
            let fp = v.get(FINGERPRINT).cloned().unwrap_or(Value::Null);
            let mut m = Map::new();
            m.insert(FINGERPRINT.into(), fp);
            *v = Value::Object(m);
        }
    });
}

/// A masked copy of `doc`.
pub fn masked(doc: &Value) -> Value {
    let mut d = doc.clone();
    mask_document(&mut d);
    d
}

/// A copy of `doc` with every envelope and placeholder replaced by an empty string, for
/// type checks that must not need the master key.
pub fn stand_ins(doc: &Value) -> Value {
    let mut d = doc.clone();
    walk_mut(&mut d, "", &mut |_, v| {
        if is_envelope(v) || is_placeholder(v) {
            *v = Value::String(String::new());
        }
    });
    d
}

/// Re-encrypts every envelope of `doc` from `old` to `new`; returns how many it changed.
pub fn reencrypt_document(
    doc: &mut Value,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<usize, (String, KeyError)> {
    let mut n = 0;
    let mut failed = None;
    walk_mut(doc, "", &mut |path, v| {
        if failed.is_some() || !is_envelope(v) {
            return;
        }
        match old.open(v).and_then(|clear| new.seal(&clear)) {
            Ok(sealed) => {
                *v = sealed;
                n += 1;
            }
            Err(e) => failed = Some((path.to_owned(), e)),
        }
    });
    match failed {
        Some(f) => Err(f),
        None => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let k = key(1);
        let a = k.seal("s3cret").unwrap();
        let b = k.seal("s3cret").unwrap();
        assert_ne!(a, b, "nonces differ");
        assert_eq!(a[FINGERPRINT], b[FINGERPRINT]);
        assert_eq!(k.open(&a).unwrap(), "s3cret");
        assert!(!a[ENCRYPTED].as_str().unwrap().contains("s3cret"));
        assert!(a[FINGERPRINT].as_str().unwrap().starts_with("hmac-sha256:"));
    }

    #[test]
    fn wrong_key_and_tampering_are_refused() {
        let sealed = key(1).seal("x").unwrap();
        assert!(matches!(key(2).open(&sealed), Err(KeyError::OtherKey(_))));
        let mut t = sealed.clone();
        let s = t[ENCRYPTED].as_str().unwrap().to_owned();
        let last = if s.ends_with('A') { 'B' } else { 'A' };
        t[ENCRYPTED] = json!(format!("{}{last}", &s[..s.len() - 1]));
        assert_eq!(key(1).open(&t), Err(KeyError::Corrupt));
    }

    #[test]
    fn keys_parse_from_base64_only_at_32_bytes() {
        assert!(MasterKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::from_base64(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            KeyError::BadKey
        );
        assert!(MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).is_ok());
        assert!(!format!("{:?}", key(1)).contains("0101"));
    }

    #[test]
    fn open_mask_and_reencrypt_documents() {
        let (k1, k2) = (key(1), key(2));
        let doc = json!({"a": [{"s": k1.seal("one").unwrap()}], "b": k1.seal("two").unwrap(), "c": "plain"});
        let m = masked(&doc);
        assert_eq!(m["b"], json!({FINGERPRINT: k1.fingerprint("two")}));
        assert_eq!(m["c"], "plain");
        let mut issues = Vec::new();
        let mut open = doc.clone();
        open_document(&mut open, Some(&k1), &mut issues);
        assert!(issues.is_empty());
        assert_eq!(open, json!({"a": [{"s": "one"}], "b": "two", "c": "plain"}));
        let mut none = doc.clone();
        open_document(&mut none, None, &mut issues);
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["a[0].s", "b"]);
        let mut re = doc.clone();
        assert_eq!(reencrypt_document(&mut re, &k1, &k2).unwrap(), 2);
        let mut issues = Vec::new();
        open_document(&mut re, Some(&k2), &mut issues);
        assert_eq!(re["b"], "two");
        assert!(reencrypt_document(&mut doc.clone(), &k2, &k1).is_err());
    }
}
