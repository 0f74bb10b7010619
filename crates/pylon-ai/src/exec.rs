//! The attempt loop every AI call goes through: deployments in the group's
//! order, a key from each provider's pool, key health updated from answers
//! (401/403 disable a key, 429 cools it down), retry passes with
//! exponential backoff and full jitter that honour `retry-after`, then the
//! group's fallbacks for the error class that ended it. Never more than
//! `ai.retries.max_attempts` provider calls per request.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use pylon_config::{AiRetryConfig, FallbackOn};
use rand::Rng;

use crate::error::{AiError, ErrorClass};
use crate::router::{Deployment, Engine, InFlight, ModelGroup, NoKey, keys::DEFAULT_COOLDOWN};

/// One kind of call (chat, embeddings) as the loop runs it.
pub trait Attempt: Sync {
    type Output: Send;

    /// Refuse a deployment without calling it (e.g. the prompt does not fit
    /// its context window). Counted as a failure, not as an attempt.
    fn precheck(&self, dep: &Deployment) -> Result<(), AiError> {
        let _ = dep;
        Ok(())
    }

    /// One provider call.
    fn run<'a>(
        &'a self,
        dep: &'a Deployment,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Self::Output, AiError>>;
}

/// What answered, and how it got there.
pub struct Outcome<T> {
    pub value: T,
    pub group: Arc<ModelGroup>,
    pub deployment: usize,
    pub key_id: Option<String>,
    pub attempts: u32,
    /// Failed attempts before the answer: `provider/model: class`.
    pub path: Vec<String>,
    /// Counts the deployment busy until dropped.
    pub in_flight: Option<InFlight>,
}

impl<T> Outcome<T> {
    pub fn deployment(&self) -> &Deployment {
        &self.group.deployments[self.deployment]
    }
}

/// A failed call: the error the caller sees and the path that led to it.
pub struct Failure {
    pub error: AiError,
    pub attempts: u32,
    pub path: Vec<String>,
}

/// The fallback class of an error, if fallbacks may react to it.
fn fallback_class(c: ErrorClass) -> Option<FallbackOn> {
    Some(match c {
        ErrorClass::RateLimited => FallbackOn::RateLimited,
        ErrorClass::Server
        | ErrorClass::Overloaded
        | ErrorClass::Connection
        | ErrorClass::BadResponse => FallbackOn::ServerError,
        ErrorClass::Timeout => FallbackOn::Timeout,
        ErrorClass::ContextWindow => FallbackOn::ContextWindow,
        ErrorClass::ContentFilter => FallbackOn::ContentFilter,
        ErrorClass::Authentication | ErrorClass::PermissionDenied => FallbackOn::Auth,
        _ => return None,
    })
}

/// Backoff before retry pass `pass` (1-based): full jitter over
/// `backoff * 2^(pass-1)`, at least the provider's `retry-after`, at most
/// `max_backoff`.
pub fn backoff(cfg: &AiRetryConfig, pass: u32, retry_after: Option<Duration>) -> Duration {
    let exp = cfg
        .backoff
        .saturating_mul(1u32 << (pass.saturating_sub(1)).min(16))
        .min(cfg.max_backoff);
    let jittered = exp.mul_f64(rand::rng().random_range(0.0..=1.0));
    jittered
        .max(retry_after.unwrap_or_default())
        .min(cfg.max_backoff)
}

