//! Generic CRUD over named collections inside the config draft. A [`Collection`] says
//! where its list lives in the document, which field names an item, how an item's tenant
//! and (for developers) its ownership are found, and how one item is type-checked. The
//! handlers in [`handlers`] serve every collection of [`COLLECTIONS`] under
//! `/api/v1/<path>` (and `/api/v1/<parent path>/{parent}/<path>` for nested ones), and
//! [`crate::openapi`] documents each of them.
//!
//! Adding a collection is one entry in [`COLLECTIONS`], for instance
//! `&Collection::top("ai/providers", "ai provider", &["ai", "providers"], check::<ProviderConfig>).tenant_field("tenant")`.

use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) mod access;
pub(crate) mod doc;
pub(crate) mod handlers;
mod hooks;

/// One problem in an item: a path relative to the item (`""` is the item) and why.
pub type ItemIssue = (String, String);

/// Type-checks one item as the model type `T` (unknown fields, wrong types, missing fields).
pub fn check<T: DeserializeOwned>(item: &Value) -> Vec<ItemIssue> {
    match serde_path_to_error::deserialize::<_, T>(item.clone()) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![(path, e.into_inner().to_string())]
        }
    }
}

/// Where an item's tenant comes from.
#[derive(Clone, Copy)]
pub enum TenantOf {
    /// The item's own field; absent means `default`.
    Field(&'static str),
    /// The tenant of the item of `collection` that `field` names; `default` without one.
    Via {
        field: &'static str,
        collection: &'static Collection,
    },
    /// The parent item's tenant.
    Parent,
    /// Platform objects: tenant `default`.
    Platform,
}

/// What a `developer` may change.
#[derive(Clone, Copy)]
pub enum DevAccess {
    /// Nothing.
    None,
    /// Items whose `field` is the developer's name (set to it on create).
    Owner(&'static str),
    /// Items whose `field` names an item of `collection` the developer may change.
    Via {
        field: &'static str,
        collection: &'static Collection,
    },
    /// Items whose parent the developer may change.
    Parent,
}

/// Called on every create and update with the old item (if any) and the new one, which it
/// may adjust (set defaults, generate a key); returns what the response shows once.
pub type WriteHook =
    fn(&hooks::WriteCtx<'_>, Option<&Value>, &mut Value) -> crate::ApiResult<Option<Value>>;

/// Extra, derived facts shown with an item (`related` in the envelope).
pub type ViewHook = fn(doc: &Value, item: &Value) -> Option<Value>;

/// A named list of objects inside the config document.
pub struct Collection {
    /// URL path segment(s) under `/api/v1` (nested: under the parent item's URL).
    pub path: &'static str,
    /// Singular name, used in errors and as the audit log's object kind.
    pub kind: &'static str,
    /// Where the list is: from the document root, or (nested) from the parent item.
    pub pointer: &'static [&'static str],
    /// The field that names an item; unique in the list.
    pub key: &'static str,
    pub parent: Option<&'static Collection>,
    pub check: fn(&Value) -> Vec<ItemIssue>,
    pub tenant: TenantOf,
    pub developer: DevAccess,
    /// Fields a list can be filtered on (`?field=value`, compared as text).
    pub filters: &'static [&'static str],
    pub on_write: Option<WriteHook>,
    pub view: Option<ViewHook>,
    /// The server assigns the key when a create leaves it out.
    pub generated_key: bool,
}

impl Collection {
    /// A list at the document root (or deeper, e.g. `&["ai", "providers"]`), keyed by `name`.
    pub const fn top(
        path: &'static str,
        kind: &'static str,
        pointer: &'static [&'static str],
        check: fn(&Value) -> Vec<ItemIssue>,
    ) -> Self {
        Collection {
            path,
            kind,
            pointer,
            key: "name",
            parent: None,
            check,
            tenant: TenantOf::Platform,
            developer: DevAccess::None,
            filters: &[],
            on_write: None,
            view: None,
            generated_key: false,
        }
    }

    /// A list inside each item of `parent`.
    pub const fn nested(
        parent: &'static Collection,
        path: &'static str,
        kind: &'static str,
        pointer: &'static [&'static str],
        check: fn(&Value) -> Vec<ItemIssue>,
    ) -> Self {
        let mut c = Collection::top(path, kind, pointer, check);
        c.parent = Some(parent);
        c.tenant = TenantOf::Parent;
        c.developer = DevAccess::Parent;
        c
    }

    pub const fn key(mut self, key: &'static str) -> Self {
        self.key = key;
        self
    }
    pub const fn tenant_field(mut self, field: &'static str) -> Self {
        self.tenant = TenantOf::Field(field);
        self
    }
    pub const fn tenant_via(mut self, field: &'static str, c: &'static Collection) -> Self {
        self.tenant = TenantOf::Via {
            field,
            collection: c,
        };
        self
    }
    pub const fn developer(mut self, d: DevAccess) -> Self {
        self.developer = d;
        self
    }
    pub const fn filters(mut self, f: &'static [&'static str]) -> Self {
        self.filters = f;
        self
    }
    pub const fn on_write(mut self, h: WriteHook) -> Self {
        self.on_write = Some(h);
        self
    }
    pub const fn view(mut self, h: ViewHook) -> Self {
        self.view = Some(h);
        self
    }
    pub const fn generated_key(mut self) -> Self {
        self.generated_key = true;
        self
    }

    /// The URL of the list, with `{parent}` for nested collections.
    pub fn list_url(&self) -> String {
        match self.parent {
            Some(p) => format!("/{}/{{parent}}/{}", p.path, self.path),
            None => format!("/{}", self.path),
        }
    }

    /// The URL of one item.
    pub fn item_url(&self) -> String {
        format!("{}/{{key}}", self.list_url())
    }

    /// The list's place in dotted config paths (`services`, `consumers[2].credentials`).
    pub(crate) fn dotted(&self, parent_index: Option<usize>) -> String {
        let own = self.pointer.join(".");
        match (self.parent, parent_index) {
            (Some(p), Some(i)) => format!("{}[{i}].{own}", p.dotted(None)),
            _ => own,
        }
    }
}

