//! Route matching: from a request's listener, host, path, method, headers and
//! query to the route that serves it.
//!
//! [`Router::build`] compiles the configured routes once per config snapshot;
//! [`Router::lookup`] answers a [`RequestView`] with a [`Lookup`].
//!
//! # Matching
//!
//! A route matches when all of its conditions hold:
//!
//! * **listener**: the request's listener is listed, or the route lists none;
//! * **host**: exact (case-insensitive) or `*.example.com`, which matches any
//!   subdomain of `example.com` at any depth but not `example.com` itself; no hosts
//!   match every host. The request host must be lower-case, without port (a trailing
//!   dot is ignored);
//! * **path**: any one of the route's paths, against the normalized path
//!   ([`normalize_path`]); configured exact paths, prefixes and template literals
//!   are normalized the same way. `exact` is byte equality. `prefix` is
//!   segment-aware: `/api` matches `/api`, `/api/` and `/api/x` but not `/apix`; a
//!   prefix ending in `/` matches everything under it (`/api/` matches `/api/x` and
//!   `/api/`, not `/api`). `template`: `{name}` matches one non-empty segment,
//!   `{*rest}` the remainder, possibly empty (`/files/{*p}` matches `/files`,
//!   `/files/` and `/files/a/b`). `regex` is anchored at both ends. No paths match
//!   every path;
//! * **method**: listed, or the route lists none; HEAD matches a route allowing GET;
//! * **headers**: every condition holds. Names are case-insensitive; with several
//!   header fields of that name, one matching is enough (values are not split on
//!   commas). `value` is an exact, case-sensitive comparison; `regex` is anchored
//!   over the whole value; `present: true/false` requires presence/absence; a
//!   condition with none of the three requires presence;
//! * **query**: like headers, over the parameters of the raw query string, whose
//!   names and values are decoded (`+` is a space, then percent-escapes); names are
//!   case-sensitive and a parameter without `=` has the empty value.
//!
//! # Order
//!
//! When several routes match, the first in this order wins:
//!
//! 1. higher `priority`;
//! 2. host: exact host, then wildcard host (longer domain first), then no host;
//! 3. path: exact, then template (more literal segments first; without catch-all
//!    before with), then prefix (longer first), then regex, then no path;
//! 4. more header and query conditions first;
//! 5. routes listing methods before routes accepting any method;
//! 6. configuration order.
//!
//! A route with several hosts or paths is ranked by the host and path that matched
//! the request, so `hosts: [a.com, "*.b.com"]` ranks as an exact-host route for
//! `a.com`. Params and `matched_prefix` come from that path; when two of a route's
//! paths match with equal rank, the one listed first is used.
//!
//! # 405
//!
//! When no route matches but some routes match everything except the method, the
//! lookup answers [`Lookup::MethodNotAllowed`] with the union of their methods
//! (sorted by name, deduplicated, with HEAD wherever GET is allowed).
//!
//! # Cost
//!
//! Routes are never scanned linearly: hosts are bucketed (see `index`), paths
//! within a bucket are found by walking a segment trie (see `trie`) plus a
//! `RegexSet`-gated regex list, and only those candidates have their method,
//! header and query conditions evaluated. Every variant carries its rank in the
//! order above, so the search keeps the best full match and skips worse ones. The
//! lookup allocates only for the result (params, matched prefix, and the `Allow`
//! list of a 405).

mod compile;
mod index;
pub mod path;
mod rewrite;
mod trie;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_conditions;
#[cfg(test)]
mod tests_diff;
#[cfg(test)]
mod tests_order;

use std::borrow::Cow;

use http::{HeaderMap, Method};
use pylon_config::RouteConfig;

use compile::{CompiledRoute, PathPattern, allow_list};
use index::{HostIndex, HostKey};
pub use path::{PathError, normalize_path};
use rewrite::CompiledRewrite;
use trie::EntryId;

