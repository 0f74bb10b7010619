//! `canary` at run time: pick a side per request and set the upstream override.

use std::sync::Arc;

use http::HeaderName;
use xxhash_rust::xxh3::xxh3_64;

use super::config::{CanaryConfig, Sticky};
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Step};
use crate::registry::BuildEnv;
use crate::util::{header_name, parse_config};

/// Draws are made in ten-thousandths so weights like 0.5 % work.
const SCALE: f64 = 10_000.0;

pub struct Canary {
    /// Cumulative upper bounds in ten-thousandths, with the upstream name.
    bands: Vec<(u32, Arc<str>)>,
    sticky: Option<StickyKey>,
    force: Option<HeaderName>,
    expose: bool,
}

enum StickyKey {
    Header(HeaderName),
    Cookie(String),
    Consumer,
    ClientIp,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: CanaryConfig = parse_config(value)?;
    if cfg.splits.is_empty() {
        return Err(PolicyError::config(
            "splits",
            "at least one split is needed",
        ));
    }
    let mut bands = Vec::new();
    let mut total = 0.0;
    for (i, s) in cfg.splits.iter().enumerate() {
        if !(0.0..=100.0).contains(&s.weight) {
            return Err(PolicyError::config(
                format!("splits[{i}].weight"),
                "must be between 0 and 100",
            ));
        }
        if !env.config.upstreams.iter().any(|u| u.name == s.upstream) {
            return Err(PolicyError::config(
                format!("splits[{i}].upstream"),
                format!("no upstream named `{}`", s.upstream),
            ));
        }
        total += s.weight;
        bands.push((
            (total * SCALE / 100.0).round() as u32,
            Arc::from(s.upstream.as_str()),
        ));
    }
    if total > 100.0 + f64::EPSILON {
        return Err(PolicyError::config(
            "splits",
            format!("weights add up to {total}, more than 100"),
        ));
    }
    let sticky = match cfg.sticky {
        None => None,
        Some(Sticky::Header(h)) => Some(StickyKey::Header(header_name("sticky.header", &h)?)),
        Some(Sticky::Cookie(c)) => Some(StickyKey::Cookie(c)),
        Some(Sticky::Consumer) => Some(StickyKey::Consumer),
        Some(Sticky::ClientIp) => Some(StickyKey::ClientIp),
    };
    let force = match &cfg.force_header {
        Some(h) => Some(header_name("force_header", h)?),
        None => None,
    };
    Ok(Arc::new(Canary {
        bands,
        sticky,
        force,
        expose: cfg.expose,
    }))
}

impl Canary {
    /// A point in 0..10000 for this request: from the sticky key when there
    /// is one, else random.
    fn draw(&self, req: &RequestHead, ctx: &PolicyCtx) -> u32 {
        let key: Option<String> = match &self.sticky {
            Some(StickyKey::Header(h)) => req
                .parts
                .headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            Some(StickyKey::Cookie(c)) => crate::util::cookie(&req.parts.headers, c),
            Some(StickyKey::Consumer) => ctx.consumer_name().map(str::to_string),
            Some(StickyKey::ClientIp) => Some(ctx.client_ip.to_string()),
            None => None,
        };
        match key {
            Some(k) => (xxh3_64(k.as_bytes()) % SCALE as u64) as u32,
            None => rand::random_range(0..SCALE as u32),
        }
    }

    /// The upstream for a point, `None` for the route's own.
    fn side(&self, point: u32) -> Option<&Arc<str>> {
        self.bands
            .iter()
            .find(|(upper, _)| point < *upper)
            .map(|(_, name)| name)
    }
}

impl Policy for Canary {
    fn kind(&self) -> &'static str {
        "canary"
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let forced = self
            .force
            .as_ref()
            .and_then(|h| req.parts.headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let chosen = match forced {
            Some("default") => None,
            Some(name) => match self.bands.iter().find(|(_, n)| &**n == name) {
                Some((_, n)) => Some(n.clone()),
                None => self.side(self.draw(req, ctx)).cloned(),
            },
            None => self.side(self.draw(req, ctx)).cloned(),
        };
        if self.expose {
            let label = chosen.as_deref().unwrap_or("default").to_string();
            ctx.add_response_header(HeaderName::from_static("x-canary"), label);
        }
        if chosen.is_some() {
            ctx.upstream_override = chosen;
        }
        Step::next()
    }
}
