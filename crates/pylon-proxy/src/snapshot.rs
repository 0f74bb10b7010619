//! The compiled config snapshot: everything a request needs, immutable, built
//! from a validated [`Config`] and swapped atomically on reload. Upstreams whose
//! config did not change are carried over from the previous snapshot with their
//! connection pools, health state, breakers and counters.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use pylon_ai::{AiRoute, AiShared, Engine};
use pylon_config::{Config, ConfigIssue, HostHeader, RouteConfig, TimeoutConfig, UpstreamConfig};
use pylon_policy::{Chain, ChainSet, Shared};

use crate::aggregate::AggregatePlan;
use crate::client::UpstreamClient;
use crate::router::Router;
use crate::upstream::{ProbeFn, ProbeTarget, Upstream};

/// Snapshot compilation errors.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("routes: {0}")]
    Router(String),
    #[error("upstream `{name}`: {reason}")]
    Upstream { name: String, reason: String },
    #[error("{}", policy_issues(.0))]
    Policies(Vec<ConfigIssue>),
    #[error("{}", policy_issues(.0))]
    Ai(Vec<ConfigIssue>),
}

fn policy_issues(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}: {}", i.path, i.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One upstream at run time: its balancer/health state and its connection pool.
pub struct UpstreamRuntime {
    pub name: Arc<str>,
    pub upstream: Arc<Upstream>,
    pub client: UpstreamClient,
    /// Methods whose requests may be retried.
    pub retry_methods: Vec<Method>,
    /// Per target (by index): what goes on the wire, prepared once.
    pub wire: Vec<TargetWire>,
}

/// A target's URI scheme and authority and its default Host header value.
pub struct TargetWire {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// `host` alone on the scheme's default port, `host:port` otherwise.
    pub host: HeaderValue,
}

impl TargetWire {
    fn new(t: &pylon_config::TargetAddr) -> Result<Self, String> {
        let authority = t.authority();
        let default_port = if t.tls { 443 } else { 80 };
        let host = if t.port == default_port {
            t.host.clone()
        } else {
            authority.clone()
        };
        Ok(Self {
            scheme: if t.tls {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            authority: authority
                .parse()
                .map_err(|e| format!("target `{authority}`: {e}"))?,
            host: HeaderValue::from_str(&host).map_err(|e| format!("target `{authority}`: {e}"))?,
        })
    }
}

impl UpstreamRuntime {
    fn build(cfg: &UpstreamConfig) -> Result<Arc<Self>, CompileError> {
        let err = |reason: String| CompileError::Upstream {
            name: cfg.name.clone(),
            reason,
        };
        let upstream = Upstream::new(cfg).map_err(|e| err(e.to_string()))?;
        let client =
            UpstreamClient::new(cfg, upstream.addr_source()).map_err(|e| err(e.to_string()))?;
        let retry_methods = cfg
            .retries
            .methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect();
        let wire = upstream
            .targets()
            .iter()
            .map(|t| TargetWire::new(t.addr()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Arc::new(Self {
            name: Arc::from(cfg.name.as_str()),
            upstream,
            client,
            retry_methods,
            wire,
        }))
    }

    pub fn config(&self) -> &UpstreamConfig {
        self.upstream.config()
    }

    /// Start DNS refresh and active health checks (probes go through this
    /// upstream's own client, so they exercise the same TLS and pool settings).
    pub fn start(&self) {
        let client = self.client.clone();
        let probe: ProbeFn = Arc::new(move |t: ProbeTarget| {
            let client = client.clone();
            Box::pin(async move {
                let addr = t.target.addr();
                client
                    .health_probe(
                        &addr.host,
                        addr.port,
                        addr.tls,
                        &t.path,
                        t.host.as_deref(),
                        t.timeout,
                    )
                    .await
            })
        });
        self.upstream.start(Some(probe));
    }
}

/// What a matched route does.
pub enum RouteAction {
    Proxy(Arc<UpstreamRuntime>),
    Respond(StaticReply),
    Aggregate(AggregatePlan),
    /// The AI APIs (chat completions, embeddings, messages, ...).
    Ai(Arc<AiRoute>),
}

/// A prepared static response.
pub struct StaticReply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// A route ready to serve.
pub struct CompiledRoute {
    pub name: Arc<str>,
    pub service: Option<Arc<str>>,
    /// The route's policies (global, service, route); empty when none apply.
    pub chain: Arc<Chain>,
    pub action: RouteAction,
    pub host_header: HostHeader,
    pub timeouts: TimeoutConfig,
}

/// An immutable view of the whole configuration.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub router: Router,
    pub routes: Vec<CompiledRoute>,
    pub upstreams: HashMap<String, Arc<UpstreamRuntime>>,
    /// The compiled `ai` section, when the config uses it.
    pub ai: Option<Arc<Engine>>,
    pub request_id_header: HeaderName,
    pub via: bool,
    /// Increases by one with every activated config.
    pub generation: u64,
}

impl Snapshot {
    /// Compile `config`, reusing unchanged upstreams of `previous`; policy
    /// state lives in `shared` and carries over.
    pub fn compile(
        config: Config,
        previous: Option<&Snapshot>,
        shared: &Arc<Shared>,
        ai_shared: &Arc<AiShared>,
    ) -> Result<Snapshot, CompileError> {
        let mut upstreams = HashMap::new();
        for u in &config.upstreams {
            let reused = previous
                .and_then(|p| p.upstreams.get(&u.name))
                .filter(|old| Upstream::carry_over(&old.upstream, u).is_some())
                .cloned();
            let rt = match reused {
                Some(rt) => rt,
                None => UpstreamRuntime::build(u)?,
            };
            upstreams.insert(u.name.clone(), rt);
        }
        let router =
            Router::build(&config.routes).map_err(|e| CompileError::Router(e.to_string()))?;
        let chains = ChainSet::build(&config, shared).map_err(CompileError::Policies)?;
        let ai = pylon_ai::compile_engine(&config, ai_shared).map_err(CompileError::Ai)?;
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let chain = chains.route(i).cloned().ok_or_else(|| {
                    CompileError::Router(format!("route `{}` has no policy chain", r.name))
                })?;
                let mut compiled = compile_route(r, &upstreams, chain, ai.as_ref())?;
                if let Some(reply) = lifecycle_reply(&config, r) {
                    compiled.action = RouteAction::Respond(reply);
                }
                Ok(compiled)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request_id_header = HeaderName::from_bytes(config.server.request_id_header.as_bytes())
            .unwrap_or(HeaderName::from_static("x-request-id"));
        Ok(Snapshot {
            via: config.server.via_header,
            config: Arc::new(config),
            router,
            routes,
            upstreams,
            ai,
            request_id_header,
            generation: previous.map_or(1, |p| p.generation + 1),
        })
    }

