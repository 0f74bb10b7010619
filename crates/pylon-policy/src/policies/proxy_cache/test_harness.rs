//! A chain with the cache, a hand-set clock and a counting upstream, for the tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::json;

use super::policy::home_key;
use super::store::{Clock, Home};
use crate::chain::Chain;
use crate::context::ResponseHead;
use crate::shared::Shared;
use crate::testing::*;

pub(super) const T0: u64 = 1_700_000_000_000;

/// A chain with the cache (and key-auth when `auth`) plus a counting upstream.
pub(super) struct Harness {
    pub chain: Arc<Chain>,
    pub shared: Arc<Shared>,
    pub now: Arc<AtomicU64>,
    pub calls: usize,
    /// The headers of the last request that reached the upstream.
    pub upstream_saw: HeaderMap,
}

pub(super) struct Out {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub cache: Option<&'static str>,
}

impl Out {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn consumers() -> serde_json::Value {
    json!({ "consumers": [
        { "name": "alice", "credentials": [{ "type": "key_auth", "key": "alice-secret-1" }] },
        { "name": "bob", "credentials": [{ "type": "key_auth", "key": "bob-secret-22" }] },
    ]})
}

impl Harness {
    pub fn new(cache: serde_json::Value, auth: bool) -> Self {
        let shared = Shared::new();
        let now = Arc::new(AtomicU64::new(T0));
        shared.get_or_init(&home_key("route:r"), || {
            Home::with_clock(Clock::manual(now.clone()))
        });
        Self {
            chain: chain(&shared, &cache, auth),
            shared,
            now,
            calls: 0,
            upstream_saw: HeaderMap::new(),
        }
    }

    /// Rebuild the chain (a config reload) with `cache`.
    pub fn reload(&mut self, cache: serde_json::Value) {
        self.chain = chain(&self.shared, &cache, false);
    }

    pub fn advance(&self, secs: u64) {
        self.now.fetch_add(secs * 1000, Ordering::Relaxed);
    }

    /// One request through the chain; the upstream answers `status`,
    /// `headers` and `body` when it is reached. As in the proxy, the body
    /// is shown to the response phase only when a policy asked for it.
    pub async fn send(
        &mut self,
        method: &str,
        uri: &str,
        req_headers: &[(&str, &str)],
        (status, headers, body): (u16, &[(&str, &str)], &str),
    ) -> Out {
        let mut req = request(method, uri, req_headers);
        let mut ctx = ctx();
        let (mut head, full) = match run(&self.chain, &mut req, &mut ctx).await {
            Ok(Some(resp)) => {
                let (parts, body) = resp.into_parts();
                (ResponseHead { parts, body: None }, body)
            }
            Ok(None) => {
                self.calls += 1;
                self.upstream_saw = req.parts.headers.clone();
                let mut head = response(status, headers, None);
                let full = if method == "HEAD" {
                    Bytes::new()
                } else {
                    Bytes::from(body.to_string())
                };
                if method != "HEAD" && self.chain.wants_response_body(&head.parts, &ctx) {
                    head.body = Some(full.clone());
                }
                (head, full)
            }
            Err(rej) => panic!("rejected: {rej:?}"),
        };
        if let Err(rej) = self.chain.on_response(&mut head, &mut ctx) {
            panic!("response rejected: {rej:?}");
        }
        Out {
            status: head.parts.status.as_u16(),
            headers: head.parts.headers,
            body: head.body.unwrap_or(full),
            cache: ctx.cache_status,
        }
    }

    pub async fn get(&mut self, uri: &str, req_headers: &[(&str, &str)]) -> Out {
        self.send(
            "GET",
            uri,
            req_headers,
            (200, &[("etag", "\"v1\"")], "hello"),
        )
        .await
    }
}

fn chain(shared: &Arc<Shared>, cache: &serde_json::Value, auth: bool) -> Arc<Chain> {
    let mut policies = vec![json!({ "name": "proxy-cache", "config": cache })];
    if auth {
        policies.push(json!({ "name": "key-auth" }));
    }
    chain_with(&config(json!(policies), consumers()), shared)
}
