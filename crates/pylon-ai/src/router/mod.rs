//! The model router: the compiled `ai` section ([`Engine`]: providers with
//! key pools, model groups over deployments), resolution of the name a caller
//! asks for, and the order in which a group's deployments are tried.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use parking_lot::Mutex;
use pylon_config::{
    AiConfig, AiProviderConfig, AiRetryConfig, ConfigIssue, FallbackConfig, RoutingStrategy,
    UnsupportedParams,
};
use rand::Rng;

use crate::catalog::{Catalog, ModelInfo};
use crate::client::HttpClient;
use crate::providers::{self, Provider, ProviderSettings, compat};

pub mod keys;
pub mod stats;

pub use keys::{KeyPool, KeyState, NoKey, PoolKey};
pub use stats::{DeploymentStats, InFlight};

/// AI state that outlives config reloads: key health, deployment stats and
/// connection pools, keyed so that unchanged things keep their state.
#[derive(Default)]
pub struct AiShared {
    keys: Mutex<HashMap<String, Arc<KeyState>>>,
    counters: Mutex<HashMap<String, Arc<dyn pylon_store::counters::Counters>>>,
    stats: Mutex<HashMap<String, Arc<DeploymentStats>>>,
    clients: Mutex<HashMap<String, HttpClient>>,
}

impl AiShared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The governance counters: in-process, or in Redis at `redis_url` (one backend per
    /// URL, kept across reloads so that a reload resets no budget or limit).
    pub fn counters(
        &self,
        redis_url: Option<&str>,
    ) -> Result<Arc<dyn pylon_store::counters::Counters>, String> {
        use pylon_store::counters::{LocalCounters, RedisConfig, RedisCounters};
        let id = redis_url.unwrap_or("local").to_string();
        let mut map = self.counters.lock();
        if let Some(c) = map.get(&id) {
            return Ok(c.clone());
        }
        let made: Arc<dyn pylon_store::counters::Counters> = match redis_url {
            None => Arc::new(LocalCounters::new()),
            Some(url) => {
                let mut cfg = RedisConfig::new(url);
                cfg.prefix = "pylon:ai:".into();
                Arc::new(RedisCounters::new(cfg).map_err(|e| e.to_string())?)
            }
        };
        map.insert(id, made.clone());
        Ok(made)
    }

    fn key_state(&self, provider: &str, secret: &str) -> Arc<KeyState> {
        let id = format!("{provider}\0{}", keys::fingerprint(secret));
        self.keys.lock().entry(id).or_default().clone()
    }

    fn stats(&self, provider: &str, model: &str) -> Arc<DeploymentStats> {
        self.stats
            .lock()
            .entry(format!("{provider}\0{model}"))
            .or_default()
            .clone()
    }

    fn client(&self, p: &AiProviderConfig) -> Result<HttpClient, String> {
        let id = format!("{:?}|{:?}", p.tls, p.timeouts.connect);
        let mut clients = self.clients.lock();
        if let Some(c) = clients.get(&id) {
            return Ok(c.clone());
        }
        let c = HttpClient::new(&p.tls, p.timeouts.connect)?;
        clients.insert(id, c.clone());
        Ok(c)
    }
}

/// A provider ready for calls.
pub struct ProviderRuntime {
    pub settings: ProviderSettings,
    pub adapter: Arc<dyn Provider>,
    pub keys: KeyPool,
    pub client: HttpClient,
    pub unsupported: UnsupportedParams,
}

impl ProviderRuntime {
    pub fn name(&self) -> &str {
        &self.settings.name
    }
}

/// A model on a provider.
pub struct Deployment {
    pub provider: Arc<ProviderRuntime>,
    pub model: String,
    pub weight: u32,
    pub info: Option<Arc<ModelInfo>>,
    pub stats: Arc<DeploymentStats>,
}

impl Deployment {
    /// `provider/model`, as records show it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name(), self.model)
    }

    /// How this deployment's tokens are counted: by the catalog model's id
    /// (Azure deployment names say nothing), else the provider's model id.
    pub fn token_family(&self) -> crate::tokens::Family {
        let id = self
            .info
            .as_ref()
            .map_or(self.model.as_str(), |m| m.id.as_str());
        crate::tokens::family_of(self.provider.adapter.kind(), id)
    }
}

/// A public model name over its deployments.
pub struct ModelGroup {
    pub name: String,
    pub strategy: RoutingStrategy,
    pub deployments: Vec<Deployment>,
    pub fallbacks: Vec<FallbackConfig>,
    /// Named in `ai.models` (as opposed to made up for `provider/model`).
    pub configured: bool,
}

