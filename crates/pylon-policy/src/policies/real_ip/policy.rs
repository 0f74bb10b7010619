//! `real-ip` at run time: believe the header only from a trusted peer.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderName;

use super::config::RealIpConfig;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::ipset::IpSet;
use crate::policy::{Policy, Step};
use crate::registry::BuildEnv;
use crate::util::{header_name, parse_config};

pub struct RealIp {
    trusted: IpSet,
    header: HeaderName,
    forwarded: bool,
    recursive: bool,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: RealIpConfig = parse_config(value)?;
    if cfg.trusted_proxies.is_empty() {
        return Err(PolicyError::config(
            "trusted_proxies",
            "at least one trusted proxy network is needed",
        ));
    }
    let trusted = IpSet::parse("trusted_proxies", &cfg.trusted_proxies)?;
    let header = header_name("header", &cfg.header)?;
    Ok(Arc::new(RealIp {
        trusted,
        forwarded: header == http::header::FORWARDED,
        header,
        recursive: cfg.recursive,
    }))
}

/// One list entry as an address: `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`,
/// `2001:db8::1`, optionally quoted. `None` for `unknown`, obfuscated names
/// or garbage.
pub(crate) fn parse_entry(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"').trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || port.parse::<u16>().is_err() {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

impl RealIp {
    /// The entries of every occurrence of the header, in order.
    fn entries<'h>(&self, req: &'h RequestHead) -> Vec<&'h str> {
        let mut out = Vec::new();
        for v in req.parts.headers.get_all(&self.header) {
            let Ok(v) = v.to_str() else {
                // An unreadable value breaks the chain at this point.
                out.push("");
                continue;
            };
            for item in v.split(',') {
                if self.forwarded {
                    let node = item
                        .split(';')
                        .filter_map(|kv| kv.trim().split_once('='))
                        .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                        .map(|(_, v)| v)
                        .unwrap_or("");
                    out.push(node);
                } else {
                    out.push(item);
                }
            }
        }
        out
    }

    fn decide(&self, peer: IpAddr, req: &RequestHead) -> IpAddr {
        if !self.trusted.contains(peer) {
            return peer;
        }
        let entries = self.entries(req);
        if !self.recursive {
            return entries.last().and_then(|e| parse_entry(e)).unwrap_or(peer);
        }
        let mut client = peer;
        for e in entries.iter().rev() {
            let Some(ip) = parse_entry(e) else { break };
            client = ip;
            if !self.trusted.contains(ip) {
                break;
            }
        }
        client
    }
}

impl Policy for RealIp {
    fn kind(&self) -> &'static str {
        "real-ip"
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let peer = ctx.peer_ip.to_canonical();
        ctx.client_ip = self.decide(peer, req);
        Step::next()
    }
}
