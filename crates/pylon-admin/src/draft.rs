//! Changing the config draft safely: read it, apply a change, prepare secrets (API keys
//! and passwords hashed, other secrets encrypted), validate with the same checks as
//! `pylon validate`, and store it conditionally on the draft version, retrying when a
//! concurrent write to another object moved the draft in between.

use argon2::{PasswordHasher as _, PasswordVerifier as _};
use pylon_config::envelope::MasterKey;
use rand::TryRngCore as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult, Detail};

/// A draft write that went through.
pub(crate) struct Written<T> {
    pub out: T,
    /// The stored draft document.
    pub after: Value,
}

/// How often a write is retried when the draft moved under it.
const ATTEMPTS: usize = 8;

fn details(issues: Vec<pylon_config::ConfigIssue>) -> Vec<Detail> {
    issues
        .into_iter()
        .map(|i| Detail {
            path: i.path,
            reason: i.reason,
        })
        .collect()
}

/// Validates a (sealed) document: secrets decrypted, then every check of `pylon validate`.
pub fn validate(doc: &Value, key: Option<&MasterKey>) -> Result<pylon_config::Config, Vec<Detail>> {
    pylon_config::from_document_keyed(doc.clone(), "<draft>", &pylon_ai::check_all, key)
        .map_err(|e| details(e.issues))
}

/// Validates `new`, reporting only the issues `old` does not already have (a draft made
/// invalid by the environment, say a removed file, does not block unrelated edits).
pub(crate) fn check_new_issues(new: &Value, old: &Value, key: Option<&MasterKey>) -> ApiResult<()> {
    let Err(issues) = validate(new, key) else {
        return Ok(());
    };
    let known = validate(old, key).err().unwrap_or_default();
    let fresh: Vec<Detail> = issues.into_iter().filter(|d| !known.contains(d)).collect();
    if fresh.is_empty() {
        Ok(())
    } else {
        Err(AdminError::Validation(fresh))
    }
}

fn clear(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.contains("${"))
        .map(str::to_owned)
}

fn argon2_hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| format!("the OS random source failed: {e}"))?;
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Verifies `password` against a PHC hash (argon2).
pub(crate) fn argon2_verify(password: &str, hash: &str) -> bool {
    argon2::PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Hashes a password off the async threads.
pub(crate) async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || argon2_hash(&password))
        .await
        .map_err(|e| AdminError::BadRequest(e.to_string()))?
        .map_err(AdminError::BadRequest)
}

/// Prepares a document for storage: key-auth keys given in clear become `key_sha256`,
/// basic-auth passwords become argon2 `password_hash`es (the old hash is kept when it
/// matches), and the other secrets are sealed (see `pylon_config::sealing`).
/// `${ENV}` references are kept as written. Also used by `pylon config import`.
pub async fn prepare_document(
    new: &mut Value,
    old: &Value,
    key: Option<&MasterKey>,
) -> ApiResult<()> {
    let mut problems = Vec::new();
    let consumers = new.get_mut("consumers").and_then(Value::as_array_mut);
    for (i, consumer) in consumers.into_iter().flatten().enumerate() {
        let creds = consumer
            .get_mut("credentials")
            .and_then(Value::as_array_mut);
        for (j, cred) in creds.into_iter().flatten().enumerate() {
            let Some(obj) = cred.as_object_mut() else {
                continue;
            };
            match obj.get("type").and_then(Value::as_str) {
                Some("key_auth") => {
                    if let Some(k) = clear(obj.get("key")) {
                        if k.len() < 8 {
                            // The check `pylon validate` makes on clear keys, before hashing.
                            problems.push(Detail {
                                path: format!("consumers[{i}].credentials[{j}].key"),
                                reason: "API keys need at least 8 characters".into(),
                            });
                            continue;
                        }
                        obj.remove("key");
                        obj.insert(
                            "key_sha256".into(),
                            json!(hex::encode(Sha256::digest(k.as_bytes()))),
                        );
                    }
                }
                Some("basic_auth") => {
                    let Some(pw) = clear(obj.get("password")) else {
                        continue;
                    };
                    let pointer = format!("/consumers/{i}/credentials/{j}/password_hash");
                    let kept = old
                        .pointer(&pointer)
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let reuse = match kept {
                        Some(h) => {
                            let (pw, h2) = (pw.clone(), h.clone());
                            let same = tokio::task::spawn_blocking(move || argon2_verify(&pw, &h2))
                                .await
                                .unwrap_or(false);
                            same.then_some(h)
                        }
                        None => None,
                    };
                    let hash = match reuse {
                        Some(h) => h,
                        None => hash_password(pw).await?,
                    };
                    obj.remove("password");
                    obj.insert("password_hash".into(), json!(hash));
                }
                _ => {}
            }
        }
    }
    problems.extend(details(pylon_config::sealing::seal_document(new, old, key)));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AdminError::Validation(problems))
    }
}

/// Applies `change` to the draft and stores it (see the module doc). `change` may run
/// more than once; it sees the current draft each time.
pub(crate) async fn modify<T, F>(
    st: &AdminState,
    caller: &Caller,
    mut change: F,
) -> ApiResult<Written<T>>
where
    F: FnMut(&mut Value) -> ApiResult<T>,
{
    if st.file_managed {
        return Err(AdminError::FileManaged);
    }
    let mut current = 0;
    for _ in 0..ATTEMPTS {
        let draft = st.store.config().get_draft().await?;
        let mut doc = draft.document.clone();
        let out = change(&mut doc)?;
        let key = st.master_key.as_deref();
        prepare_document(&mut doc, &draft.document, key).await?;
        check_new_issues(&doc, &draft.document, key)?;
        match st
            .store
            .config()
            .put_draft(&doc, draft.version, &caller.name)
            .await
        {
            Ok(version) => {
                tracing::debug!(version, "draft written");
                return Ok(Written { out, after: doc });
            }
            Err(pylon_store::StoreError::Conflict { current: c }) => current = c,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::PreconditionFailed { current })
}