    /// Upstreams of this snapshot that `other` does not share (by identity):
    /// `old.upstreams_not_in(Some(&next))` are retired by a reload,
    /// `next.upstreams_not_in(Some(&old))` need their tasks started.
    pub fn upstreams_not_in(&self, other: Option<&Snapshot>) -> Vec<Arc<UpstreamRuntime>> {
        self.upstreams
            .iter()
            .filter(|(name, rt)| {
                other
                    .and_then(|o| o.upstreams.get(*name))
                    .is_none_or(|o| !Arc::ptr_eq(o, rt))
            })
            .map(|(_, rt)| rt.clone())
            .collect()
    }
}

/// Routes of a `draft` service answer 404 and of a `retired` one 410 (JSON bodies);
/// their policies still run first.
fn lifecycle_reply(config: &Config, r: &RouteConfig) -> Option<StaticReply> {
    let service = config
        .services
        .iter()
        .find(|s| Some(&s.name) == r.service.as_ref())?;
    let (status, code, message) = match service.lifecycle {
        pylon_config::Lifecycle::Draft => (StatusCode::NOT_FOUND, "not_found", "no route matches"),
        pylon_config::Lifecycle::Retired => (
            StatusCode::GONE,
            "service_retired",
            "this API has been retired",
        ),
        _ => return None,
    };
    let body =
        serde_json::json!({"error": {"code": code, "message": message, "status": status.as_u16()}});
    Some(StaticReply {
        status,
        headers: vec![(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body: Bytes::from(body.to_string()),
    })
}

fn compile_route(
    r: &RouteConfig,
    upstreams: &HashMap<String, Arc<UpstreamRuntime>>,
    chain: Arc<Chain>,
    ai: Option<&Arc<Engine>>,
) -> Result<CompiledRoute, CompileError> {
    if let Some(a) = &r.ai {
        let engine = ai.ok_or_else(|| {
            CompileError::Router(format!(
                "route `{}` serves AI but ai.providers is empty",
                r.name
            ))
        })?;
        return Ok(CompiledRoute {
            name: Arc::from(r.name.as_str()),
            service: r.service.as_deref().map(Arc::from),
            chain,
            action: RouteAction::Ai(Arc::new(
                AiRoute::new(engine.clone(), a.clone())
                    .map_err(|e| CompileError::Router(format!("route `{}`: {e}", r.name)))?,
            )),
            host_header: r.host_header.clone(),
            timeouts: TimeoutConfig::default(),
        });
    }
    let (action, timeouts) = match (&r.upstream, &r.respond, &r.aggregate) {
        (Some(name), _, _) => {
            let rt = upstreams
                .get(name)
                .cloned()
                .ok_or_else(|| CompileError::Upstream {
                    name: name.clone(),
                    reason: format!("referenced by route `{}` but not defined", r.name),
                })?;
            let t = r
                .timeouts
                .clone()
                .unwrap_or_else(|| rt.config().timeouts.clone());
            (RouteAction::Proxy(rt), t)
        }
        (None, Some(s), _) => {
            let headers = s
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect();
            let reply = StaticReply {
                status: StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK),
                headers,
                body: Bytes::from(s.body.clone()),
            };
            (RouteAction::Respond(reply), TimeoutConfig::default())
        }
        (None, None, Some(a)) => {
            let plan = AggregatePlan::compile(a, upstreams)
                .map_err(|reason| CompileError::Router(format!("route `{}`: {reason}", r.name)))?;
            (RouteAction::Aggregate(plan), TimeoutConfig::default())
        }
        (None, None, None) => {
            return Err(CompileError::Router(format!(
                "route `{}` has no upstream and no response",
                r.name
            )));
        }
    };
    Ok(CompiledRoute {
        name: Arc::from(r.name.as_str()),
        service: r.service.as_deref().map(Arc::from),
        chain,
        action,
        host_header: r.host_header.clone(),
        timeouts,
    })
}
