//! `jwt` at run time: find the token, pick the keys that may verify it
//! (consumer credential by `key_claim`, inline keys, JWKS), verify, check the
//! claims, name the consumer.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::claims::ClaimChecks;
use super::config::JwtConfig;
use super::jwks::{Jwks, JwksError, JwksParams, Lookup};
use super::keys::{CredentialKeys, VerifyKey};
use crate::auth::clock::Clock;
use crate::auth::token::{Found, TokenLocations};
use crate::auth::{claim_text, consumer_for, invalid_token};
use crate::consumer::{Consumer, Consumers};
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{AuthRole, Flow, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct Jwt {
    consumers: Arc<Consumers>,
    locations: TokenLocations,
    credentials: Arc<CredentialKeys>,
    inline: Vec<VerifyKey>,
    jwks: Option<(Arc<Jwks>, JwksParams)>,
    checks: ClaimChecks,
    key_claim: String,
    consumer_claim: [String; 1],
    require_consumer: bool,
    hide: bool,
    anonymous: Option<String>,
    challenge: String,
    clock: Arc<Clock>,
    metrics: pylon_telemetry::Metrics,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    // One provider for the whole process, chosen here rather than by feature
    // unification; a second install is refused harmlessly.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    );
    let cfg: JwtConfig = parse_config(value)?;
    crate::auth::check_realm(&cfg.realm)?;
    let locations = TokenLocations::new(&cfg.header_names, &cfg.query_params, &cfg.cookie_names)?;
    for (field, v) in [
        ("key_claim", &cfg.key_claim),
        ("consumer_claim", &cfg.consumer_claim),
    ] {
        if v.is_empty() {
            return Err(PolicyError::config(field, "must not be empty"));
        }
    }
    let inline = cfg
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            VerifyKey::from_config(
                k.kid.as_deref(),
                &k.algorithm,
                k.secret.as_deref(),
                k.public_key.as_deref(),
            )
            .map_err(|reason| PolicyError::config(format!("keys[{i}]"), reason))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let jwks = match &cfg.jwks_url {
        Some(url) => {
            let uri = parse_url(url).map_err(|r| PolicyError::config("jwks_url", r))?;
            for (field, d) in [
                ("jwks_ttl", cfg.jwks_ttl),
                ("jwks_timeout", cfg.jwks_timeout),
            ] {
                if d.is_zero() {
                    return Err(PolicyError::config(field, "must be more than 0s"));
                }
            }
            if cfg.jwks_min_refresh_interval < std::time::Duration::from_secs(1) {
                return Err(PolicyError::config(
                    "jwks_min_refresh_interval",
                    "must be at least 1s",
                ));
            }
            let state = env
                .shared
                .get_or_init(&format!("jwt:{}:{url}", env.scope), Jwks::default);
            let params = JwksParams {
                url: uri,
                ttl: cfg.jwks_ttl,
                min_interval: cfg.jwks_min_refresh_interval,
                timeout: cfg.jwks_timeout,
            };
            Some((state, params))
        }
        None => None,
    };
    let credentials = env.consumers.index(CredentialKeys::build);
    if let Some(e) = &credentials.error {
        return Err(e.clone());
    }
    if inline.is_empty() && jwks.is_none() && credentials.by_key.is_empty() {
        return Err(PolicyError::config(
            "",
            "no verification key: give `keys`, `jwks_url`, or consumers with `jwt` credentials",
        ));
    }
    Ok(Arc::new(Jwt {
        consumers: env.consumers.clone(),
        locations,
        credentials,
        inline,
        jwks,
        checks: ClaimChecks {
            require_exp: cfg.require_exp,
            require_nbf: cfg.require_nbf,
            issuers: cfg.issuers,
            audiences: cfg.audiences,
            leeway_secs: cfg.leeway.as_secs(),
            required: cfg.required_claims,
        },
        key_claim: cfg.key_claim,
        consumer_claim: [cfg.consumer_claim],
        require_consumer: cfg.require_consumer,
        hide: cfg.hide_credentials,
        anonymous: cfg.anonymous,
        challenge: format!("Bearer realm=\"{}\"", cfg.realm),
        clock: crate::auth::clock::shared(env.shared),
        metrics: env.shared.metrics().clone(),
    }))
}

/// An absolute `http` or `https` URL.
pub(crate) fn parse_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!("`{url}` is not an absolute http(s) URL")),
    }
}

