//! Compiling one [`RouteConfig`] into the form the lookup evaluates: method sets,
//! header and query conditions, parsed templates and anchored regexes, plus the
//! specificity key that fixes the order between routes.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, Method};
use pylon_config::{PathMatch, RouteConfig, ValueMatch};

use super::RouterError;
use super::path::{decode_query_component, normalize_path, percent_decode};

/// Wrap a user pattern so it must match the whole input.
pub(crate) fn anchored(pattern: &str) -> String {
    format!(r"\A(?:{pattern})\z")
}

/// The methods a route accepts. `any` when the route lists none.
#[derive(Debug, Clone, Default)]
pub(crate) struct MethodSet {
    any: bool,
    bits: u16,
    ext: Vec<Method>,
}

const STANDARD: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

fn standard_bit(m: &Method) -> Option<u16> {
    STANDARD.iter().position(|s| s == m).map(|i| 1 << i)
}

const GET_BIT: u16 = 1;
const HEAD_BIT: u16 = 2;

impl MethodSet {
    fn compile(route: &str, methods: &[String]) -> Result<Self, RouterError> {
        let mut set = MethodSet {
            any: methods.is_empty(),
            ..MethodSet::default()
        };
        for m in methods {
            let method =
                Method::from_bytes(m.as_bytes()).map_err(|_| RouterError::InvalidMethod {
                    route: route.to_string(),
                    method: m.clone(),
                })?;
            set.insert(method);
        }
        Ok(set)
    }

    fn insert(&mut self, m: Method) {
        match standard_bit(&m) {
            Some(bit) => self.bits |= bit,
            None if !self.ext.contains(&m) => self.ext.push(m),
            None => {}
        }
    }

    pub(crate) fn is_any(&self) -> bool {
        self.any
    }

    /// Whether `m` is accepted; HEAD is accepted wherever GET is.
    pub(crate) fn allows(&self, m: &Method) -> bool {
        if self.any {
            return true;
        }
        match standard_bit(m) {
            Some(bit) => self.bits & bit != 0 || (bit == HEAD_BIT && self.bits & GET_BIT != 0),
            None => self.ext.contains(m),
        }
    }

    /// Add this set to an `Allow` accumulator (standard bits plus extensions).
    pub(crate) fn add_to(&self, bits: &mut u16, ext: &mut Vec<Method>) {
        *bits |= self.bits;
        if self.bits & GET_BIT != 0 {
            *bits |= HEAD_BIT;
        }
        for m in &self.ext {
            if !ext.contains(m) {
                ext.push(m.clone());
            }
        }
    }
}

/// Turn an `Allow` accumulator into the sorted, deduplicated method list.
pub(crate) fn allow_list(bits: u16, ext: Vec<Method>) -> Vec<Method> {
    let mut out: Vec<Method> = STANDARD
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, m)| m.clone())
        .chain(ext)
        .collect();
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup();
    out
}

/// What a header or query condition requires of the values it sees.
#[derive(Debug, Clone)]
pub(crate) enum ValueTest {
    Exact(Box<[u8]>),
    Regex(regex::bytes::Regex),
    Present,
    Absent,
}

impl ValueTest {
    fn compile(route: &str, vm: &ValueMatch) -> Result<Self, RouterError> {
        Ok(match (&vm.value, &vm.regex, vm.present) {
            (Some(v), _, _) => ValueTest::Exact(v.as_bytes().into()),
            (None, Some(r), _) => ValueTest::Regex(compile_bytes_regex(route, r)?),
            (None, None, Some(false)) => ValueTest::Absent,
            (None, None, _) => ValueTest::Present,
        })
    }

    /// Whether a single value satisfies an `Exact` or `Regex` test.
    fn value_ok(&self, value: &[u8]) -> bool {
        match self {
            ValueTest::Exact(v) => **v == *value,
            ValueTest::Regex(r) => r.is_match(value),
            ValueTest::Present => true,
            ValueTest::Absent => false,
        }
    }

    /// Fold the values of one name into a verdict.
    fn check<'v>(&self, mut values: impl Iterator<Item = Cow<'v, [u8]>>) -> bool {
        match self {
            ValueTest::Absent => values.next().is_none(),
            ValueTest::Present => values.next().is_some(),
            _ => values.any(|v| self.value_ok(&v)),
        }
    }
}

