//! Semantic validation of a parsed config: names unique, references resolve,
//! addresses, patterns and ranges are sound. Collects every issue.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::error::ConfigIssue;
use crate::model::*;
use crate::target::TargetAddr;

/// Check a parsed config; returns every issue found.
pub fn validate(cfg: &Config) -> Result<(), Vec<ConfigIssue>> {
    let mut v = Validator::default();
    v.server(&cfg.server);
    v.listeners(&cfg.listeners, &cfg.certificates);
    v.upstreams(&cfg.upstreams);
    v.routes(cfg);
    v.identity(cfg);
    v.ai(cfg);
    v.governance(&cfg.ai);
    v.tenants(cfg);
    v.cluster(&cfg.cluster);
    v.webhooks(&cfg.webhooks);
    if v.issues.is_empty() {
        Ok(())
    } else {
        Err(v.issues)
    }
}

#[derive(Default)]
pub(crate) struct Validator {
    issues: Vec<ConfigIssue>,
}

impl Validator {
    pub(crate) fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(ConfigIssue::new(path, reason));
    }

    fn server(&mut self, s: &ServerConfig) {
        if let Some(addr) = &s.admin_listen
            && addr.parse::<SocketAddr>().is_err()
        {
            self.push(
                "server.admin_listen",
                format!("`{addr}` is not an ip:port socket address"),
            );
        }
        if http::HeaderName::from_bytes(s.request_id_header.as_bytes()).is_err() {
            self.push("server.request_id_header", "not a valid header name");
        }
        if !s.consumer_header.is_empty()
            && http::HeaderName::from_bytes(s.consumer_header.as_bytes()).is_err()
        {
            self.push("server.consumer_header", "not a valid header name");
        }
        if s.access_log.queue_capacity == 0 {
            self.push("server.access_log.queue_capacity", "must be at least 1");
        }
    }

    fn listeners(&mut self, listeners: &[ListenerConfig], stored: &[TlsCertificate]) {
        let mut names = HashSet::new();
        let mut binds = HashSet::new();
        for (i, l) in listeners.iter().enumerate() {
            let p = format!("listeners[{i}]");
            self.name(&format!("{p}.name"), &l.name, &mut names, "listener");
            match l.bind.parse::<SocketAddr>() {
                Ok(addr) => {
                    if !binds.insert(addr) {
                        self.push(
                            format!("{p}.bind"),
                            format!("`{addr}` is bound by another listener"),
                        );
                    }
                }
                Err(_) => self.push(
                    format!("{p}.bind"),
                    format!("`{}` is not an ip:port socket address", l.bind),
                ),
            }
            if let Some(tls) = &l.tls {
                if l.redirect_https_port.is_some() {
                    self.push(
                        format!("{p}.redirect_https_port"),
                        "a TLS listener cannot redirect to HTTPS",
                    );
                }
                if tls.certificates.is_empty() {
                    self.push(
                        format!("{p}.tls.certificates"),
                        "at least one certificate is required",
                    );
                }
                for (j, c) in tls.certificates.iter().enumerate() {
                    let cp = format!("{p}.tls.certificates[{j}]");
                    if let Some(name) = &c.certificate {
                        if !c.cert_file.is_empty() || !c.key_file.is_empty() {
                            self.push(
                                cp.clone(),
                                "give `certificate` or `cert_file` and `key_file`, not both",
                            );
                        }
                        if !stored.iter().any(|t| &t.name == name) {
                            self.push(
                                format!("{cp}.certificate"),
                                format!("no certificate named `{name}`"),
                            );
                        }
                        continue;
                    }
                    for (field, file) in [("cert_file", &c.cert_file), ("key_file", &c.key_file)] {
                        if let Err(e) = std::fs::metadata(file) {
                            self.push(
                                format!("{cp}.{field}"),
                                format!("cannot read `{file}`: {e}"),
                            );
                        }
                    }
                }
            }
            let lim = &l.limits;
            if lim.max_headers == 0 {
                self.push(format!("{p}.limits.max_headers"), "must be at least 1");
            }
            if lim.max_header_bytes < 1024 {
                self.push(
                    format!("{p}.limits.max_header_bytes"),
                    "must be at least 1024",
                );
            }
            if lim.header_read_timeout.is_zero() {
                self.push(
                    format!("{p}.limits.header_read_timeout"),
                    "must be greater than zero",
                );
            }
        }
    }

    fn upstreams(&mut self, ups: &[UpstreamConfig]) {
        let mut names = HashSet::new();
        for (i, u) in ups.iter().enumerate() {
            let p = format!("upstreams[{i}]");
            self.name(&format!("{p}.name"), &u.name, &mut names, "upstream");
            if u.targets.is_empty() {
                self.push(format!("{p}.targets"), "at least one target is required");
            }
            let mut schemes = HashSet::new();
            for (j, t) in u.targets.iter().enumerate() {
                match TargetAddr::parse(&t.address) {
                    Ok(a) => {
                        schemes.insert(a.tls);
                    }
                    Err(e) => self.push(format!("{p}.targets[{j}].address"), e),
                }
                if t.weight == 0 || t.weight > 10_000 {
                    self.push(
                        format!("{p}.targets[{j}].weight"),
                        "must be between 1 and 10000",
                    );
                }
            }
            if schemes.len() > 1 {
                self.push(
                    format!("{p}.targets"),
                    "mixes http and https targets; use one upstream per scheme",
                );
            }
            if let LoadBalancing::ConsistentHash { hash_on } = &u.load_balancing
                && let HashOn::Header(h) = hash_on
            {
                self.header_name(&format!("{p}.load_balancing.hash_on.header"), h);
            }
            if let Some(ca) = &u.tls.ca_file
                && let Err(e) = std::fs::metadata(ca)
            {
                self.push(
                    format!("{p}.tls.ca_file"),
                    format!("cannot read `{ca}`: {e}"),
                );
            }
            self.timeouts(&format!("{p}.timeouts"), &u.timeouts);
            if let Some(a) = &u.health_check.active {
                let hp = format!("{p}.health_check.active");
                if !a.path.starts_with('/') {
                    self.push(format!("{hp}.path"), "must start with `/`");
                }
                if a.interval.is_zero() || a.timeout.is_zero() {
                    self.push(
                        format!("{hp}.interval"),
                        "interval and timeout must be greater than zero",
                    );
                }
                if a.healthy_threshold == 0 || a.unhealthy_threshold == 0 {
                    self.push(
                        format!("{hp}.healthy_threshold"),
                        "thresholds must be at least 1",
                    );
                }
                self.statuses(&format!("{hp}.expected_statuses"), &a.expected_statuses);
                if a.expected_statuses.is_empty() {
                    self.push(
                        format!("{hp}.expected_statuses"),
                        "at least one status is required",
                    );
                }
            }
            if let Some(ps) = &u.health_check.passive {
                let hp = format!("{p}.health_check.passive");
                if ps.consecutive_failures == 0 {
                    self.push(format!("{hp}.consecutive_failures"), "must be at least 1");
                }
                if ps.base_ejection.is_zero() || ps.max_ejection < ps.base_ejection {
                    self.push(
                        format!("{hp}.max_ejection"),
                        "base_ejection must be > 0 and <= max_ejection",
                    );
                }
            }
            if let Some(cb) = &u.circuit_breaker {
                let cp = format!("{p}.circuit_breaker");
                if !(0.0..=1.0).contains(&cb.error_rate) {
                    self.push(format!("{cp}.error_rate"), "must be between 0 and 1");
                }
                if cb.consecutive_failures == 0 && cb.error_rate == 0.0 {
                    self.push(cp.clone(), "enable consecutive_failures or error_rate");
                }
                if cb.open_duration.is_zero() || cb.window.is_zero() {
                    self.push(
                        format!("{cp}.open_duration"),
                        "open_duration and window must be greater than zero",
                    );
                }
                if cb.half_open_probes == 0 {
                    self.push(format!("{cp}.half_open_probes"), "must be at least 1");
                }
            }
            let r = &u.retries;
            let rp = format!("{p}.retries");
            self.statuses(&format!("{rp}.on_statuses"), &r.on_statuses);
            for (j, m) in r.methods.iter().enumerate() {
                self.method(&format!("{rp}.methods[{j}]"), m);
            }
            if r.attempts > 10 {
                self.push(format!("{rp}.attempts"), "at most 10 retries");
            }
            if !(0.0..=10.0).contains(&r.budget.ratio) {
                self.push(format!("{rp}.budget.ratio"), "must be between 0 and 10");
            }
            if u.dns.min_ttl > u.dns.max_ttl {
                self.push(format!("{p}.dns.min_ttl"), "must not exceed max_ttl");
            }
        }
    }

    fn routes(&mut self, cfg: &Config) {
        let upstreams: HashSet<&str> = cfg.upstreams.iter().map(|u| u.name.as_str()).collect();
        let listeners: HashSet<&str> = cfg.listeners.iter().map(|l| l.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, r) in cfg.routes.iter().enumerate() {
            let p = format!("routes[{i}]");
            self.name(&format!("{p}.name"), &r.name, &mut names, "route");
            match (&r.upstream, &r.respond, &r.aggregate) {
                _ if r.ai.is_some()
                    && (r.upstream.is_some() || r.respond.is_some() || r.aggregate.is_some()) =>
                {
                    self.push(
                        p.clone(),
                        "exactly one of `upstream`, `respond`, `aggregate` and `ai` is required",
                    )
                }
                (None, None, None) if r.ai.is_some() => {}
                (Some(u), None, None) => {
                    if !upstreams.contains(u.as_str()) {
                        self.push(format!("{p}.upstream"), format!("no upstream named `{u}`"));
                    }
                }
                (None, Some(s), None) => {
                    if !(100..=599).contains(&s.status) {
                        self.push(format!("{p}.respond.status"), "must be between 100 and 599");
                    }
                    for (k, val) in &s.headers {
                        self.header_name(&format!("{p}.respond.headers.{k}"), k);
                        if http::HeaderValue::from_str(val).is_err() {
                            self.push(
                                format!("{p}.respond.headers.{k}"),
                                "not a valid header value",
                            );
                        }
                    }
                }
                (None, None, Some(a)) => self.aggregate(&format!("{p}.aggregate"), a, &upstreams),
                _ => self.push(
                    p.clone(),
                    "exactly one of `upstream`, `respond`, `aggregate` and `ai` is required",
                ),
            }
            for (j, l) in r.listeners.iter().enumerate() {
                if !listeners.contains(l.as_str()) {
                    self.push(
                        format!("{p}.listeners[{j}]"),
                        format!("no listener named `{l}`"),
                    );
                }
            }
            self.route_match(&format!("{p}.match"), &r.matches);
            if let Some(rw) = &r.rewrite {
                let rp = format!("{p}.rewrite");
                match rw {
                    RewriteConfig::StripPrefix(None) => {
                        let has_prefix = r
                            .matches
                            .paths
                            .iter()
                            .any(|m| matches!(m, PathMatch::Prefix(_)));
                        if !has_prefix {
                            self.push(rp, "strip_prefix without a value needs a prefix path match");
                        }
                    }
                    RewriteConfig::StripPrefix(Some(s)) | RewriteConfig::Path(s) => {
                        if !s.starts_with('/') {
                            self.push(rp, "must start with `/`");
                        }
                    }
                    RewriteConfig::Regex { pattern, .. } => {
                        self.regex(&format!("{rp}.pattern"), pattern)
                    }
                }
            }
            if let HostHeader::Rewrite(h) = &r.host_header
                && (http::HeaderValue::from_str(h).is_err() || h.is_empty())
            {
                self.push(format!("{p}.host_header.rewrite"), "not a valid host");
            }
            if let Some(t) = &r.timeouts {
                self.timeouts(&format!("{p}.timeouts"), t);
            }
        }
    }

    fn route_match(&mut self, p: &str, m: &RouteMatch) {
        for (j, h) in m.hosts.iter().enumerate() {
            let bare = h.strip_prefix("*.").unwrap_or(h);
            if bare.is_empty()
                || bare.contains('*')
                || !bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
            {
                self.push(
                    format!("{p}.hosts[{j}]"),
                    format!("`{h}` is not a host name or `*.domain` wildcard"),
                );
            }
        }
        for (j, path) in m.paths.iter().enumerate() {
            let pp = format!("{p}.paths[{j}]");
            match path {
                PathMatch::Exact(s) | PathMatch::Prefix(s) => {
                    if !s.starts_with('/') {
                        self.push(pp, "must start with `/`");
                    }
                }
                PathMatch::Template(t) => {
                    if let Err(e) = check_template(t) {
                        self.push(pp, e);
                    }
                }
                PathMatch::Regex(r) => self.regex(&pp, r),
            }
        }
        for (j, meth) in m.methods.iter().enumerate() {
            self.method(&format!("{p}.methods[{j}]"), meth);
        }
        for (kind, list) in [("headers", &m.headers), ("query", &m.query)] {
            for (j, vm) in list.iter().enumerate() {
                let vp = format!("{p}.{kind}[{j}]");
                if kind == "headers" {
                    self.header_name(&format!("{vp}.name"), &vm.name);
                } else if vm.name.is_empty() {
                    self.push(format!("{vp}.name"), "must not be empty");
                }
                if vm.value.is_some() && vm.regex.is_some() {
                    self.push(vp.clone(), "give `value` or `regex`, not both");
                }
                if let Some(r) = &vm.regex {
                    self.regex(&format!("{vp}.regex"), r);
                }
            }
        }
    }

    fn timeouts(&mut self, p: &str, t: &TimeoutConfig) {
        for (field, d) in [
            ("connect", t.connect),
            ("read", t.read),
            ("idle", t.idle),
            ("request", t.request),
        ] {
            if d.is_zero() {
                self.push(format!("{p}.{field}"), "must be greater than zero");
            }
        }
    }

    pub(crate) fn name(&mut self, p: &str, name: &str, seen: &mut HashSet<String>, what: &str) {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.push(
                p,
                format!("`{name}`: {what} names use letters, digits, `-`, `_` and `.`"),
            );
        } else if !seen.insert(name.to_string()) {
            self.push(p, format!("duplicate {what} name `{name}`"));
        }
    }

    fn regex(&mut self, p: &str, pattern: &str) {
        if let Err(e) = regex::Regex::new(pattern) {
            self.push(p, format!("invalid regular expression: {e}"));
        }
    }

    fn method(&mut self, p: &str, m: &str) {
        if m.is_empty()
            || http::Method::from_bytes(m.as_bytes()).is_err()
            || m.to_ascii_uppercase() != m
        {
            self.push(p, format!("`{m}` is not an upper-case HTTP method"));
        }
    }

    fn header_name(&mut self, p: &str, h: &str) {
        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            self.push(p, format!("`{h}` is not a valid header name"));
        }
    }

    fn statuses(&mut self, p: &str, list: &[u16]) {
        for (j, s) in list.iter().enumerate() {
            if !(100..=599).contains(s) {
                self.push(format!("{p}[{j}]"), format!("{s} is not an HTTP status"));
            }
        }
    }
}

/// Check `/a/{x}/b/{*rest}` syntax: parameters fill whole segments, names are
/// identifiers and unique, and a catch-all comes last.
pub fn check_template(t: &str) -> Result<(), String> {
    if !t.starts_with('/') {
        return Err("must start with `/`".into());
    }
    let segments: Vec<&str> = t[1..].split('/').collect();
    let mut names = HashSet::new();
    for (i, seg) in segments.iter().enumerate() {
        if seg.contains('{') || seg.contains('}') {
            let inner = seg
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(|| {
                    format!("segment `{seg}`: a parameter must fill the whole segment")
                })?;
            let (name, catch_all) = match inner.strip_prefix('*') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "segment `{seg}`: parameter names use letters, digits and `_`"
                ));
            }
            if catch_all && i + 1 != segments.len() {
                return Err(format!(
                    "segment `{seg}`: a catch-all must be the last segment"
                ));
            }
            if !names.insert(name) {
                return Err(format!("parameter `{name}` appears twice"));
            }
        }
    }
    Ok(())
}