/// The compiled `ai` section.
pub struct Engine {
    pub providers: HashMap<String, Arc<ProviderRuntime>>,
    groups: HashMap<String, Arc<ModelGroup>>,
    /// Public names in config order, with their aliases.
    pub public: Vec<(String, Vec<String>)>,
    pub catalog: Arc<Catalog>,
    pub retries: AiRetryConfig,
    /// `ai.guardrails`: the default for routes without their own.
    pub guardrails: Option<Arc<crate::guard::Guard>>,
    /// Virtual keys, budgets and limits (`None`: nothing to govern).
    pub governor: Option<Arc<crate::govern::Governor>>,
    shared: Arc<AiShared>,
    adhoc: Mutex<HashMap<String, Arc<ModelGroup>>>,
}

/// Most ad-hoc (`provider/model`) groups kept between requests.
const ADHOC_LIMIT: usize = 4096;

impl Engine {
    /// Compile `cfg`; every problem is reported with its config path.
    pub fn compile(cfg: &AiConfig, shared: &Arc<AiShared>) -> Result<Engine, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let catalog = match Catalog::load(&cfg.catalog) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                issues.push(ConfigIssue::new("ai.catalog", e));
                Arc::new(Catalog::default())
            }
        };
        let mut providers = HashMap::new();
        for (i, p) in cfg.providers.iter().enumerate() {
            match provider_runtime(p, cfg, shared) {
                Ok(rt) => {
                    providers.insert(p.name.clone(), Arc::new(rt));
                }
                Err((field, reason)) => {
                    let path = if field.is_empty() {
                        format!("ai.providers[{i}]")
                    } else {
                        format!("ai.providers[{i}].{field}")
                    };
                    issues.push(ConfigIssue::new(path, reason));
                }
            }
        }
        let mut groups = HashMap::new();
        let mut public = Vec::new();
        for m in &cfg.models {
            let deployments = m
                .deployments
                .iter()
                .filter_map(|d| {
                    let p = providers.get(&d.provider)?.clone();
                    let info =
                        catalog.find(p.adapter.kind(), d.catalog.as_deref().unwrap_or(&d.model));
                    Some(Deployment {
                        stats: shared.stats(&d.provider, &d.model),
                        provider: p,
                        model: d.model.clone(),
                        weight: d.weight.max(1),
                        info,
                    })
                })
                .collect();
            let g = Arc::new(ModelGroup {
                name: m.name.clone(),
                strategy: m.strategy,
                deployments,
                fallbacks: m.fallbacks.clone(),
                configured: true,
            });
            groups.insert(m.name.clone(), g.clone());
            for a in &m.aliases {
                groups.insert(a.clone(), g.clone());
            }
            public.push((m.name.clone(), m.aliases.clone()));
        }
        let guardrails = match cfg.guardrails.as_ref().map(crate::guard::Guard::compile) {
            None => None,
            Some(Ok(g)) => Some(Arc::new(g)),
            Some(Err(e)) => {
                issues.push(ConfigIssue::new("ai.guardrails", e));
                None
            }
        };
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Engine {
            guardrails,
            providers,
            groups,
            public,
            catalog,
            retries: cfg.retries.clone(),
            governor: None,
            shared: shared.clone(),
            adhoc: Mutex::new(HashMap::new()),
        })
    }

    /// The group for a requested model name: a public name or alias;
    /// `provider/model` on a configured provider; or a catalog model id
    /// served by exactly the first configured provider of its kind.
    pub fn resolve(&self, name: &str) -> Option<Arc<ModelGroup>> {
        if let Some(g) = self.groups.get(name) {
            return Some(g.clone());
        }
        if let Some(g) = self.adhoc.lock().get(name) {
            return Some(g.clone());
        }
        let (provider, model) = match name.split_once('/') {
            Some((p, m)) if self.providers.contains_key(p) && !m.is_empty() => {
                (self.providers.get(p)?.clone(), m.to_string())
            }
            _ => {
                let info = self.catalog.find("", name)?;
                let p = self
                    .providers
                    .values()
                    .filter(|p| p.adapter.kind() == info.provider)
                    .min_by(|a, b| a.name().cmp(b.name()))?
                    .clone();
                (p, name.to_string())
            }
        };
        let info = self.catalog.find(provider.adapter.kind(), &model);
        let g = Arc::new(ModelGroup {
            name: name.to_string(),
            strategy: RoutingStrategy::Priority,
            deployments: vec![Deployment {
                stats: self.shared.stats(provider.name(), &model),
                provider,
                model,
                weight: 1,
                info,
            }],
            fallbacks: Vec::new(),
            configured: false,
        });
        let mut adhoc = self.adhoc.lock();
        if adhoc.len() >= ADHOC_LIMIT {
            adhoc.clear();
        }
        adhoc.insert(name.to_string(), g.clone());
        Some(g)
    }

    /// Indices of `g`'s deployments in the order to try them.
    pub fn order(&self, g: &ModelGroup) -> Vec<usize> {
        let n = g.deployments.len();
        let mut idx: Vec<usize> = (0..n).collect();
        if n < 2 {
            return idx;
        }
        let mut rng = rand::rng();
        match g.strategy {
            RoutingStrategy::Priority => {}
            RoutingStrategy::Weighted => {
                // Weighted sampling without replacement (Efraimidis–Spirakis keys).
                let mut keyed: Vec<(f64, usize)> = idx
                    .iter()
                    .map(|&i| {
                        let u: f64 = rng.random_range(f64::EPSILON..1.0);
                        (u.powf(1.0 / f64::from(g.deployments[i].weight)), i)
                    })
                    .collect();
                keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
                idx = keyed.into_iter().map(|(_, i)| i).collect();
            }
            RoutingStrategy::LeastBusy => {
                let offset = rng.random_range(0..n);
                idx.rotate_left(offset);
                idx.sort_by_key(|&i| g.deployments[i].stats.in_flight());
            }
            RoutingStrategy::LowestLatency => {
                let offset = rng.random_range(0..n);
                idx.rotate_left(offset);
                // Unmeasured deployments first, so each gets measured.
                idx.sort_by(|&a, &b| {
                    let la = g.deployments[a].stats.ttft_ms().unwrap_or(-1.0);
                    let lb = g.deployments[b].stats.ttft_ms().unwrap_or(-1.0);
                    la.total_cmp(&lb)
                });
            }
            RoutingStrategy::LowestCost => {
                let price = |i: usize| {
                    g.deployments[i]
                        .info
                        .as_ref()
                        .and_then(|m| Some(m.input_price? + m.output_price?))
                        .unwrap_or(f64::MAX)
                };
                idx.sort_by(|&a, &b| price(a).total_cmp(&price(b)));
            }
        }
        idx
    }

    /// Public model names a caller may list (`/v1/models`).
    pub fn group(&self, name: &str) -> Option<&Arc<ModelGroup>> {
        self.groups.get(name)
    }
}

