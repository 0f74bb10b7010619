//! The username index of one config snapshot, with each password in a form
//! that can be checked but not read back.
//!
//! Passwords given in clear are kept only as SHA-256 over a random
//! per-process salt and the password. A fast salted digest is enough here:
//! the clear password is already in the operator's config, so the point is
//! only that a memory dump or debug print of this index does not show it,
//! and the random salt defeats precomputed tables. A slow hash (argon2) would
//! instead cost every reload tens of milliseconds per consumer and gain nothing
//! against someone who can read the config. Operators who want slow hashes at
//! rest give `password_hash` (argon2 PHC or bcrypt), checked off the runtime
//! threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::PasswordVerifier;
use pylon_config::CredentialConfig;
use sha2::{Digest, Sha256};

use crate::auth::cache::TtlCache;
use crate::consumer::{Consumer, Consumers, SALTED_PREFIX, salted_digest};
use crate::error::PolicyError;

/// How many successful checks are remembered per snapshot.
const CACHE_CAPACITY: usize = 10_000;

pub(super) struct BasicIndex {
    users: HashMap<String, User>,
    /// The first credential that could not be used (reported by `build`).
    pub(super) error: Option<PolicyError>,
    /// Successful checks, keyed by a salted digest of username and password.
    pub(super) cache: TtlCache<()>,
    /// Bounds how many slow hash checks run at once.
    pub(super) slots: tokio::sync::Semaphore,
    /// Slow (argon2/bcrypt) checks run so far, for tests and debugging.
    pub(super) slow_checks: AtomicU64,
}

pub(super) struct User {
    pub(super) consumer: Arc<Consumer>,
    pub(super) id: Arc<str>,
    pub(super) secret: Secret,
}

#[derive(Clone)]
pub(super) enum Secret {
    /// SHA-256(process salt ‖ password) of a password given in clear.
    Salted([u8; 32]),
    Argon2(Arc<str>),
    Bcrypt(Arc<str>),
}

impl Secret {
    fn parse(password: Option<&str>, hash: Option<&str>) -> Result<Self, String> {
        match (password, hash) {
            (Some(pw), None) if !pw.is_empty() => Ok(Secret::Salted(salted(pw.as_bytes()))),
            (None, Some(h)) if h.starts_with(SALTED_PREFIX) => {
                hex::decode(&h[SALTED_PREFIX.len()..])
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(Secret::Salted)
                    .ok_or_else(|| "password_hash is not valid".to_string())
            }
            (None, Some(h)) if h.starts_with("$argon2") => {
                argon2::PasswordHash::new(h)
                    .map_err(|e| format!("password_hash is not a valid argon2 PHC string: {e}"))?;
                Ok(Secret::Argon2(Arc::from(h)))
            }
            (None, Some(h)) if ["$2a$", "$2b$", "$2y$"].iter().any(|p| h.starts_with(p)) => {
                if h.len() != 60 {
                    return Err("password_hash is not a valid bcrypt hash".into());
                }
                Ok(Secret::Bcrypt(Arc::from(h)))
            }
            (None, Some(_)) => {
                Err("password_hash must be an argon2 (PHC string) or bcrypt hash".into())
            }
            _ => Err("exactly one non-empty `password` or `password_hash` is required".into()),
        }
    }

    /// Whether checking costs a slow hash (run off the runtime threads).
    pub(super) fn is_slow(&self) -> bool {
        !matches!(self, Secret::Salted(_))
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Secret::Salted(d) => ct_eq(d, &salted(password)),
            Secret::Argon2(h) => argon2::PasswordHash::new(h).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password, &h)
                    .is_ok()
            }),
            Secret::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        }
    }
}

impl BasicIndex {
    pub(super) fn build(consumers: &Consumers) -> Self {
        let mut users = HashMap::new();
        let mut error = None;
        for entry in consumers.credentials("basic_auth") {
            let CredentialConfig::BasicAuth {
                username,
                password,
                password_hash,
                ..
            } = &entry.config
            else {
                continue;
            };
            match Secret::parse(password.as_deref(), password_hash.as_deref()) {
                Ok(secret) => {
                    users.entry(username.clone()).or_insert(User {
                        consumer: entry.consumer.clone(),
                        id: entry.id.clone(),
                        secret,
                    });
                }
                Err(reason) => {
                    error.get_or_insert_with(|| {
                        PolicyError::config(
                            "",
                            format!(
                                "consumer `{}`, credential `{}`: {reason}",
                                entry.consumer.name, entry.id
                            ),
                        )
                    });
                }
            }
        }
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            users,
            error,
            cache: TtlCache::new(CACHE_CAPACITY),
            slots: tokio::sync::Semaphore::new(parallel),
            slow_checks: AtomicU64::new(0),
        }
    }

    pub(super) fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub(super) fn count_slow_check(&self) {
        self.slow_checks.fetch_add(1, Ordering::Relaxed);
    }
}

/// The key of a successful check in the cache: salted, so the cache does not
/// hold an unsalted digest of any password either.
pub(super) fn cache_key(username: &str, password: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"basic-auth-cache\0");
    h.update(username.as_bytes());
    h.update([0]);
    h.update(password);
    salted_digest(&h.finalize())
}

fn salted(password: &[u8]) -> [u8; 32] {
    salted_digest(password)
}

/// Constant-time equality of two digests.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
