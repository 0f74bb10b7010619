//! A JWKS fetched over HTTP(S) on first use, kept across config reloads (in
//! the shared state), refreshed when it expires or when a token names an
//! unknown `kid`. Fetches are serialised and at most one starts per
//! `min_interval`, so tokens with made-up `kid`s cannot make Pylon hammer the
//! JWKS endpoint. A failed fetch keeps the keys it had.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use parking_lot::RwLock;
use serde_json::Value;

use super::keys::VerifyKey;
use crate::auth::clock::Clock;
use crate::auth::fetch;

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

pub(super) struct KeySet {
    pub(super) keys: Vec<Arc<VerifyKey>>,
    expires_ms: u64,
}

/// How the policy wants its JWKS fetched.
pub(super) struct JwksParams {
    pub(super) url: http::Uri,
    pub(super) ttl: Duration,
    pub(super) min_interval: Duration,
    pub(super) timeout: Duration,
}

/// The keys of one JWKS URL (shared state).
#[derive(Default)]
pub(super) struct Jwks {
    set: RwLock<Option<Arc<KeySet>>>,
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch started (Unix ms); 0: never.
    last_attempt_ms: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum JwksError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error("status {0}")]
    Status(http::StatusCode),
    #[error("the document is not a JWKS")]
    NotJwks,
    #[error("the JWKS has no usable signature key")]
    NoKeys,
}

/// What a lookup produced.
pub(super) enum Lookup {
    Keys(Vec<Arc<VerifyKey>>),
    /// No key fits (after a refresh if one was allowed).
    NoKey,
    /// No keys at all: the JWKS could not be fetched.
    Unavailable,
}

impl Jwks {
    /// Keys that may verify a token with `alg` and `kid`, fetching or
    /// refreshing the set when needed and allowed. `on_error` is told about
    /// each failed fetch.
    pub(super) async fn lookup(
        &self,
        p: &JwksParams,
        clock: &Clock,
        alg: jsonwebtoken::Algorithm,
        kid: Option<&str>,
        on_error: &(dyn Fn(&JwksError) + Sync),
    ) -> Lookup {
        let current = self.set.read().clone();
        let stale = current
            .as_ref()
            .is_none_or(|s| s.expires_ms <= clock.now_ms());
        if stale {
            self.refresh(p, clock, on_error).await;
        }
        let fits = |set: &KeySet| -> Vec<Arc<VerifyKey>> {
            set.keys
                .iter()
                .filter(|k| k.fits(alg, kid))
                .cloned()
                .collect()
        };
        let Some(set) = self.set.read().clone() else {
            return Lookup::Unavailable;
        };
        let found = fits(&set);
        if !found.is_empty() {
            return Lookup::Keys(found);
        }
        // An unknown key: perhaps rotated in since the last fetch.
        if !stale {
            self.refresh(p, clock, on_error).await;
        }
        match self.set.read().as_deref().map(fits) {
            Some(found) if !found.is_empty() => Lookup::Keys(found),
            _ => Lookup::NoKey,
        }
    }

    /// Fetch the set again unless a fetch started less than `min_interval` ago.
    async fn refresh(&self, p: &JwksParams, clock: &Clock, on_error: &(dyn Fn(&JwksError) + Sync)) {
        let _one_at_a_time = self.fetching.lock().await;
        let now = clock.now_ms();
        let last = self.last_attempt_ms.load(Ordering::SeqCst);
        let min = u64::try_from(p.min_interval.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < min {
            return;
        }
        self.last_attempt_ms.store(now.max(1), Ordering::SeqCst);
        match fetch_set(p, clock).await {
            Ok(set) => *self.set.write() = Some(Arc::new(set)),
            Err(e) => on_error(&e),
        }
    }
}

async fn fetch_set(p: &JwksParams, clock: &Clock) -> Result<KeySet, JwksError> {
    let req = Request::get(p.url.clone())
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|_| JwksError::NotJwks)?;
    let resp = fetch::send(req, p.timeout, MAX_JWKS_BYTES).await?;
    if !resp.status.is_success() {
        return Err(JwksError::Status(resp.status));
    }
    let doc: Value = serde_json::from_slice(&resp.body).map_err(|_| JwksError::NotJwks)?;
    let keys: Vec<Arc<VerifyKey>> = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NotJwks)?
        .iter()
        .filter_map(VerifyKey::from_jwk)
        .map(Arc::new)
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoKeys);
    }
    let ttl = max_age(&resp.headers).map_or(p.ttl, |m| {
        m.clamp(p.min_interval, p.ttl.max(p.min_interval))
    });
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    Ok(KeySet {
        keys,
        expires_ms: clock.now_ms().saturating_add(ttl_ms),
    })
}

/// `Cache-Control: max-age=N`, if given.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_secs)
}
