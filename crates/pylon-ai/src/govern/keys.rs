//! Virtual keys: Pylon-issued keys looked up by their SHA-256, and [`Who`], the
//! attributes of a caller that budgets and limits are scoped by.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::HeaderMap;
use pylon_config::{AiLimits, BudgetAmount, VirtualKeyConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{AiError, ErrorClass};
use crate::route::Caller;

/// A compiled virtual key.
#[derive(Debug)]
pub struct VirtualKey {
    pub name: Arc<str>,
    pub tenant: Arc<str>,
    pub team: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    /// Models it may use; empty: whatever the route allows.
    pub models: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub disabled: bool,
    pub metadata: BTreeMap<String, String>,
    pub limits: Option<AiLimits>,
    pub budget: Option<BudgetAmount>,
}

/// Who is calling, as far as budgets and limits care.
#[derive(Debug, Clone)]
pub struct Who {
    /// The virtual key used, if the caller presented one.
    pub key: Option<Arc<VirtualKey>>,
    pub tenant: Arc<str>,
    pub team: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
}

impl Who {
    /// A caller identified by an authentication policy: its consumer is the user, its
    /// `team` metadata the team.
    pub fn of_consumer(c: &Caller) -> Who {
        Who {
            key: None,
            tenant: c.consumer.tenant.clone(),
            team: c
                .consumer
                .metadata
                .get("team")
                .map(|t| Arc::from(t.as_str())),
            user: Some(c.consumer.name.clone()),
        }
    }

    /// A caller nobody identified (an open route with budgets or limits).
    pub fn anonymous() -> Who {
        Who {
            key: None,
            tenant: Arc::from("default"),
            team: None,
            user: None,
        }
    }

    fn of_key(k: &Arc<VirtualKey>) -> Who {
        Who {
            key: Some(k.clone()),
            tenant: k.tenant.clone(),
            team: k.team.clone(),
            user: k.user.clone(),
        }
    }

    pub fn key_name(&self) -> Option<&str> {
        self.key.as_ref().map(|k| &*k.name)
    }

    /// Put the key's name, team and user in a call record.
    pub fn fill(&self, rec: &mut pylon_telemetry::AiRecord) {
        rec.virtual_key = self.key_name().map(str::to_string);
        rec.team = self.team.as_deref().map(str::to_string);
        rec.user = self.user.as_deref().map(str::to_string);
    }
}

/// Every virtual key, by the SHA-256 of its secret.
#[derive(Default)]
pub struct KeyIndex {
    by_hash: HashMap<[u8; 32], Arc<VirtualKey>>,
}

impl KeyIndex {
    /// The keys of `ai.virtual_keys`; the error names the key that does not compile.
    pub fn compile(keys: &[VirtualKeyConfig]) -> Result<KeyIndex, (String, String)> {
        let mut by_hash = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let at = |f: &str| format!("ai.virtual_keys[{i}]{f}");
            let hash = match (&k.key, &k.key_sha256) {
                (Some(clear), _) => pylon_policy::hash_key(clear.as_bytes()),
                (None, Some(h)) => {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(h.to_ascii_lowercase(), &mut out)
                        .map_err(|_| (at(".key_sha256"), "must be 64 hex digits".to_string()))?;
                    out
                }
                (None, None) => return Err((at(""), "needs `key` or `key_sha256`".into())),
            };
            let expires_at = match &k.expires_at {
                None => None,
                Some(t) => Some(
                    OffsetDateTime::parse(t, &Rfc3339)
                        .map_err(|e| (at(".expires_at"), format!("not an RFC 3339 time: {e}")))?,
                ),
            };
            let vk = VirtualKey {
                name: Arc::from(k.name.as_str()),
                tenant: Arc::from(k.tenant.as_str()),
                team: k.team.as_deref().map(Arc::from),
                user: k.user.as_deref().map(Arc::from),
                models: k.models.clone(),
                expires_at,
                disabled: k.disabled,
                metadata: k.metadata.clone(),
                limits: k.limits.clone(),
                budget: k.budget.clone(),
            };
            if by_hash.insert(hash, Arc::new(vk)).is_some() {
                return Err((at(""), "another virtual key has the same secret".into()));
            }
        }
        Ok(KeyIndex { by_hash })
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The caller's key from `Authorization: Bearer`, `x-api-key` or `api-key`, checked:
    /// known, enabled, not expired. `None` when the request carries no key at all.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Option<Who>, AiError> {
        let Some(secret) = presented(headers) else {
            return Ok(None);
        };
        let denied = |code: &str, msg: &str| {
            let mut e = AiError::new(ErrorClass::Authentication, msg.to_string());
            e.code = Some(code.into());
            e
        };
        let Some(k) = self.by_hash.get(&pylon_policy::hash_key(secret.as_bytes())) else {
            return Err(denied("invalid_api_key", "the API key is not valid"));
        };
        if k.disabled {
            return Err(denied("key_disabled", "the API key is disabled"));
        }
        if k.expires_at.is_some_and(|t| t <= OffsetDateTime::now_utc()) {
            return Err(denied("key_expired", "the API key has expired"));
        }
        Ok(Some(Who::of_key(k)))
    }
}

/// The key a caller sent, the way its SDK sends it.
fn presented(h: &HeaderMap) -> Option<&str> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(a) = get("authorization") {
        let (scheme, rest) = a.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|k| !k.is_empty());
    }
    get("x-api-key")
        .or_else(|| get("api-key"))
        .filter(|k| !k.is_empty())
}