fn compile_bytes_regex(route: &str, pattern: &str) -> Result<regex::bytes::Regex, RouterError> {
    regex::bytes::Regex::new(&anchored(pattern)).map_err(|e| RouterError::InvalidRegex {
        route: route.to_string(),
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

/// A header condition: names compare case-insensitively; any one value may match.
#[derive(Debug, Clone)]
pub(crate) struct HeaderCond {
    name: HeaderName,
    test: ValueTest,
}

impl HeaderCond {
    pub(crate) fn matches(&self, headers: &HeaderMap) -> bool {
        self.test.check(
            headers
                .get_all(&self.name)
                .iter()
                .map(|v| Cow::Borrowed(v.as_bytes())),
        )
    }
}

/// A query condition over decoded parameter names and values; any occurrence may
/// match. A parameter without `=` has the empty value.
#[derive(Debug, Clone)]
pub(crate) struct QueryCond {
    name: Box<str>,
    test: ValueTest,
}

impl QueryCond {
    pub(crate) fn matches(&self, query: Option<&str>) -> bool {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (*decode_query_component(k) == *self.name).then(|| {
                    match decode_query_component(v) {
                        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                    }
                })
            });
        self.test.check(pairs)
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Literal(Box<str>),
    Param(Box<str>),
    CatchAll(Box<str>),
}

/// A parsed, normalized `/users/{id}` template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) segs: Vec<Seg>,
}

impl Template {
    pub(crate) fn parse(route: &str, raw: &str) -> Result<Self, RouterError> {
        let err = |reason: &str| RouterError::InvalidTemplate {
            route: route.to_string(),
            template: raw.to_string(),
            reason: reason.to_string(),
        };
        let norm = normalize_path(raw).map_err(|e| err(&e.to_string()))?;
        let parts: Vec<&str> = norm[1..].split('/').collect();
        let mut segs = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => {
                    let (name, catch_all) = match inner.strip_prefix('*') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(err("parameter names use letters, digits and `_`"));
                    }
                    if catch_all && i + 1 != parts.len() {
                        return Err(err("a catch-all must be the last segment"));
                    }
                    let dup = segs
                        .iter()
                        .any(|s| matches!(s, Seg::Param(n) | Seg::CatchAll(n) if &**n == name));
                    if dup {
                        return Err(err("a parameter name appears twice"));
                    }
                    if catch_all {
                        Seg::CatchAll(name.into())
                    } else {
                        Seg::Param(name.into())
                    }
                }
                None if part.contains(['{', '}']) => {
                    return Err(err("a parameter must fill the whole segment"));
                }
                None => Seg::Literal((*part).into()),
            };
            segs.push(seg);
        }
        Ok(Template { segs })
    }

    pub(crate) fn literal_count(&self) -> usize {
        self.segs
            .iter()
            .filter(|s| matches!(s, Seg::Literal(_)))
            .count()
    }

    pub(crate) fn has_catch_all(&self) -> bool {
        matches!(self.segs.last(), Some(Seg::CatchAll(_)))
    }

    /// Match `path` (normalized) and call `f(name, raw_value)` for every parameter.
    /// The raw values are still percent-encoded.
    pub(crate) fn capture<'p>(
        &'p self,
        path: &'p str,
        mut f: impl FnMut(&'p str, &'p str),
    ) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut rest = Some(rest);
        for seg in &self.segs {
            if let Seg::CatchAll(name) = seg {
                f(name, rest.unwrap_or(""));
                return true;
            }
            let Some(r) = rest else { return false };
            let (cur, next) = match r.split_once('/') {
                Some((c, n)) => (c, Some(n)),
                None => (r, None),
            };
            match seg {
                Seg::Literal(l) if **l == *cur => {}
                Seg::Param(name) if !cur.is_empty() => f(name, cur),
                _ => return false,
            }
            rest = next;
        }
        rest.is_none()
    }

    /// The decoded parameters of a matching path.
    pub(crate) fn params(&self, path: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.capture(path, |n, v| {
            out.push((n.to_string(), percent_decode(v).into_owned()))
        });
        out
    }
}

/// A compiled path condition.
#[derive(Debug, Clone)]
pub(crate) enum PathPattern {
    Exact(String),
    /// Normalized prefix as configured (may end with `/`).
    Prefix(String),
    Template(Template),
    /// The anchored regex and the pattern as configured.
    Regex {
        regex: regex::Regex,
        source: String,
    },
}

impl PathPattern {
    pub(crate) fn compile(route: &str, m: &PathMatch) -> Result<Self, RouterError> {
        let norm = |p: &str| {
            normalize_path(p).map_err(|e| RouterError::InvalidPath {
                route: route.to_string(),
                path: p.to_string(),
                reason: e.to_string(),
            })
        };
        Ok(match m {
            PathMatch::Exact(p) => PathPattern::Exact(norm(p)?),
            PathMatch::Prefix(p) => PathPattern::Prefix(norm(p)?),
            PathMatch::Template(t) => PathPattern::Template(Template::parse(route, t)?),
            PathMatch::Regex(r) => PathPattern::Regex {
                regex: regex::Regex::new(&anchored(r)).map_err(|e| RouterError::InvalidRegex {
                    route: route.to_string(),
                    pattern: r.clone(),
                    reason: e.to_string(),
                })?,
                source: r.clone(),
            },
        })
    }

