//! Compiled policy chains: for each route, the global, service and route
//! policies merged (the most specific of a type wins) and sorted by priority;
//! consumer-group policies are merged in once authentication names a consumer.
//! The runner calls the phases and enforces "first authentication wins".

use std::collections::HashMap;
use std::sync::Arc;

use pylon_config::{Config, ConfigIssue, PolicyConfig};
use pylon_telemetry::CallRecord;

use crate::consumer::{Consumer, Consumers};
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policy::{Flow, Policy, Reject};
use crate::registry::{self, BuildEnv};
use crate::shared::Shared;

/// One built policy with its effective priority.
#[derive(Clone)]
struct Slot {
    priority: i32,
    policy: Arc<dyn Policy>,
    /// A disabled policy still overrides (switches off) a less specific one
    /// of the same type; it is dropped after merging.
    enabled: bool,
}

type Slots = Arc<[Slot]>;

/// What the request phase decided.
pub enum RequestOutcome {
    Continue,
    Respond(http::Response<bytes::Bytes>),
    Reject(Reject),
}

/// The policies of one route.
pub struct Chain {
    slots: Slots,
    last_auth: Option<usize>,
    anonymous: Option<Arc<Consumer>>,
    challenges: Option<String>,
    groups: Arc<HashMap<String, Vec<Slot>>>,
    metrics: pylon_telemetry::Metrics,
    /// Header carrying the consumer's name upstream; `None`: no identity headers.
    identity: Option<http::HeaderName>,
    /// The tenant of the route's service when it is not `default`: only that tenant's
    /// consumers may use the route (tenants isolate their consumers and keys).
    tenant: Option<Arc<str>>,
}

/// Which policies a request went through, kept in its context for the later phases.
#[derive(Clone, Default)]
pub(crate) struct Ran {
    /// The chain merged with the consumer's group policies, when that differed.
    merged: Option<Slots>,
    count: usize,
}