/// Why the routes could not be compiled. Config validation catches these first;
/// the router still refuses rather than panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("route `{route}`: invalid path `{path}`: {reason}")]
    InvalidPath {
        route: String,
        path: String,
        reason: String,
    },
    #[error("route `{route}`: invalid template `{template}`: {reason}")]
    InvalidTemplate {
        route: String,
        template: String,
        reason: String,
    },
    #[error("route `{route}`: invalid regular expression `{pattern}`: {reason}")]
    InvalidRegex {
        route: String,
        pattern: String,
        reason: String,
    },
    #[error("route `{route}`: invalid method `{method}`")]
    InvalidMethod { route: String, method: String },
    #[error("route `{route}`: invalid header name `{header}`")]
    InvalidHeaderName { route: String, header: String },
    #[error("route `{route}`: invalid host `{host}`")]
    InvalidHost { route: String, host: String },
    #[error("route `{route}`: invalid rewrite: {reason}")]
    InvalidRewrite { route: String, reason: String },
    #[error("too many route variants (hosts × paths) to index: {0}")]
    TooManyVariants(usize),
}

/// The parts of a request the router looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Name of the listener the request arrived on.
    pub listener: &'a str,
    /// Lower-case, without port.
    pub host: &'a str,
    /// Normalized with [`normalize_path`].
    pub path: &'a str,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Matched(RouteMatch),
    /// Some route matched everything but the method; `allow` is for the `Allow` header.
    MethodNotAllowed {
        allow: Vec<Method>,
    },
    NotFound,
}

/// The route a request matched and what the match captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index into the routes given to [`Router::build`].
    pub route: usize,
    /// Index into the route's `match.paths` of the path that matched; `None` when
    /// the route has no path condition.
    pub path_index: Option<usize>,
    /// Template parameters (or named groups of a regex path), percent-decoded, in
    /// the order they appear in the path.
    pub params: Vec<(String, String)>,
    /// The configured (normalized) prefix that matched, for prefix paths.
    pub matched_prefix: Option<String>,
}