    /// Path component of the specificity key: lower sorts first.
    fn rank(&self) -> (u8, i64, u8) {
        match self {
            PathPattern::Exact(_) => (0, 0, 0),
            PathPattern::Template(t) => {
                (1, -(t.literal_count() as i64), u8::from(t.has_catch_all()))
            }
            PathPattern::Prefix(p) => (2, -(p.len() as i64), 0),
            PathPattern::Regex { .. } => (3, 0, 0),
        }
    }
}

/// A route ready for lookup.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRoute {
    pub(crate) priority: i32,
    pub(crate) listeners: Vec<Box<str>>,
    pub(crate) methods: MethodSet,
    pub(crate) headers: Vec<HeaderCond>,
    pub(crate) query: Vec<QueryCond>,
    pub(crate) paths: Vec<PathPattern>,
    /// Lower-cased hosts; `*.x` kept as written.
    pub(crate) hosts: Vec<String>,
}

impl CompiledRoute {
    pub(crate) fn compile(r: &RouteConfig) -> Result<Self, RouterError> {
        let name = r.name.as_str();
        let headers = r
            .matches
            .headers
            .iter()
            .map(|vm| {
                let header = HeaderName::from_bytes(vm.name.as_bytes()).map_err(|_| {
                    RouterError::InvalidHeaderName {
                        route: name.to_string(),
                        header: vm.name.clone(),
                    }
                })?;
                Ok(HeaderCond {
                    name: header,
                    test: ValueTest::compile(name, vm)?,
                })
            })
            .collect::<Result<Vec<_>, RouterError>>()?;
        let query = r
            .matches
            .query
            .iter()
            .map(|vm| {
                Ok(QueryCond {
                    name: vm.name.as_str().into(),
                    test: ValueTest::compile(name, vm)?,
                })
            })
            .collect::<Result<Vec<_>, RouterError>>()?;
        let paths = r
            .matches
            .paths
            .iter()
            .map(|p| PathPattern::compile(name, p))
            .collect::<Result<Vec<_>, _>>()?;
        let hosts = r
            .matches
            .hosts
            .iter()
            .map(|h| {
                let h = h.trim_end_matches('.').to_ascii_lowercase();
                let bare = h.strip_prefix("*.").unwrap_or(&h);
                if bare.is_empty() || bare.contains('*') {
                    return Err(RouterError::InvalidHost {
                        route: name.to_string(),
                        host: h.clone(),
                    });
                }
                Ok(h)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledRoute {
            priority: r.priority,
            listeners: r.listeners.iter().map(|l| l.as_str().into()).collect(),
            methods: MethodSet::compile(name, &r.matches.methods)?,
            headers,
            query,
            paths,
            hosts,
        })
    }

    pub(crate) fn listener_ok(&self, listener: &str) -> bool {
        self.listeners.is_empty() || self.listeners.iter().any(|l| **l == *listener)
    }

    /// Headers and query conditions (everything except listener, host, path, method).
    pub(crate) fn conditions_ok(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        self.headers.iter().all(|c| c.matches(headers))
            && self.query.iter().all(|c| c.matches(query))
    }

    /// The specificity key of one (host, path) variant of this route; lower sorts
    /// first. See the module documentation of `router` for the rules.
    pub(crate) fn order_key(
        &self,
        index: usize,
        host: Option<usize>,
        path: Option<usize>,
    ) -> OrderKey {
        let host_rank = match host.map(|h| self.hosts[h].as_str()) {
            None => (2, 0),
            Some(h) => match h.strip_prefix("*.") {
                Some(suffix) => (1, -(suffix.len() as i64)),
                None => (0, 0),
            },
        };
        let path_rank = path.map_or((4, 0, 0), |p| self.paths[p].rank());
        OrderKey {
            priority: -i64::from(self.priority),
            host: host_rank,
            path: path_rank,
            conditions: -((self.headers.len() + self.query.len()) as i64),
            any_method: u8::from(self.methods.is_any()),
            index,
            variant: (path.unwrap_or(0), host.unwrap_or(0)),
        }
    }
}

/// Total order between route variants; derived `Ord` compares fields in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OrderKey {
    priority: i64,
    host: (u8, i64),
    path: (u8, i64, u8),
    conditions: i64,
    any_method: u8,
    index: usize,
    variant: (usize, usize),
}