fn provider_runtime(
    p: &AiProviderConfig,
    cfg: &AiConfig,
    shared: &AiShared,
) -> Result<ProviderRuntime, (&'static str, String)> {
    enum Source {
        Native(&'static providers::Kind),
        Preset(&'static compat::Preset),
    }
    let source = match (providers::lookup(&p.kind), compat::preset_named(&p.kind)) {
        (Some(k), _) => Source::Native(k),
        (None, Some(pr)) => Source::Preset(pr),
        (None, None) => {
            return Err((
                "kind",
                format!(
                    "unknown provider kind `{}`; known: {}",
                    p.kind,
                    providers::kind_names().join(", ")
                ),
            ));
        }
    };
    let (kind, default_url, needs_key) = match &source {
        Source::Native(k) => (k.name, k.default_base_url, k.needs_key),
        Source::Preset(pr) => (pr.name, Some(pr.base_url), pr.needs_key),
    };
    let base_url = p
        .base_url
        .as_deref()
        .or(default_url)
        .ok_or(("base_url", format!("kind `{kind}` needs a `base_url`")))?
        .trim_end_matches('/')
        .to_string();
    let mut headers = HeaderMap::new();
    for (k, v) in &p.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ("headers", format!("`{k}` is not a header name")))?;
        let value = http::HeaderValue::from_str(v).map_err(|_| {
            (
                "headers",
                format!("the value of `{k}` is not a header value"),
            )
        })?;
        headers.insert(name, value);
    }
    let settings = ProviderSettings {
        name: p.name.clone(),
        kind,
        base_url,
        headers,
        config: p.clone(),
    };
    let adapter = match source {
        Source::Native(k) => (k.build)(&settings).map_err(|e| ("", e))?,
        Source::Preset(pr) => compat::for_preset(pr),
    };
    if needs_key && p.keys.is_empty() {
        return Err((
            "keys",
            format!("provider kind `{kind}` needs at least one key"),
        ));
    }
    let keys = KeyPool::new(
        p.keys
            .iter()
            .enumerate()
            .map(|(i, secret)| PoolKey {
                id: format!("{}#{i}", p.name),
                secret: secret.clone(),
                state: shared.key_state(&p.name, secret),
            })
            .collect(),
    );
    let client = shared.client(p).map_err(|e| ("tls", e))?;
    Ok(ProviderRuntime {
        settings,
        adapter,
        keys,
        client,
        unsupported: p.unsupported_params.unwrap_or(cfg.unsupported_params),
    })
}