impl Chain {
    /// No policies at all: the proxy can skip every phase.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.groups.is_empty()
    }

    /// Whether any policy that may run wants this request's body in memory.
    pub fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        self.slots
            .iter()
            .any(|s| s.policy.wants_request_body(parts))
            || self
                .groups
                .values()
                .flatten()
                .any(|s| s.policy.wants_request_body(parts))
    }

    /// Whether a policy of the chain wants this response's body in memory.
    pub fn wants_response_body(&self, parts: &http::response::Parts, ctx: &PolicyCtx) -> bool {
        let slots = ctx.ran.merged.as_ref().unwrap_or(&self.slots);
        slots
            .iter()
            .any(|s| s.policy.wants_response_body(parts, ctx))
    }

    /// Run the request phase. On a route with authentication, identity
    /// headers a client sent are removed and the identified consumer's are set.
    pub async fn on_request(&self, req: &mut RequestHead, ctx: &mut PolicyCtx) -> RequestOutcome {
        let identity = self.identity.as_ref().filter(|_| self.last_auth.is_some());
        if let Some(h) = identity {
            crate::identity::strip(&mut req.parts.headers, h);
        }
        let outcome = self.run_request(req, ctx).await;
        if let RequestOutcome::Reject(rej) = &outcome {
            let slots = ctx.ran.merged.as_ref().unwrap_or(&self.slots);
            let kind = ctx
                .ran
                .count
                .checked_sub(1)
                .and_then(|i| slots.get(i))
                .map_or("chain", |s| s.policy.kind());
            self.metrics.policy_rejection(kind, rej.code);
        }
        if matches!(outcome, RequestOutcome::Continue)
            && let Some(h) = identity
            && let Some(c) = &ctx.consumer
        {
            let anonymous = self.anonymous.as_ref().is_some_and(|a| Arc::ptr_eq(a, c));
            crate::identity::set(
                &mut req.parts.headers,
                h,
                c,
                ctx.credential.as_deref(),
                anonymous,
            );
        }
        outcome
    }

    async fn run_request(&self, req: &mut RequestHead, ctx: &mut PolicyCtx) -> RequestOutcome {
        let mut slots = self.slots.clone();
        let mut last_auth = self.last_auth;
        let mut i = 0;
        while i < slots.len() {
            let policy = &slots[i].policy;
            let skip = policy.auth().is_some() && ctx.consumer.is_some();
            let had_consumer = ctx.consumer.is_some();
            if !skip {
                ctx.ran.count = i + 1;
                match policy.on_request(req, ctx).resolve().await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Respond(resp)) => return RequestOutcome::Respond(resp),
                    Err(rej) => return RequestOutcome::Reject(rej),
                }
            }
            if last_auth == Some(i) && ctx.consumer.is_none() {
                match &self.anonymous {
                    Some(anon) => ctx.consumer = Some(anon.clone()),
                    None => return RequestOutcome::Reject(self.unauthenticated()),
                }
            }
            if !had_consumer
                && let Some(consumer) = &ctx.consumer
                && let Some(rej) = self.other_tenant(consumer)
            {
                return RequestOutcome::Reject(rej);
            }
            if !had_consumer
                && let Some(consumer) = ctx.consumer.clone()
                && let Some(merged) = self.merge_groups(&slots, i + 1, &consumer)
            {
                last_auth = merged[i + 1..]
                    .iter()
                    .rposition(|s| s.policy.auth().is_some())
                    .map(|p| p + i + 1)
                    .or(last_auth.filter(|&a| a <= i));
                slots = merged.clone();
                ctx.ran.merged = Some(merged);
            }
            i += 1;
        }
        RequestOutcome::Continue
    }

    /// Run the response phase for every policy of the chain (with the
    /// consumer's group policies when they were merged), also those whose
    /// request phase did not run because an earlier policy refused or
    /// answered: CORS headers, custom error bodies and the like apply to
    /// every answer. Policies keep whatever request-phase state they need in
    /// `ctx.vars` and must not assume it is there.
    ///
    /// The order is the reverse of the request phase (an onion): the policy
    /// closest to the upstream sees the response first. So the cache (100)
    /// stores the upstream's answer before a transformer (800) changes it,
    /// and on a cache hit the transformer runs once on the stored copy;
    /// CORS (3200) adds its headers last, to whatever answers.
    pub fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        let merged = ctx.ran.merged.clone();
        let slots = merged.as_ref().unwrap_or(&self.slots);
        for s in slots.iter().rev() {
            s.policy.on_response(resp, ctx)?;
        }
        Ok(())
    }

    /// Run the log phase and copy identity facts into the record.
    pub fn on_log(&self, ctx: &PolicyCtx, record: &mut CallRecord) {
        if let Some(c) = &ctx.consumer {
            record.consumer = Some(c.name.clone());
            record.tenant = Some(c.tenant.clone());
        }
        record.credential = ctx.credential.clone();
        record.cache = ctx.cache_status;
        let slots = ctx.ran.merged.as_ref().unwrap_or(&self.slots);
        for s in slots.iter() {
            s.policy.on_log(ctx, record);
        }
    }

    /// The rejection of a consumer of another tenant than the route's service (the
    /// route's anonymous consumer is the route's own choice and passes).
    fn other_tenant(&self, consumer: &Arc<Consumer>) -> Option<Reject> {
        let tenant = self.tenant.as_ref()?;
        let anonymous = self
            .anonymous
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, consumer));
        (!anonymous && consumer.tenant != *tenant).then(|| {
            Reject::new(
                http::StatusCode::FORBIDDEN,
                "tenant_mismatch",
                "the credential belongs to another tenant than this route's service",
            )
        })
    }

    fn unauthenticated(&self) -> Reject {
        Reject::unauthorized(self.challenges.as_deref())
    }

    /// `slots` with the consumer's group policies merged into the part after
    /// `from`; `None` when the consumer's groups have no policies.
    fn merge_groups(&self, slots: &Slots, from: usize, consumer: &Consumer) -> Option<Slots> {
        let extra: Vec<&Slot> = consumer
            .groups
            .iter()
            .filter_map(|g| self.groups.get(&**g))
            .flatten()
            .collect();
        if extra.is_empty() {
            return None;
        }
        let mut rest: Vec<Slot> = slots[from..].to_vec();
        // Disabled group policies switch the route's off for the group's members.
        for slot in extra {
            let kind = slot.policy.kind();
            // A group's policy replaces the route's of the same type; a type
            // already run (before authentication) is not run again.
            if slots[..from].iter().any(|s| s.policy.kind() == kind) {
                continue;
            }
            match rest.iter_mut().find(|s| s.policy.kind() == kind) {
                Some(existing) => *existing = slot.clone(),
                None => rest.push(slot.clone()),
            }
        }
        rest.retain(|s| s.enabled);
        rest.sort_by_key(|s| std::cmp::Reverse(s.priority));
        let mut out: Vec<Slot> = slots[..from].to_vec();
        out.extend(rest);
        Some(out.into())
    }
}