use pylon_config::{
    AiLimitConfig, AiModelConfig, AiProviderConfig, BudgetConfig, ConsumerConfig,
    ConsumerGroupConfig, CredentialConfig, PolicyConfig, RouteConfig, ServiceConfig,
    TlsCertificate, UpstreamConfig, VirtualKeyConfig,
};

pub static SERVICES: Collection =
    Collection::top("services", "service", &["services"], check::<ServiceConfig>)
        .tenant_field("tenant")
        .developer(DevAccess::Owner("owner"))
        .filters(&["tenant", "owner", "lifecycle"])
        .on_write(hooks::service)
        .view(hooks::service_related);
pub static ROUTES: Collection =
    Collection::top("routes", "route", &["routes"], check::<RouteConfig>)
        .tenant_via("service", &SERVICES)
        .developer(DevAccess::Via {
            field: "service",
            collection: &SERVICES,
        })
        .filters(&["service", "upstream"]);
pub static UPSTREAMS: Collection = Collection::top(
    "upstreams",
    "upstream",
    &["upstreams"],
    check::<UpstreamConfig>,
)
.tenant_field("tenant")
.filters(&["tenant"]);
pub static CONSUMERS: Collection = Collection::top(
    "consumers",
    "consumer",
    &["consumers"],
    check::<ConsumerConfig>,
)
.tenant_field("tenant")
.filters(&["tenant", "custom_id"]);
pub static CONSUMER_GROUPS: Collection = Collection::top(
    "consumer_groups",
    "consumer group",
    &["consumer_groups"],
    check::<ConsumerGroupConfig>,
)
.tenant_field("tenant")
.filters(&["tenant"]);
pub static CREDENTIALS: Collection = Collection::nested(
    &CONSUMERS,
    "credentials",
    "credential",
    &["credentials"],
    check::<CredentialConfig>,
)
.key("id")
.generated_key()
.developer(DevAccess::None)
.filters(&["type"])
.on_write(hooks::credential);
pub static POLICIES: Collection =
    Collection::top("policies", "policy", &["policies"], check::<PolicyConfig>)
        .filters(&["enabled"]);
pub static SERVICE_POLICIES: Collection = Collection::nested(
    &SERVICES,
    "policies",
    "service policy",
    &["policies"],
    check::<PolicyConfig>,
);
pub static ROUTE_POLICIES: Collection = Collection::nested(
    &ROUTES,
    "policies",
    "route policy",
    &["policies"],
    check::<PolicyConfig>,
);
pub static CERTIFICATES: Collection = Collection::top(
    "certificates",
    "certificate",
    &["certificates"],
    check::<TlsCertificate>,
)
.tenant_field("tenant")
.filters(&["tenant"])
.view(hooks::certificate_info);
/// AI provider accounts; their `keys` (and AWS secrets) are secret fields: sealed when
/// written, read back as fingerprints.
pub static AI_PROVIDERS: Collection = Collection::top(
    "ai/providers",
    "ai provider",
    &["ai", "providers"],
    check::<AiProviderConfig>,
)
.filters(&["kind"]);
/// Public model names (aliases, groups over deployments, fallbacks).
pub static AI_MODELS: Collection = Collection::top(
    "ai/models",
    "ai model",
    &["ai", "models"],
    check::<AiModelConfig>,
)
.filters(&["strategy"]);

/// Pylon-issued keys for AI callers; only their SHA-256 is stored, a generated or
/// rotated key is shown once.
pub static AI_VIRTUAL_KEYS: Collection = Collection::top(
    "ai/virtual-keys",
    "virtual key",
    &["ai", "virtual_keys"],
    check::<VirtualKeyConfig>,
)
.tenant_field("tenant")
.filters(&["tenant", "team", "user", "disabled"])
.on_write(hooks::virtual_key);
/// Budgets in dollars per period over keys, users, teams, tenants or models.
pub static AI_BUDGETS: Collection = Collection::top(
    "ai/budgets",
    "ai budget",
    &["ai", "budgets"],
    check::<BudgetConfig>,
)
.filters(&["period"]);
/// Requests, tokens per minute and calls in flight over keys, users, teams, tenants or models.
pub static AI_LIMITS: Collection = Collection::top(
    "ai/limits",
    "ai limit",
    &["ai", "limits"],
    check::<AiLimitConfig>,
);

/// Every collection the admin API serves.
pub static COLLECTIONS: &[&Collection] = &[
    &SERVICES,
    &ROUTES,
    &UPSTREAMS,
    &CONSUMERS,
    &CONSUMER_GROUPS,
    &CREDENTIALS,
    &POLICIES,
    &SERVICE_POLICIES,
    &ROUTE_POLICIES,
    &CERTIFICATES,
    &AI_PROVIDERS,
    &AI_MODELS,
    &AI_VIRTUAL_KEYS,
    &AI_BUDGETS,
    &AI_LIMITS,
];
