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
}

/// Builds one policy from its `config`.
pub type Builder = fn(&serde_json::Value, &BuildEnv<'_>) -> Result<Arc<dyn Policy>, PolicyError>;

/// One registered policy type.
pub struct Entry {
    pub name: &'static str,
    pub priority: i32,
    pub build: Builder,
}

/// Every built-in policy, by name.
pub static REGISTRY: &[Entry] = &[
    Entry {
        name: "key-auth",
        priority: 1250,
        build: policies::key_auth::build,
    },
    Entry {
        name: "real-ip",
        priority: 3100,
        build: policies::real_ip::build,
    },
    Entry {
        name: "ip-restriction",
        priority: 3000,
        build: policies::ip_restriction::build,
    },
    Entry {
        name: "threat-protection",
        priority: 2900,
        build: policies::threat_protection::build,
    },
    Entry {
        name: "api-lifecycle",
        priority: 2100,
        build: policies::api_lifecycle::build,
    },
    Entry {
        name: "cors",
        priority: 2000,
        build: policies::cors::build,
    },
    Entry {
        name: "request-validator",
        priority: 850,
        build: policies::request_validator::build,
    },
];

/// The entry for a policy name.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// Names of every registered policy, for error messages.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.name).collect()
}
