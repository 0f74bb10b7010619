//! The parts of the model that the policy pipeline reads: policy attachments
//! (global, per service, per route, per consumer group), consumers with their
//! credentials, consumer groups and services.
//!
//! A policy's own settings stay a generic document here: the policy registry
//! (`pylon-policy`) owns each policy's typed config and reports its errors with
//! the same `file: path: reason` shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One policy attached somewhere: `{ name: key-auth, config: {...} }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy type, e.g. `key-auth`, `rate-limit`, `cors`.
    pub name: String,
    /// The policy's own settings; checked by the policy registry.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// A disabled policy is validated but not run.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the type's default priority (higher runs earlier).
    #[serde(default)]
    pub priority: Option<i32>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn yes() -> bool {
    true
}

/// An application or user calling the APIs behind Pylon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    pub name: String,
    /// An id from another system (a JWT `sub`, an OAuth2 `client_id`) that
    /// identifies this consumer.
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Consumer groups (plans, tiers) this consumer belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
}

pub fn default_tenant() -> String {
    "default".into()
}

/// For `skip_serializing_if`: the tenant is the default one.
pub fn is_default_tenant(t: &str) -> bool {
    t == "default"
}

/// A credential that identifies a consumer. Secrets given in clear (usually
/// through `${ENV}`) are hashed when the config is compiled and never kept or
/// logged in clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// An API key: in clear (`key`) or as its SHA-256 in hex (`key_sha256`).
    KeyAuth {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        key_sha256: Option<String>,
    },
    /// HTTP Basic: a password in clear or a PHC/bcrypt hash (argon2id, bcrypt).
    BasicAuth {
        #[serde(default)]
        id: Option<String>,
        username: String,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        password_hash: Option<String>,
    },
    /// A JWT issuer key bound to this consumer: tokens whose `key_claim`
    /// (`iss` by default) equals `key` are verified with this secret or public key.
    Jwt {
        #[serde(default)]
        id: Option<String>,
        key: String,
        #[serde(default = "default_jwt_alg")]
        algorithm: String,
        /// HMAC secret (HS*).
        #[serde(default)]
        secret: Option<String>,
        /// PEM public key (RS*, PS*, ES*, EdDSA).
        #[serde(default)]
        public_key: Option<String>,
    },
    /// A TLS client certificate, matched on its subject common name or a SAN.
    Mtls {
        #[serde(default)]
        id: Option<String>,
        subject: String,
    },
}

fn default_jwt_alg() -> String {
    "HS256".into()
}

impl CredentialConfig {
    /// The credential's kind, as written in `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::KeyAuth { .. } => "key_auth",
            Self::BasicAuth { .. } => "basic_auth",
            Self::Jwt { .. } => "jwt",
            Self::Mtls { .. } => "mtls",
        }
    }

    /// The credential's id, if one was given.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::KeyAuth { id, .. }
            | Self::BasicAuth { id, .. }
            | Self::Jwt { id, .. }
            | Self::Mtls { id, .. } => id.as_deref(),
        }
    }
}

/// A set of consumers sharing policies, e.g. a plan (`free`, `pro`) whose rate
/// limits apply to every member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroupConfig {
    pub name: String,
    /// The tenant (workspace) the group belongs to; its members are in the same tenant.
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
    /// Policies run for members of this group, after authentication; they
    /// replace a route's, service's or global policy of the same type.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

/// A named API: routes that declare `service: <name>` share its policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    // -- Control plane (admin API): tenant, owner, lifecycle, docs. Keep these together.
    /// The tenant (workspace) the service and its routes belong to.
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
    /// The admin user who owns the service (set by the admin API on create); a
    /// `developer` may change only services they own, and their routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where the API is in its life: draft → published → deprecated → retired.
    #[serde(default, skip_serializing_if = "Lifecycle::is_published")]
    pub lifecycle: Lifecycle,
    /// Documentation for people calling the API (portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<ServiceDocs>,
    // -- End of the control-plane fields.
    /// Subscription rules: whether consumers need an approved subscription, and how
    /// requests for one are approved.
    #[serde(
        default,
        skip_serializing_if = "crate::model_cluster::SubscriptionSettings::is_default"
    )]
    pub subscription: crate::model_cluster::SubscriptionSettings,
}

/// A service's lifecycle state. The admin API allows draft → published,
/// published → deprecated, deprecated → published | retired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Being designed: its routes answer 404.
    Draft,
    /// Live.
    #[default]
    Published,
    /// Live, but callers should move away.
    Deprecated,
    /// Switched off: its routes answer 410.
    Retired,
}

impl Lifecycle {
    pub fn is_published(&self) -> bool {
        *self == Lifecycle::Published
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Draft => "draft",
            Lifecycle::Published => "published",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Retired => "retired",
        }
    }

    /// Whether the admin API lets a service move from `self` to `next`.
    pub fn can_become(self, next: Lifecycle) -> bool {
        use Lifecycle::*;
        self == next
            || matches!(
                (self, next),
                (Draft, Published)
                    | (Published, Deprecated)
                    | (Deprecated, Published)
                    | (Deprecated, Retired)
            )
    }
}

/// A service's documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDocs {
    /// Markdown shown to callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// Link to external documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service's OpenAPI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<serde_json::Value>,
}

/// A route that calls several upstreams in parallel and merges their JSON
/// answers into one document under the parts' names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    pub parts: Vec<AggregatePart>,
    #[serde(default)]
    pub on_failure: AggregateFailure,
}

/// One call of an aggregate route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatePart {
    /// Key of this part's answer in the merged document.
    pub name: String,
    pub upstream: String,
    /// Upstream path; `{param}` inserts the route's path parameters.
    pub path: String,
    /// Pass the client's query string on.
    #[serde(default)]
    pub forward_query: bool,
    #[serde(default = "default_part_timeout", with = "humantime_serde")]
    pub timeout: std::time::Duration,
}

fn default_part_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

/// What a failed part does to the whole answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFailure {
    /// Any failed part fails the request (502).
    #[default]
    Error,
    /// Answer with the parts that worked; failed parts are `null` and listed
    /// under `_errors` with their reason.
    Partial,
}
