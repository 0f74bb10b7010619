//! Consumers and the credential indexes that authentication policies look
//! them up in. Built once per config snapshot; API keys are kept only as
//! SHA-256 digests.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use pylon_config::{ConsumerConfig, CredentialConfig};
use sha2::{Digest, Sha256};

/// An identified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub name: Arc<str>,
    pub custom_id: Option<Arc<str>>,
    pub tenant: Arc<str>,
    pub groups: Vec<Arc<str>>,
    pub metadata: BTreeMap<String, String>,
}

impl Consumer {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| &**g == group)
    }
}

/// A credential as configured, with its owner and id.
pub struct CredentialEntry {
    pub consumer: Arc<Consumer>,
    pub id: Arc<str>,
    pub config: CredentialConfig,
}

/// Every consumer of a snapshot, indexed for authentication.
#[derive(Default)]
pub struct Consumers {
    by_name: HashMap<String, Arc<Consumer>>,
    by_custom_id: HashMap<String, Arc<Consumer>>,
    keys: HashMap<[u8; 32], (Arc<Consumer>, Arc<str>)>,
    credentials: Vec<CredentialEntry>,
    /// Indexes built on first use by the policies that need them.
    indexes: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// SHA-256 of an API key, the form keys are kept and looked up in.
pub fn hash_key(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// Prefix of the internal form a clear basic-auth password is replaced by
/// (`$pylon-salted$<hex SHA-256(process salt ‖ password)>`); config files
/// cannot use it (validation accepts only argon2 and bcrypt hashes).
pub const SALTED_PREFIX: &str = "$pylon-salted$";

/// SHA-256 over this process's random salt and `secret`: a form of a secret
/// that can be compared but not read back, and differs between processes.
pub fn salted_digest(secret: &[u8]) -> [u8; 32] {
    static SALT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let mut h = Sha256::new();
    h.update(SALT.get_or_init(rand::random));
    h.update(secret);
    h.finalize().into()
}

impl Consumers {
    pub fn build(configs: &[ConsumerConfig]) -> Self {
        let mut out = Consumers::default();
        for c in configs {
            let consumer = Arc::new(Consumer {
                name: Arc::from(c.name.as_str()),
                custom_id: c.custom_id.as_deref().map(Arc::from),
                tenant: Arc::from(c.tenant.as_str()),
                groups: c.groups.iter().map(|g| Arc::from(g.as_str())).collect(),
                metadata: c.metadata.clone(),
            });
            out.by_name.insert(c.name.clone(), consumer.clone());
            if let Some(id) = &c.custom_id {
                out.by_custom_id.insert(id.clone(), consumer.clone());
            }
            for (i, cred) in c.credentials.iter().enumerate() {
                let id: Arc<str> = match cred.id() {
                    Some(id) => Arc::from(id),
                    None => Arc::from(format!("{}:{}:{i}", c.name, cred.kind())),
                };
                if let CredentialConfig::KeyAuth {
                    key, key_sha256, ..
                } = cred
                {
                    let digest = match (key, key_sha256) {
                        (Some(k), _) => Some(hash_key(k.as_bytes())),
                        (None, Some(h)) => decode_digest(h),
                        _ => None,
                    };
                    if let Some(d) = digest {
                        out.keys.insert(d, (consumer.clone(), id.clone()));
                    }
                    // The clear key is not kept.
                    out.credentials.push(CredentialEntry {
                        consumer: consumer.clone(),
                        id,
                        config: CredentialConfig::KeyAuth {
                            id: cred.id().map(str::to_string),
                            key: None,
                            key_sha256: digest.map(hex::encode),
                        },
                    });
                } else {
                    out.credentials.push(CredentialEntry {
                        consumer: consumer.clone(),
                        id,
                        config: without_clear_password(cred),
                    });
                }
            }
        }
        out
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Consumer>> {
        self.by_name.get(name)
    }

    pub fn by_custom_id(&self, id: &str) -> Option<&Arc<Consumer>> {
        self.by_custom_id.get(id)
    }

    /// The consumer whose `custom_id` or, failing that, `name` is `value`.
    pub fn by_external_id(&self, value: &str) -> Option<&Arc<Consumer>> {
        self.by_custom_id(value).or_else(|| self.by_name(value))
    }

    /// The consumer owning an API key, and the credential id.
    pub fn by_key(&self, key: &[u8]) -> Option<&(Arc<Consumer>, Arc<str>)> {
        self.keys.get(&hash_key(key))
    }

    /// Every credential of one kind (`basic_auth`, `jwt`, `mtls`, `key_auth`).
    pub fn credentials<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a CredentialEntry> {
        self.credentials
            .iter()
            .filter(move |c| c.config.kind() == kind)
    }

    /// A policy-specific index over these consumers, built once on first use.
    pub fn index<T: Send + Sync + 'static>(&self, build: impl FnOnce(&Self) -> T) -> Arc<T> {
        let id = TypeId::of::<T>();
        if let Some(found) = self.indexes.lock().get(&id).cloned()
            && let Ok(t) = found.downcast::<T>()
        {
            return t;
        }
        let built = Arc::new(build(self));
        self.indexes.lock().insert(id, built.clone());
        built
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A basic-auth credential with its clear password replaced by the salted
/// internal form; other credentials unchanged.
fn without_clear_password(cred: &CredentialConfig) -> CredentialConfig {
    match cred {
        CredentialConfig::BasicAuth {
            id,
            username,
            password: Some(pw),
            password_hash: None,
        } => CredentialConfig::BasicAuth {
            id: id.clone(),
            username: username.clone(),
            password: None,
            password_hash: Some(format!(
                "{SALTED_PREFIX}{}",
                hex::encode(salted_digest(pw.as_bytes()))
            )),
        },
        other => other.clone(),
    }
}

fn decode_digest(h: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(h).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSUMERS: &str = r#"[
      {"name":"alice","custom_id":"user-1","groups":["pro"],"credentials":[
        {"type":"key_auth","key":"alice-secret-key"},
        {"type":"basic_auth","username":"alice","password":"pw"}]},
      {"name":"bob","credentials":[
        {"type":"key_auth","id":"bob-key","key_sha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}]}
    ]"#;

    fn consumers() -> Consumers {
        let cfg: Vec<ConsumerConfig> =
            serde_json::from_str(CONSUMERS).unwrap_or_else(|e| panic!("{e}"));
        Consumers::build(&cfg)
    }

    #[test]
    fn keys_are_found_by_clear_or_hashed_config() {
        let c = consumers();
        assert_eq!(c.len(), 2);
        let (alice, id) = c
            .by_key(b"alice-secret-key")
            .cloned()
            .unwrap_or_else(|| panic!("alice"));
        assert_eq!(&*alice.name, "alice");
        assert_eq!(&*id, "alice:key_auth:0");
        assert!(alice.in_group("pro"));
        // sha256("password")
        let (bob, id) = c
            .by_key(b"password")
            .cloned()
            .unwrap_or_else(|| panic!("bob"));
        assert_eq!(&*bob.name, "bob");
        assert_eq!(&*id, "bob-key");
        assert!(c.by_key(b"wrong").is_none());
        assert_eq!(c.by_external_id("user-1").map(|c| &*c.name), Some("alice"));
        assert_eq!(c.by_external_id("bob").map(|c| &*c.name), Some("bob"));
    }

    #[test]
    fn clear_keys_are_not_kept() {
        let c = consumers();
        for e in c.credentials("key_auth") {
            match &e.config {
                CredentialConfig::KeyAuth {
                    key, key_sha256, ..
                } => {
                    assert!(key.is_none());
                    assert_eq!(key_sha256.as_deref().map(str::len), Some(64));
                }
                _ => panic!("wrong kind"),
            }
        }
        let basic: Vec<_> = c.credentials("basic_auth").collect();
        assert_eq!(basic.len(), 1);
        match &basic[0].config {
            CredentialConfig::BasicAuth {
                password,
                password_hash,
                ..
            } => {
                assert!(password.is_none(), "clear password kept");
                let expected = format!("{SALTED_PREFIX}{}", hex::encode(salted_digest(b"pw")));
                assert_eq!(password_hash.as_deref(), Some(expected.as_str()));
            }
            _ => panic!("wrong kind"),
        }
    }

    #[test]
    fn indexes_are_built_once() {
        let c = consumers();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let a = c.index(|cs| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            cs.len()
        });
        let b = c.index(|_| 99usize);
        assert_eq!((*a, *b), (2, 2));
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