/// Who a verified token belongs to, when its key says so.
struct KeyOwner {
    consumer: Option<Arc<Consumer>>,
    credential: Option<Arc<str>>,
}

impl Jwt {
    fn bad_token(&self, why: &str) -> Reject {
        tracing::debug!(reason = why, "jwt refused");
        invalid_token(&self.challenge)
    }

    /// Check claims, name the consumer, update the request.
    fn accept(
        &self,
        claims: Value,
        owner: KeyOwner,
        found: Found,
        req: &mut RequestHead,
        ctx: &mut PolicyCtx,
    ) -> PolicyResult {
        if let Err(why) = self.checks.check(&claims, self.clock.now_secs()) {
            return Err(self.bad_token(why));
        }
        let consumer = match owner.consumer {
            Some(c) => c,
            None => consumer_for(
                &self.consumers,
                &claims,
                &self.consumer_claim,
                self.require_consumer,
            )
            .ok_or_else(|| self.bad_token("no consumer for the token"))?,
        };
        ctx.consumer = Some(consumer);
        ctx.credential = owner.credential;
        ctx.claims = Some(Arc::new(claims));
        if self.hide {
            self.locations.hide(req, found);
        }
        Ok(Flow::Continue)
    }
}

impl Policy for Jwt {
    fn kind(&self) -> &'static str {
        "jwt"
    }

    fn auth(&self) -> Option<AuthRole<'_>> {
        Some(AuthRole {
            anonymous: self.anonymous.as_deref(),
            challenge: Some(&self.challenge),
        })
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let Some((token, found)) = self.locations.find(req) else {
            return Step::next();
        };
        // `alg: none` and unknown algorithms fail here.
        let Ok(header) = jsonwebtoken::decode_header(&token) else {
            return Step::reject(self.bad_token("malformed token or unsupported alg"));
        };
        let alg: Algorithm = header.alg;
        let kid = header.kid;

        // A consumer credential named by the (unverified) key claim decides alone.
        if !self.credentials.by_key.is_empty() {
            let claimed = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token)
                .ok()
                .and_then(|c| claim_text(c.get(&self.key_claim)));
            if let Some(cred) = claimed.and_then(|k| self.credentials.by_key.get(&k)) {
                if !cred.key.fits(alg, None) {
                    return Step::reject(self.bad_token("algorithm not allowed for the key"));
                }
                let Some(claims) = cred.key.verify(&token) else {
                    return Step::reject(self.bad_token("signature"));
                };
                let owner = KeyOwner {
                    consumer: Some(cred.consumer.clone()),
                    credential: Some(cred.id.clone()),
                };
                return Step::Ready(self.accept(claims, owner, found, req, ctx));
            }
        }
        let owner = |k: &VerifyKey| KeyOwner {
            consumer: None,
            credential: k.kid.clone(),
        };
        for k in self.inline.iter().filter(|k| k.fits(alg, kid.as_deref())) {
            if let Some(claims) = k.verify(&token) {
                return Step::Ready(self.accept(claims, owner(k), found, req, ctx));
            }
        }
        let Some((jwks, params)) = &self.jwks else {
            return Step::reject(self.bad_token("no key verifies the token"));
        };
        Step::wait(async move {
            let report = |e: &JwksError| {
                tracing::warn!(url = %params.url, error = %e, "JWKS fetch failed");
                self.metrics.policy_backend_error("jwt", "jwks");
            };
            match jwks
                .lookup(params, &self.clock, alg, kid.as_deref(), &report)
                .await
            {
                Lookup::Keys(keys) => {
                    for k in keys {
                        if let Some(claims) = k.verify(&token) {
                            return self.accept(claims, owner(&k), found, req, ctx);
                        }
                    }
                    Err(self.bad_token("signature"))
                }
                Lookup::NoKey => Err(self.bad_token("unknown key")),
                Lookup::Unavailable => Err(Reject::unauthorized(Some(&self.challenge))),
            }
        })
    }
}
