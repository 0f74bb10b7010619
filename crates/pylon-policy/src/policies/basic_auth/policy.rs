//! `basic-auth` at run time: parse `Authorization: Basic`, look the user up,
//! check the password (cached; slow hashes on the blocking pool).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::header::AUTHORIZATION;

use super::config::BasicAuthConfig;
use super::index::{BasicIndex, cache_key};
use crate::auth::clock::Clock;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{AuthRole, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct BasicAuth {
    index: Arc<BasicIndex>,
    clock: Arc<Clock>,
    hide: bool,
    anonymous: Option<String>,
    challenge: String,
    cache_ttl_ms: u64,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: BasicAuthConfig = parse_config(value)?;
    crate::auth::check_realm(&cfg.realm)?;
    if cfg.cache_ttl > Duration::from_secs(3600) {
        return Err(PolicyError::config("cache_ttl", "must be at most 1h"));
    }
    let index = env.consumers.index(BasicIndex::build);
    if let Some(e) = &index.error {
        return Err(e.clone());
    }
    Ok(Arc::new(BasicAuth {
        index,
        clock: crate::auth::clock::shared(env.shared),
        hide: cfg.hide_credentials,
        anonymous: cfg.anonymous,
        challenge: format!("Basic realm=\"{}\", charset=\"UTF-8\"", cfg.realm),
        cache_ttl_ms: u64::try_from(cfg.cache_ttl.as_millis()).unwrap_or(u64::MAX),
    }))
}

/// `Basic <base64(user:password)>` → (user, password); `None` when malformed.
fn parse_basic(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let encoded = value.get(6..)?;
    let encoded = std::str::from_utf8(encoded).ok()?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_string(), decoded[colon + 1..].to_vec()))
}

impl BasicAuth {
    fn refuse(&self) -> Reject {
        Reject::unauthorized(Some(&self.challenge))
    }

    fn accept(&self, user: &str, req: &mut RequestHead, ctx: &mut PolicyCtx) -> PolicyResult {
        let Some(u) = self.index.user(user) else {
            return Err(self.refuse());
        };
        ctx.consumer = Some(u.consumer.clone());
        ctx.credential = Some(u.id.clone());
        if self.hide {
            req.parts.headers.remove(AUTHORIZATION);
        }
        Ok(crate::policy::Flow::Continue)
    }

    fn remember(&self, key: [u8; 32]) {
        if self.cache_ttl_ms > 0 {
            let now = self.clock.now_ms();
            self.index
                .cache
                .insert(key, (), now.saturating_add(self.cache_ttl_ms), now);
        }
    }
}

impl Policy for BasicAuth {
    fn kind(&self) -> &'static str {
        "basic-auth"
    }

    fn auth(&self) -> Option<AuthRole<'_>> {
        Some(AuthRole {
            anonymous: self.anonymous.as_deref(),
            challenge: Some(&self.challenge),
        })
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let Some(value) = req.parts.headers.get(AUTHORIZATION) else {
            return Step::next();
        };
        let bytes = value.as_bytes();
        let is_basic = bytes.len() >= 6 && bytes[..6].eq_ignore_ascii_case(b"basic ");
        if !is_basic {
            // Another scheme (Bearer, ...) belongs to another policy.
            return Step::next();
        }
        let Some((user, password)) = parse_basic(bytes) else {
            return Step::reject(self.refuse());
        };
        let Some(entry) = self.index.user(&user) else {
            return Step::reject(self.refuse());
        };
        let key = cache_key(&user, &password);
        if self.cache_ttl_ms > 0 && self.index.cache.get(&key, self.clock.now_ms()).is_some() {
            return Step::Ready(self.accept(&user, req, ctx));
        }
        if !entry.secret.is_slow() {
            if !entry.secret.verify(&password) {
                return Step::reject(self.refuse());
            }
            self.remember(key);
            return Step::Ready(self.accept(&user, req, ctx));
        }
        let secret = entry.secret.clone();
        Step::wait(async move {
            let ok = {
                let Ok(_permit) = self.index.slots.acquire().await else {
                    return Err(self.refuse());
                };
                self.index.count_slow_check();
                tokio::task::spawn_blocking(move || secret.verify(&password))
                    .await
                    .unwrap_or(false)
            };
            if !ok {
                return Err(self.refuse());
            }
            self.remember(key);
            self.accept(&user, req, ctx)
        })
    }
}
