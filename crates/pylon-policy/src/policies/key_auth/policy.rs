//! `key-auth` at run time: find the key, look its digest up, set the consumer.

use std::sync::Arc;

use http::HeaderName;

use super::config::{KeyAuthConfig, KeySource};
use crate::consumer::Consumers;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{AuthRole, Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::{header_name, parse_config};

pub struct KeyAuth {
    consumers: Arc<Consumers>,
    headers: Vec<HeaderName>,
    names: Vec<String>,
    sources: Vec<KeySource>,
    hide: bool,
    anonymous: Option<String>,
    challenge: String,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: KeyAuthConfig = parse_config(value)?;
    if cfg.key_names.is_empty() {
        return Err(PolicyError::config(
            "key_names",
            "at least one name is needed",
        ));
    }
    if cfg.sources.is_empty() {
        return Err(PolicyError::config(
            "sources",
            "at least one source is needed",
        ));
    }
    let headers = cfg
        .key_names
        .iter()
        .enumerate()
        .map(|(i, n)| header_name(&format!("key_names[{i}]"), n))
        .collect::<Result<_, _>>()?;
    if cfg.realm.contains('"') {
        return Err(PolicyError::config("realm", "must not contain `\"`"));
    }
    Ok(Arc::new(KeyAuth {
        consumers: env.consumers.clone(),
        headers,
        names: cfg.key_names,
        sources: cfg.sources,
        hide: cfg.hide_credentials,
        anonymous: cfg.anonymous,
        challenge: format!("Key realm=\"{}\"", cfg.realm),
    }))
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer_token(v: &str) -> Option<&str> {
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Where a key was found, so it can be removed.
enum Found {
    Header(usize),
    Query(usize),
    Cookie(usize),
}

impl KeyAuth {
    fn find(&self, req: &RequestHead) -> Option<(String, Found)> {
        for source in &self.sources {
            match source {
                KeySource::Header => {
                    for (i, h) in self.headers.iter().enumerate() {
                        let Some(v) = req.parts.headers.get(h) else {
                            continue;
                        };
                        let text = String::from_utf8_lossy(v.as_bytes());
                        if *h == http::header::AUTHORIZATION {
                            // `Authorization: Bearer <key>` (the OpenAI SDKs' way); other
                            // schemes belong to other authentication policies.
                            match bearer_token(&text) {
                                Some(t) => return Some((t.to_string(), Found::Header(i))),
                                None => continue,
                            }
                        }
                        return Some((text.into_owned(), Found::Header(i)));
                    }
                }
                KeySource::Query => {
                    let query = req.parts.uri.query().unwrap_or("");
                    for (i, n) in self.names.iter().enumerate() {
                        if let Some(v) = crate::util::query_param(query, n) {
                            return Some((v, Found::Query(i)));
                        }
                    }
                }
                KeySource::Cookie => {
                    for (i, n) in self.names.iter().enumerate() {
                        if let Some(v) = crate::util::cookie(&req.parts.headers, n) {
                            return Some((v, Found::Cookie(i)));
                        }
                    }
                }
            }
        }
        None
    }

    fn hide(&self, req: &mut RequestHead, found: Found) {
        match found {
            Found::Header(i) => {
                req.parts.headers.remove(&self.headers[i]);
            }
            Found::Query(i) => crate::util::remove_query_param(&mut req.parts.uri, &self.names[i]),
            Found::Cookie(i) => crate::util::remove_cookie(&mut req.parts.headers, &self.names[i]),
        }
    }
}

impl Policy for KeyAuth {
    fn kind(&self) -> &'static str {
        "key-auth"
    }

    fn auth(&self) -> Option<AuthRole<'_>> {
        Some(AuthRole {
            anonymous: self.anonymous.as_deref(),
            challenge: Some(&self.challenge),
        })
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let Some((key, found)) = self.find(req) else {
            return Step::next();
        };
        let Some((consumer, id)) = self.consumers.by_key(key.trim().as_bytes()) else {
            return Step::reject(Reject::unauthorized(Some(&self.challenge)));
        };
        ctx.consumer = Some(consumer.clone());
        ctx.credential = Some(id.clone());
        if self.hide {
            self.hide(req, found);
        }
        Step::next()
    }
}