impl RouteMatch {
    /// The decoded value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One (route, host, path) variant; its index in `Router::entries` is its rank.
#[derive(Debug, Clone, Copy)]
struct Entry {
    route: usize,
    path: Option<usize>,
    is_regex: bool,
}

/// The compiled routing table of one config snapshot. Immutable and `Sync`.
#[derive(Debug)]
pub struct Router {
    routes: Vec<CompiledRoute>,
    rewrites: Vec<Option<CompiledRewrite>>,
    entries: Vec<Entry>,
    index: HostIndex,
}

impl Router {
    /// Compile `routes`; route indices in results refer to this slice.
    pub fn build(routes: &[RouteConfig]) -> Result<Router, RouterError> {
        let compiled = routes
            .iter()
            .map(CompiledRoute::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let rewrites = routes
            .iter()
            .map(|r| {
                r.rewrite
                    .as_ref()
                    .map(|rw| CompiledRewrite::compile(&r.name, rw))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut variants = Vec::new();
        for (i, r) in compiled.iter().enumerate() {
            let hosts: Vec<Option<usize>> = if r.hosts.is_empty() {
                vec![None]
            } else {
                (0..r.hosts.len()).map(Some).collect()
            };
            let paths: Vec<Option<usize>> = if r.paths.is_empty() {
                vec![None]
            } else {
                (0..r.paths.len()).map(Some).collect()
            };
            for &h in &hosts {
                for &p in &paths {
                    variants.push((r.order_key(i, h, p), i, h, p));
                }
            }
        }
        if u32::try_from(variants.len()).is_err() {
            return Err(RouterError::TooManyVariants(variants.len()));
        }
        variants.sort_by(|a, b| a.0.cmp(&b.0));

        let mut index = HostIndex::default();
        let mut entries = Vec::with_capacity(variants.len());
        for (id, (_, route, host, path)) in variants.into_iter().enumerate() {
            let r = &compiled[route];
            let pattern = path.map(|p| &r.paths[p]);
            let key = match host.map(|h| r.hosts[h].as_str()) {
                None => HostKey::Any,
                Some(h) => match h.strip_prefix("*.") {
                    Some(domain) => HostKey::Wildcard(domain),
                    None => HostKey::Exact(h),
                },
            };
            // `id` fits in u32: checked above.
            index.insert(key, pattern, id as EntryId);
            entries.push(Entry {
                route,
                path,
                is_regex: matches!(pattern, Some(PathPattern::Regex { .. })),
            });
        }
        index.finish();
        Ok(Router {
            routes: compiled,
            rewrites,
            entries,
            index,
        })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Find the route for a request; see the module documentation.
    pub fn lookup(&self, req: &RequestView<'_>) -> Lookup {
        let host = req.host.strip_suffix('.').unwrap_or(req.host);
        let host: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        let mut search = Search {
            router: self,
            req,
            best: EntryId::MAX,
            allow_bits: 0,
            allow_ext: Vec::new(),
            method_miss: false,
        };
        self.index
            .walk(&host, req.path, &mut |ids| search.visit(ids));
        if search.best != EntryId::MAX {
            return Lookup::Matched(self.route_match(search.best, req.path));
        }
        if search.method_miss {
            return Lookup::MethodNotAllowed {
                allow: allow_list(search.allow_bits, search.allow_ext),
            };
        }
        Lookup::NotFound
    }

    fn route_match(&self, id: EntryId, path: &str) -> RouteMatch {
        let entry = self.entries[id as usize];
        let pattern = entry.path.map(|p| &self.routes[entry.route].paths[p]);
        let mut m = RouteMatch {
            route: entry.route,
            path_index: entry.path,
            ..RouteMatch::default()
        };
        match pattern {
            Some(PathPattern::Template(t)) => m.params = t.params(path),
            Some(PathPattern::Regex { regex: re, .. }) => {
                if re.capture_names().any(|n| n.is_some()) {
                    m.params = regex_params(re, path)
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), path::percent_decode(v).into_owned()))
                        .collect();
                }
            }
            Some(PathPattern::Prefix(p)) => m.matched_prefix = Some(p.clone()),
            Some(PathPattern::Exact(_)) | None => {}
        }
        m
    }

    /// Apply the rewrite of route `route` (if it has one) to the normalized `path`
    /// of a request that matched it as `m`; without a rewrite, `path` is returned
    /// unchanged. See the `rewrite` module for each rule; the result always starts
    /// with `/` and carries no query.
    pub fn rewrite(&self, route: usize, m: &RouteMatch, path: &str) -> String {
        let Some(Some(rule)) = self.rewrites.get(route) else {
            return path.to_string();
        };
        let pattern = self
            .routes
            .get(route)
            .zip(m.path_index)
            .and_then(|(r, p)| r.paths.get(p));
        let raw: Vec<(&str, &str)> = match pattern {
            Some(PathPattern::Template(t)) => {
                let mut raw = Vec::new();
                if !t.capture(path, |n, v| raw.push((n, v))) {
                    raw.clear();
                }
                raw
            }
            Some(PathPattern::Regex { regex: re, .. }) => regex_params(re, path),
            _ => Vec::new(),
        };
        rule.apply(m, path, &raw)
    }

    /// Whether route `route` has a rewrite rule.
    pub fn has_rewrite(&self, route: usize) -> bool {
        matches!(self.rewrites.get(route), Some(Some(_)))
    }
}

/// Named groups of an anchored path regex that took part in the match.
fn regex_params<'p>(re: &'p regex::Regex, path: &'p str) -> Vec<(&'p str, &'p str)> {
    let Some(caps) = re.captures(path) else {
        return Vec::new();
    };
    re.capture_names()
        .enumerate()
        .filter_map(|(i, name)| Some((name?, caps.get(i)?.as_str())))
        .collect()
}

/// State of one lookup: the best full match so far and the 405 accumulator.
struct Search<'r, 'q> {
    router: &'r Router,
    req: &'q RequestView<'q>,
    best: EntryId,
    allow_bits: u16,
    allow_ext: Vec<Method>,
    method_miss: bool,
}

impl Search<'_, '_> {
    /// Consider a list of candidates sorted best first.
    fn visit(&mut self, ids: &[EntryId]) {
        let req = self.req;
        for &id in ids {
            if id >= self.best {
                return;
            }
            let Some(entry) = self.router.entries.get(id as usize) else {
                return;
            };
            let route = &self.router.routes[entry.route];
            if !route.listener_ok(req.listener) {
                continue;
            }
            if entry.is_regex {
                let path_ok = entry.path.and_then(|p| route.paths.get(p)).is_some_and(
                    |p| matches!(p, PathPattern::Regex { regex, .. } if regex.is_match(req.path)),
                );
                if !path_ok {
                    continue;
                }
            }
            if route.methods.allows(req.method) {
                if route.conditions_ok(req.headers, req.query) {
                    self.best = id;
                    return;
                }
            } else if self.best == EntryId::MAX && route.conditions_ok(req.headers, req.query) {
                self.method_miss = true;
                route
                    .methods
                    .add_to(&mut self.allow_bits, &mut self.allow_ext);
            }
        }
    }
}