/// Every route's chain for one config snapshot, plus the consumers.
pub struct ChainSet {
    pub consumers: Arc<Consumers>,
    chains: Vec<Arc<Chain>>,
}

impl ChainSet {
    /// Build every attached policy; every failure is reported with its config path.
    pub fn build(cfg: &Config, shared: &Arc<Shared>) -> Result<Self, Vec<ConfigIssue>> {
        let consumers = Arc::new(Consumers::build(&cfg.consumers));
        let mut issues = Vec::new();
        let mut build_list = |list: &[PolicyConfig], path: &str, scope: &str| -> Vec<Slot> {
            let env = BuildEnv {
                consumers: &consumers,
                shared,
                scope,
                config: cfg,
            };
            let mut out: Vec<Slot> = Vec::new();
            for (j, p) in list.iter().enumerate() {
                let at = format!("{path}[{j}]");
                match build_one(p, &env) {
                    Ok(slot) => {
                        if out.iter().any(|s| s.policy.kind() == slot.policy.kind()) {
                            issues.push(ConfigIssue::new(
                                format!("{at}.name"),
                                format!("policy `{}` is attached twice here", p.name),
                            ));
                        }
                        out.push(slot);
                    }
                    Err(PolicyError::Unknown(name)) => issues.push(ConfigIssue::new(
                        format!("{at}.name"),
                        format!(
                            "unknown policy `{name}`; known: {}",
                            registry::names().join(", ")
                        ),
                    )),
                    Err(PolicyError::Config { path, reason }) => {
                        let full = if path.is_empty() {
                            format!("{at}.config")
                        } else {
                            format!("{at}.config.{path}")
                        };
                        issues.push(ConfigIssue::new(full, reason));
                    }
                }
            }
            out
        };
        let global = build_list(&cfg.policies, "policies", "global");
        let services: HashMap<&str, Vec<Slot>> = cfg
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let scope = format!("service:{}", s.name);
                let mut slots = build_list(&s.policies, &format!("services[{i}].policies"), &scope);
                if s.subscription.required
                    && !slots.iter().any(|x| x.policy.kind() == "subscription")
                {
                    slots.extend(implied_subscription(cfg, shared, &consumers, &scope));
                }
                (s.name.as_str(), slots)
            })
            .collect();
        let mut groups = HashMap::new();
        for (i, g) in cfg.consumer_groups.iter().enumerate() {
            let slots = build_list(
                &g.policies,
                &format!("consumer_groups[{i}].policies"),
                &format!("group:{}", g.name),
            );
            groups.insert(g.name.clone(), slots);
        }
        let mut route_slots = Vec::with_capacity(cfg.routes.len());
        for (i, r) in cfg.routes.iter().enumerate() {
            route_slots.push(build_list(
                &r.policies,
                &format!("routes[{i}].policies"),
                &format!("route:{}", r.name),
            ));
        }
        for (i, g) in cfg.consumer_groups.iter().enumerate() {
            for (j, s) in groups.get(&g.name).into_iter().flatten().enumerate() {
                if s.policy.auth().is_some() {
                    issues.push(ConfigIssue::new(
                        format!("consumer_groups[{i}].policies[{j}].name"),
                        "authentication policies cannot be attached to a consumer group",
                    ));
                }
            }
        }
        if groups.values().all(Vec::is_empty) {
            groups.clear();
        }
        let groups = Arc::new(groups);
        let identity = http::HeaderName::from_bytes(cfg.server.consumer_header.as_bytes()).ok();
        let mut chains = Vec::with_capacity(cfg.routes.len());
        for (i, (r, own)) in cfg.routes.iter().zip(route_slots).enumerate() {
            let mut slots: Vec<Slot> = own;
            let tenant = r
                .service
                .as_deref()
                .and_then(|name| cfg.services.iter().find(|s| s.name == name))
                .map(|s| s.tenant.as_str())
                .filter(|t| !pylon_config::is_default_tenant(t))
                .map(Arc::from);
            let service = r.service.as_deref().and_then(|s| services.get(s));
            for inherited in service.into_iter().flatten().chain(global.iter()) {
                if !slots
                    .iter()
                    .any(|s| s.policy.kind() == inherited.policy.kind())
                {
                    slots.push(inherited.clone());
                }
            }
            slots.retain(|s| s.enabled);
            slots.sort_by_key(|s| std::cmp::Reverse(s.priority));
            let last_auth = slots.iter().rposition(|s| s.policy.auth().is_some());
            let anonymous = match slots
                .iter()
                .find_map(|s| s.policy.auth().and_then(|a| a.anonymous))
            {
                Some(name) => match consumers.by_name(name) {
                    Some(c) => Some(c.clone()),
                    None => {
                        issues.push(ConfigIssue::new(
                            format!("routes[{i}].policies"),
                            format!("anonymous consumer `{name}` is not defined"),
                        ));
                        None
                    }
                },
                None => None,
            };
            let challenges: Vec<&str> = slots
                .iter()
                .filter_map(|s| s.policy.auth().and_then(|a| a.challenge))
                .collect();
            let challenges = (!challenges.is_empty()).then(|| challenges.join(", "));
            chains.push(Arc::new(Chain {
                slots: slots.into(),
                last_auth,
                anonymous,
                challenges,
                groups: groups.clone(),
                metrics: shared.metrics().clone(),
                identity: identity.clone(),
                tenant,
            }));
        }
        if issues.is_empty() {
            Ok(Self { consumers, chains })
        } else {
            Err(issues)
        }
    }

    /// The chain of the route at `index` (in config order).
    pub fn route(&self, index: usize) -> Option<&Arc<Chain>> {
        self.chains.get(index)
    }
}

/// The `subscription` policy a service with `subscription: {required: true}` gets.
fn implied_subscription(
    cfg: &Config,
    shared: &Arc<Shared>,
    consumers: &Arc<Consumers>,
    scope: &str,
) -> Option<Slot> {
    let env = BuildEnv {
        consumers,
        shared,
        scope,
        config: cfg,
    };
    let implied = PolicyConfig {
        name: "subscription".into(),
        enabled: true,
        priority: None,
        config: serde_json::json!({}),
    };
    build_one(&implied, &env).ok()
}

fn build_one(p: &PolicyConfig, env: &BuildEnv<'_>) -> Result<Slot, PolicyError> {
    let entry = registry::lookup(&p.name).ok_or_else(|| PolicyError::Unknown(p.name.clone()))?;
    let policy = (entry.build)(&p.config, env)?;
    Ok(Slot {
        priority: p.priority.unwrap_or(entry.priority),
        policy,
        enabled: p.enabled,
    })
}