/// Run `attempt` on `group` (and its fallbacks when `allow_fallback`).
pub async fn run<A: Attempt>(
    engine: &Engine,
    group: Arc<ModelGroup>,
    attempt: &A,
    allow_fallback: bool,
) -> Result<Outcome<A::Output>, Failure> {
    let max = engine.retries.max_attempts.max(1);
    let mut attempts = 0u32;
    let mut path = Vec::new();
    let mut last: Option<AiError> = None;
    let primary = group.clone();
    let mut chain = vec![group];
    let mut gi = 0;
    while gi < chain.len() {
        let g = chain[gi].clone();
        let mut pass = 0u32;
        'passes: loop {
            let attempts_at_pass = attempts;
            let mut retry_after: Option<Duration> = None;
            let mut stop_group = false;
            for di in engine.order(&g) {
                if attempts >= max {
                    break 'passes;
                }
                let dep = &g.deployments[di];
                if let Err(e) = attempt.precheck(dep) {
                    path.push(format!("{}: {}", dep.label(), e.class.as_str()));
                    last = Some(e);
                    continue;
                }
                // Another key of the same provider is tried at once when a
                // key is refused or rate limited.
                let mut tried_keys: Vec<usize> = Vec::new();
                loop {
                    if attempts >= max {
                        break 'passes;
                    }
                    let (key_idx, key) = match dep.provider.keys.pick(&tried_keys) {
                        Ok(Some((i, k))) => (Some(i), Some(k)),
                        Ok(None) => (None, None),
                        Err(why) => {
                            if tried_keys.is_empty() {
                                let e = no_key_error(dep, why);
                                path.push(format!("{}: {}", dep.label(), e.class.as_str()));
                                last = Some(e);
                            }
                            break;
                        }
                    };
                    attempts += 1;
                    let in_flight = dep.stats.start();
                    let mut e = match attempt.run(dep, key.map(|k| k.secret.as_str())).await {
                        Ok(value) => {
                            return Ok(Outcome {
                                value,
                                group: g.clone(),
                                deployment: di,
                                key_id: key.map(|k| k.id.clone()),
                                attempts,
                                path,
                                in_flight: Some(in_flight),
                            });
                        }
                        Err(e) => e,
                    };
                    drop(in_flight);
                    if e.provider.is_none() {
                        e.provider = Some(dep.provider.name().to_string());
                    }
                    let mut other_key = false;
                    if let (Some(k), Some(i)) = (key, key_idx) {
                        match e.class {
                            ErrorClass::Authentication | ErrorClass::PermissionDenied => {
                                tracing::warn!(key = %k.id, "provider refused the key; disabling it");
                                k.state.disable();
                                other_key = true;
                            }
                            ErrorClass::RateLimited => {
                                k.state.cool_down(e.retry_after.unwrap_or(DEFAULT_COOLDOWN));
                                other_key = true;
                            }
                            _ => {}
                        }
                        tried_keys.push(i);
                    }
                    tracing::debug!(deployment = %dep.label(), error = %e, "AI attempt failed");
                    path.push(format!("{}: {}", dep.label(), e.class.as_str()));
                    let class = e.class;
                    if !class.is_retryable() {
                        if fallback_class(class).is_none() {
                            return Err(Failure {
                                error: e,
                                attempts,
                                path,
                            });
                        }
                        // Context window, content filter: other deployments of
                        // the same model fail alike; only a fallback may help.
                        last = Some(e);
                        stop_group = true;
                        break;
                    }
                    retry_after = retry_after.max(e.retry_after);
                    last = Some(e);
                    if !other_key {
                        break;
                    }
                }
                if stop_group {
                    break;
                }
            }
            let fallbacks_ahead = allow_fallback && !primary.fallbacks.is_empty() && gi == 0;
            // A pass that made no call (prechecks refused every deployment,
            // or every key is disabled) would fail the same way again; only
            // keys cooling down after a 429 are worth waiting for.
            let none_called = attempts == attempts_at_pass
                && last
                    .as_ref()
                    .is_some_and(|e| e.class != ErrorClass::RateLimited);
            if stop_group
                || fallbacks_ahead
                || gi > 0
                || attempts >= max
                || last.is_none()
                || none_called
            {
                break;
            }
            pass += 1;
            let wait = backoff(&engine.retries, pass, retry_after);
            tracing::debug!(pass, wait_ms = wait.as_millis() as u64, "retrying AI call");
            tokio::time::sleep(wait).await;
        }
        if gi == 0 && allow_fallback {
            let class = last.as_ref().and_then(|e| fallback_class(e.class));
            if let Some(class) = class {
                for f in &primary.fallbacks {
                    let applies = if f.on.is_empty() {
                        !matches!(class, FallbackOn::Auth)
                    } else {
                        f.on.contains(&class)
                    };
                    if applies {
                        chain.extend(f.models.iter().filter_map(|m| engine.resolve(m)));
                    }
                }
            }
        }
        gi += 1;
    }
    let error = last.unwrap_or_else(|| AiError::internal("no deployment could be tried"));
    Err(Failure {
        error,
        attempts,
        path,
    })
}

fn no_key_error(dep: &Deployment, why: NoKey) -> AiError {
    match why {
        NoKey::AllDisabled => AiError::new(
            ErrorClass::Authentication,
            format!(
                "every key of provider `{}` was refused by the provider",
                dep.provider.name()
            ),
        )
        .with_status(http::StatusCode::BAD_GATEWAY),
        NoKey::AllCooling => {
            let mut e = AiError::new(
                ErrorClass::RateLimited,
                format!(
                    "every key of provider `{}` is rate limited",
                    dep.provider.name()
                ),
            );
            e.retry_after = Some(Duration::from_secs(1));
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let cfg = AiRetryConfig {
            max_attempts: 4,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for pass in 1..10 {
            let b = backoff(&cfg, pass, None);
            assert!(b <= Duration::from_secs(1));
            let cap = Duration::from_millis(100) * (1 << (pass - 1).min(16));
            assert!(b <= cap.min(Duration::from_secs(1)));
        }
        assert_eq!(
            backoff(&cfg, 1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            backoff(&cfg, 1, Some(Duration::from_secs(30))),
            Duration::from_secs(1)
        );
    }
}
