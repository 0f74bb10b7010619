//! `proxy-cache`: answer repeated GET/HEAD requests from stored upstream
//! responses (in memory or in Redis), following HTTP caching rules
//! (`Cache-Control`, `Vary`, `ETag`), with entries kept per consumer on
//! authenticated routes.

mod config;
mod entry;
mod key;
mod policy;
mod redis_store;
mod respond;
mod rules;
mod store;
#[cfg(test)]
mod test_harness;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_redis;
#[cfg(test)]
mod tests_rules;

pub use config::{CacheBackend, ProxyCacheConfig};
pub use policy::{ProxyCache, build};
pub use store::CacheError;

use crate::shared::Shared;

/// Drop the stored responses of the cache attached at `scope` (`global`,
/// `service:<name>`, `route:<name>` or `group:<name>`): all of them, or
/// those whose path and query start with `key_prefix` (such as `/items/`
/// or `/items?id=1`; the query is compared in its normalised, sorted form).
/// Returns how many responses were dropped (0 when no cache is there).
pub async fn purge(
    shared: &Shared,
    scope: &str,
    key_prefix: Option<&str>,
) -> Result<usize, CacheError> {
    let home = shared.get_or_init(&policy::home_key(scope), store::Home::default);
    let Some(store) = home.current() else {
        return Ok(0);
    };
    let prefix = key_prefix.map(|p| match p.split_once('?') {
        Some((path, query)) => key::path_and_query(path, Some(query), &[]),
        None => p.to_string(),
    });
    let result = store.purge(prefix.as_deref()).await;
    if result.is_err() {
        shared
            .metrics()
            .policy_backend_error("proxy-cache", "redis");
    }
    result
}
