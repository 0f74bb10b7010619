//! The built-in policies: name, default priority (higher runs earlier) and
//! builder. Adding a policy is one folder under `policies/` and one line here.

use std::sync::Arc;

use crate::consumer::Consumers;
use crate::error::PolicyError;
use crate::policies;
use crate::policy::Policy;
use crate::shared::Shared;

/// What a builder may use. Builders must not do I/O: a policy that needs the
/// network (a JWKS URL, Redis) connects lazily on its first request.
pub struct BuildEnv<'a> {
    pub consumers: &'a Arc<Consumers>,
    /// Long-lived state across reloads; key it with [`BuildEnv::scope`].
    pub shared: &'a Arc<Shared>,
    /// Where this instance is attached: `global`, `service:<name>`,
    /// `route:<name>` or `group:<name>`. Stable across reloads.
    pub scope: &'a str,
    /// The whole config being built (to check references such as upstream names).
    pub config: &'a pylon_config::Config,
}

/// Builds one policy from its `config`.
pub type Builder = fn(&serde_json::Value, &BuildEnv<'_>) -> Result<Arc<dyn Policy>, PolicyError>;

/// One registered policy type.
pub struct Entry {
    pub name: &'static str,
    pub priority: i32,
    pub build: Builder,
}

const fn entry(name: &'static str, priority: i32, build: Builder) -> Entry {
    Entry {
        name,
        priority,
        build,
    }
}

/// Every built-in policy, by name: `entry(name, default priority, builder)`.
#[rustfmt::skip]
pub static REGISTRY: &[Entry] = &[
    entry("cors", 3200, policies::cors::build),
    entry("real-ip", 3100, policies::real_ip::build),
    entry("ip-restriction", 3000, policies::ip_restriction::build),
    entry("threat-protection", 2900, policies::threat_protection::build),
    entry("api-lifecycle", 2100, policies::api_lifecycle::build),
    entry("mtls-auth", 1600, policies::mtls_auth::build),
    entry("jwt", 1450, policies::jwt::build),
    entry("oauth2-introspection", 1400, policies::oauth2_introspection::build),
    entry("key-auth", 1250, policies::key_auth::build),
    entry("basic-auth", 1100, policies::basic_auth::build),
    entry("acl", 950, policies::acl::build),
    entry("subscription", 940, policies::subscription::build),
    entry("rate-limit", 910, policies::rate_limit::build),
    entry("concurrency-limit", 905, policies::concurrency_limit::build),
    entry("adaptive-throttle", 900, policies::adaptive_throttle::build),
    entry("request-validator", 850, policies::request_validator::build),
    entry("xml-json", 802, policies::xml_json::build),
    entry("request-transformer", 801, policies::request_transformer::build),
    entry("response-transformer", 800, policies::response_transformer::build),
    entry("canary", 700, policies::canary::build),
    entry("mirror", 600, policies::mirror::build),
    entry("proxy-cache", 100, policies::proxy_cache::build),
    #[cfg(test)]
    entry("test-tag", 500, crate::testing::tag::build),
    #[cfg(test)]
    entry("test-tag-2", 400, crate::testing::tag::build_second),
];

/// The entry for a policy name.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// Names of every registered policy, for error messages.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.name).collect()
}
