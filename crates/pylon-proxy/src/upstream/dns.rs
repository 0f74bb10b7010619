//! DNS for targets given by name.
//!
//! Each such target gets a background task that resolves its host, publishes
//! the addresses on the target (`Target::resolved`), and resolves again when
//! the record TTL, clamped to `[dns.min_ttl, dns.max_ttl]`, runs out. IP
//! literals need no task.
//!
//! The default lookup (`system_lookup`) asks hickory-resolver configured from
//! the system (`/etc/resolv.conf`; when that cannot be read, Google public DNS)
//! and falls back to the operating system's resolver (`getaddrinfo`, which
//! knows `/etc/hosts` names such as `localhost`) when hickory fails. Results of
//! the fallback carry no TTL; they are kept for `DEFAULT_TTL` clamped to the
//! bounds.
//!
//! A failed refresh keeps the last good addresses, logs, and retries with a
//! backoff that starts at `min_ttl` and doubles up to `max_ttl`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{GOOGLE, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use pylon_config::DnsConfig;
use tokio::sync::watch;

use super::stopped;
use super::target::Target;

/// Lifetime given to answers without a TTL (before clamping).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Shortest wait between two lookups, whatever the config says.
const MIN_WAIT: Duration = Duration::from_millis(100);

/// Addresses of a host and how long they may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub ips: Vec<IpAddr>,
    /// Remaining record lifetime; `None` when the source does not tell.
    pub ttl: Option<Duration>,
}

/// A host lookup: host name in, addresses out. Swappable for tests.
pub type LookupFn =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Resolved, String>> + Send + Sync>;

/// Clamp a record TTL to the configured bounds (`min_ttl` wins if they cross).
pub fn clamp_ttl(ttl: Option<Duration>, cfg: &DnsConfig) -> Duration {
    ttl.unwrap_or(DEFAULT_TTL)
        .min(cfg.max_ttl)
        .max(cfg.min_ttl)
        .max(MIN_WAIT)
}

fn build_resolver() -> Option<TokioResolver> {
    let builder = match TokioResolver::builder_tokio() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot read the system DNS configuration; using Google public DNS"
            );
            TokioResolver::builder_with_config(
                ResolverConfig::udp_and_tcp(&GOOGLE),
                TokioRuntimeProvider::default(),
            )
        }
    };
    match builder.build() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the DNS resolver; using the system resolver only");
            None
        }
    }
}

/// The default lookup: hickory-resolver, then the OS resolver as a fallback.
/// Must be called inside a tokio runtime.
pub fn system_lookup() -> LookupFn {
    let resolver = build_resolver().map(Arc::new);
    Arc::new(move |host: String| {
        let resolver = resolver.clone();
        Box::pin(async move {
            let hickory_error = match &resolver {
                Some(r) => match r.lookup_ip(host.as_str()).await {
                    Ok(lookup) => {
                        let ips: Vec<IpAddr> = lookup.iter().collect();
                        if !ips.is_empty() {
                            let ttl = lookup
                                .valid_until()
                                .saturating_duration_since(std::time::Instant::now());
                            return Ok(Resolved {
                                ips,
                                ttl: Some(ttl),
                            });
                        }
                        "no addresses".to_string()
                    }
                    Err(e) => e.to_string(),
                },
                None => "no resolver".to_string(),
            };
            match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => {
                    let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                    ips.sort_unstable();
                    ips.dedup();
                    if ips.is_empty() {
                        Err(format!("{hickory_error}; system resolver: no addresses"))
                    } else {
                        Ok(Resolved { ips, ttl: None })
                    }
                }
                Err(e) => Err(format!("{hickory_error}; system resolver: {e}")),
            }
        })
    })
}

/// Resolve `target` once and publish the result. Returns how long to wait
/// before the next lookup on success, or the error (last good addresses kept).
pub(super) async fn refresh_once(
    upstream: &str,
    target: &Target,
    lookup: &LookupFn,
    cfg: &DnsConfig,
) -> Result<Duration, String> {
    let host = target.addr().host.clone();
    let resolved = lookup(host).await?;
    if resolved.ips.is_empty() {
        return Err("no addresses".into());
    }
    let port = target.addr().port;
    let mut addrs: Vec<SocketAddr> = resolved
        .ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    if *target.resolved_arc() != addrs {
        tracing::info!(
            upstream = %upstream,
            target = %target.key(),
            addresses = ?addrs,
            "target addresses resolved"
        );
        target.set_resolved(addrs);
    }
    Ok(clamp_ttl(resolved.ttl, cfg))
}

/// Keep `target`'s addresses fresh until stopped.
pub(super) async fn refresh_loop(
    upstream: Arc<str>,
    target: Arc<Target>,
    lookup: LookupFn,
    cfg: DnsConfig,
    mut stop: watch::Receiver<bool>,
) {
    let first_backoff = cfg.min_ttl.max(MIN_WAIT);
    let mut backoff = first_backoff;
    loop {
        let result = tokio::select! {
            r = refresh_once(&upstream, &target, &lookup, &cfg) => r,
            _ = stopped(&mut stop) => break,
        };
        let wait = match result {
            Ok(wait) => {
                backoff = first_backoff;
                wait
            }
            Err(error) => {
                tracing::warn!(
                    upstream = %upstream,
                    target = %target.key(),
                    %error,
                    kept = target.resolved_arc().len(),
                    "DNS refresh failed; keeping the last good addresses"
                );
                let wait = backoff;
                backoff = (backoff * 2).min(cfg.max_ttl.max(first_backoff));
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut stop) => break,
        }
    }
    tracing::debug!(upstream = %upstream, target = %target.key(), "DNS refresh stopped");
}
