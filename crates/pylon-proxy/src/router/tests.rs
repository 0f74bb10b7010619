//! Router tests: helpers, path matching rules, listeners and hosts. Other
//! conditions, 405 and rewrites are in `tests_conditions`, ordering in `tests_order`.

use http::{HeaderMap, HeaderValue, Method};
use pylon_config::{PathMatch, RouteConfig, RouteMatch as MatchConfig, ValueMatch};

use super::*;

/// A route named `name` proxying to `up`, matching everything.
pub(super) fn route(name: &str) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        priority: 0,
        listeners: vec![],
        matches: MatchConfig::default(),
        rewrite: None,
        host_header: Default::default(),
        upstream: Some("up".into()),
        respond: None,
        aggregate: None,
        ai: None,
        timeouts: None,
        service: None,
        policies: Vec::new(),
    }
}

pub(super) fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.into())
}
pub(super) fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.into())
}
pub(super) fn template(p: &str) -> PathMatch {
    PathMatch::Template(p.into())
}
pub(super) fn regex(p: &str) -> PathMatch {
    PathMatch::Regex(p.into())
}

pub(super) fn with_paths(name: &str, paths: Vec<PathMatch>) -> RouteConfig {
    let mut r = route(name);
    r.matches.paths = paths;
    r
}

pub(super) fn vm(
    name: &str,
    value: Option<&str>,
    regex: Option<&str>,
    present: Option<bool>,
) -> ValueMatch {
    ValueMatch {
        name: name.into(),
        value: value.map(Into::into),
        regex: regex.map(Into::into),
        present,
    }
}

pub(super) fn build(routes: &[RouteConfig]) -> Router {
    match Router::build(routes) {
        Ok(r) => r,
        Err(e) => panic!("build failed: {e}"),
    }
}

/// A request for tests: listener `main`, host `example.com`, GET, no headers.
pub(super) struct Req {
    pub listener: &'static str,
    pub host: &'static str,
    pub path: String,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Option<&'static str>,
}

pub(super) fn req(path: &str) -> Req {
    Req {
        listener: "main",
        host: "example.com",
        path: path.into(),
        method: Method::GET,
        headers: HeaderMap::new(),
        query: None,
    }
}

impl Req {
    pub fn host(mut self, h: &'static str) -> Self {
        self.host = h;
        self
    }
    pub fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    pub fn listener(mut self, l: &'static str) -> Self {
        self.listener = l;
        self
    }
    pub fn header(mut self, k: &'static str, v: &'static str) -> Self {
        self.headers.append(k, HeaderValue::from_static(v));
        self
    }
    pub fn query(mut self, q: &'static str) -> Self {
        self.query = Some(q);
        self
    }
    pub fn lookup(&self, router: &Router) -> Lookup {
        router.lookup(&RequestView {
            listener: self.listener,
            host: self.host,
            path: &self.path,
            method: &self.method,
            headers: &self.headers,
            query: self.query,
        })
    }
}

/// The matched route's name, or `404` / `405`.
pub(super) fn hit(router: &Router, routes: &[RouteConfig], r: Req) -> String {
    match r.lookup(router) {
        Lookup::Matched(m) => routes[m.route].name.clone(),
        Lookup::MethodNotAllowed { .. } => "405".into(),
        Lookup::NotFound => "404".into(),
    }
}

pub(super) fn matched(router: &Router, r: Req) -> RouteMatch {
    match r.lookup(router) {
        Lookup::Matched(m) => m,
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn empty_router_finds_nothing() {
    let router = build(&[]);
    assert!(router.is_empty());
    assert_eq!(req("/").lookup(&router), Lookup::NotFound);
}

#[test]
fn route_without_conditions_matches_everything() {
    let routes = [route("all")];
    let router = build(&routes);
    assert_eq!(router.len(), 1);
    for p in ["/", "/a", "/a/b/c/", "/%2F"] {
        assert_eq!(
            hit(
                &router,
                &routes,
                req(p).host("x.org").method(Method::DELETE)
            ),
            "all"
        );
    }
}

#[test]
fn exact_paths() {
    let routes = [
        with_paths("root", vec![exact("/")]),
        with_paths("a", vec![exact("/a")]),
        with_paths("a_slash", vec![exact("/a/")]),
        with_paths("ab", vec![exact("/a/b")]),
    ];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/")), "root");
    assert_eq!(hit(&router, &routes, req("/a")), "a");
    assert_eq!(hit(&router, &routes, req("/a/")), "a_slash");
    assert_eq!(hit(&router, &routes, req("/a/b")), "ab");
    assert_eq!(hit(&router, &routes, req("/a/b/")), "404");
    assert_eq!(hit(&router, &routes, req("/A")), "404");
    assert_eq!(hit(&router, &routes, req("/ab")), "404");
}

#[test]
fn configured_paths_are_normalized() {
    let routes = [
        with_paths("tilde", vec![exact("/%7euser//docs")]),
        with_paths("api", vec![prefix("/v1/./api")]),
    ];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/~user/docs")), "tilde");
    assert_eq!(hit(&router, &routes, req("/v1/api/x")), "api");
    let m = matched(&router, req("/v1/api"));
    assert_eq!(m.matched_prefix.as_deref(), Some("/v1/api"));
}

#[test]
fn prefix_is_segment_aware() {
    let routes = [with_paths("api", vec![prefix("/api")])];
    let router = build(&routes);
    for p in ["/api", "/api/", "/api/x", "/api/x/y"] {
        assert_eq!(hit(&router, &routes, req(p)), "api", "{p}");
    }
    for p in ["/apix", "/ap", "/", "/x/api"] {
        assert_eq!(hit(&router, &routes, req(p)), "404", "{p}");
    }
}

#[test]
fn prefix_with_trailing_slash_needs_something_under_it() {
    let routes = [with_paths("api", vec![prefix("/api/")])];
    let router = build(&routes);
    for p in ["/api/", "/api/x", "/api/x/y/"] {
        assert_eq!(hit(&router, &routes, req(p)), "api", "{p}");
    }
    for p in ["/api", "/apix", "/"] {
        assert_eq!(hit(&router, &routes, req(p)), "404", "{p}");
    }
}

#[test]
fn root_prefix_matches_everything() {
    let routes = [with_paths("root", vec![prefix("/")])];
    let router = build(&routes);
    for p in ["/", "/a", "/a/b/"] {
        assert_eq!(hit(&router, &routes, req(p)), "root");
    }
    assert_eq!(
        matched(&router, req("/a")).matched_prefix.as_deref(),
        Some("/")
    );
}

#[test]
fn multi_segment_prefixes() {
    let routes = [with_paths("v1", vec![prefix("/api/v1")])];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/api/v1/users")), "v1");
    assert_eq!(hit(&router, &routes, req("/api/v1")), "v1");
    assert_eq!(hit(&router, &routes, req("/api/v10")), "404");
    assert_eq!(hit(&router, &routes, req("/api")), "404");
}

#[test]
fn templates_capture_single_segments() {
    let routes = [with_paths("user", vec![template("/users/{id}")])];
    let router = build(&routes);
    let m = matched(&router, req("/users/42"));
    assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
    assert_eq!(m.param("id"), Some("42"));
    assert_eq!(m.matched_prefix, None);
    for p in ["/users", "/users/", "/users/42/", "/users/42/x", "/user/42"] {
        assert_eq!(hit(&router, &routes, req(p)), "404", "{p}");
    }
}

#[test]
fn template_params_are_percent_decoded() {
    let routes = [with_paths("t", vec![template("/files/{name}/{*rest}")])];
    let router = build(&routes);
    let m = matched(&router, req("/files/a%20b%2Fc/x/y%3F"));
    assert_eq!(
        m.params,
        vec![
            ("name".to_string(), "a b/c".to_string()),
            ("rest".to_string(), "x/y?".to_string())
        ]
    );
}

#[test]
fn catch_all_matches_possibly_empty_remainder() {
    let routes = [with_paths("static", vec![template("/static/{*path}")])];
    let router = build(&routes);
    assert_eq!(
        matched(&router, req("/static/css/site.css")).param("path"),
        Some("css/site.css")
    );
    assert_eq!(matched(&router, req("/static/")).param("path"), Some(""));
    assert_eq!(matched(&router, req("/static")).param("path"), Some(""));
    assert_eq!(hit(&router, &routes, req("/staticx")), "404");
}

#[test]
fn template_with_several_params_and_literals() {
    let routes = [with_paths(
        "post",
        vec![template("/users/{user}/posts/{post}")],
    )];
    let router = build(&routes);
    let m = matched(&router, req("/users/ann/posts/7"));
    assert_eq!(m.param("user"), Some("ann"));
    assert_eq!(m.param("post"), Some("7"));
    assert_eq!(hit(&router, &routes, req("/users/ann/comments/7")), "404");
}

#[test]
fn templates_backtrack_between_literal_and_param_branches() {
    let routes = [
        with_paths("lit", vec![template("/a/b/c")]),
        with_paths("param", vec![template("/a/{x}/d")]),
    ];
    let router = build(&routes);
    // `/a/b/d` goes down the literal `b` first, fails at `d`, then tries `{x}`.
    assert_eq!(hit(&router, &routes, req("/a/b/d")), "param");
    assert_eq!(matched(&router, req("/a/b/d")).param("x"), Some("b"));
    assert_eq!(hit(&router, &routes, req("/a/b/c")), "lit");
}

#[test]
fn regex_paths_are_anchored() {
    let routes = [with_paths("re", vec![regex(r"/v[0-9]+/items")])];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/v2/items")), "re");
    assert_eq!(hit(&router, &routes, req("/v2/items/x")), "404");
    assert_eq!(hit(&router, &routes, req("/x/v2/items")), "404");
}

#[test]
fn regex_alternation_is_anchored_as_a_whole() {
    let routes = [with_paths("re", vec![regex("/a|/b")])];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/a")), "re");
    assert_eq!(hit(&router, &routes, req("/b")), "re");
    assert_eq!(hit(&router, &routes, req("/ab")), "404");
    assert_eq!(hit(&router, &routes, req("/a/b")), "404");
}

#[test]
fn many_regexes_use_the_set_gate() {
    let routes: Vec<RouteConfig> = (0..20)
        .map(|i| with_paths(&format!("r{i}"), vec![regex(&format!("/r{i}/[a-z]+"))]))
        .collect();
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/r7/abc")), "r7");
    assert_eq!(hit(&router, &routes, req("/r19/z")), "r19");
    assert_eq!(hit(&router, &routes, req("/r7/123")), "404");
}

#[test]
fn regex_named_groups_become_params() {
    let routes = [with_paths("re", vec![regex(r"/u/(?P<id>[^/]+)/(\d+)")])];
    let router = build(&routes);
    let m = matched(&router, req("/u/a%20b/12"));
    assert_eq!(m.params, vec![("id".to_string(), "a b".to_string())]);
}

#[test]
fn any_of_several_paths() {
    let routes = [with_paths(
        "multi",
        vec![exact("/a"), prefix("/b"), template("/c/{x}")],
    )];
    let router = build(&routes);
    assert_eq!(matched(&router, req("/a")).path_index, Some(0));
    assert_eq!(matched(&router, req("/b/1")).path_index, Some(1));
    let m = matched(&router, req("/c/1"));
    assert_eq!(m.path_index, Some(2));
    assert_eq!(m.param("x"), Some("1"));
    assert_eq!(hit(&router, &routes, req("/d")), "404");
}

#[test]
fn listeners() {
    let mut internal = with_paths("internal", vec![prefix("/")]);
    internal.listeners = vec!["admin".into(), "ops".into()];
    let routes = [internal];
    let router = build(&routes);
    assert_eq!(
        hit(&router, &routes, req("/x").listener("admin")),
        "internal"
    );
    assert_eq!(hit(&router, &routes, req("/x").listener("ops")), "internal");
    assert_eq!(hit(&router, &routes, req("/x").listener("main")), "404");
}

#[test]
fn exact_hosts_are_case_insensitive() {
    let mut r = route("h");
    r.matches.hosts = vec!["API.Example.com".into()];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/").host("api.example.com")), "h");
    assert_eq!(hit(&router, &routes, req("/").host("API.EXAMPLE.COM")), "h");
    assert_eq!(
        hit(&router, &routes, req("/").host("api.example.com.")),
        "h"
    );
    assert_eq!(hit(&router, &routes, req("/").host("example.com")), "404");
    assert_eq!(
        hit(&router, &routes, req("/").host("x.api.example.com")),
        "404"
    );
}

#[test]
fn wildcard_hosts_match_any_subdomain_depth_but_not_the_domain() {
    let mut r = route("wild");
    r.matches.hosts = vec!["*.example.com".into()];
    let routes = [r];
    let router = build(&routes);
    for h in ["a.example.com", "a.b.example.com", "x.y.z.example.com"] {
        assert_eq!(hit(&router, &routes, req("/").host(h)), "wild", "{h}");
    }
    for h in [
        "example.com",
        "badexample.com",
        "example.com.evil",
        "a.example.org",
        "com",
    ] {
        assert_eq!(hit(&router, &routes, req("/").host(h)), "404", "{h}");
    }
}

#[test]
fn route_with_several_hosts_and_paths() {
    let mut r = with_paths("r", vec![exact("/a"), prefix("/b")]);
    r.matches.hosts = vec!["one.com".into(), "*.two.com".into()];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/a").host("one.com")), "r");
    assert_eq!(hit(&router, &routes, req("/b/c").host("x.two.com")), "r");
    assert_eq!(hit(&router, &routes, req("/a").host("two.com")), "404");
    assert_eq!(hit(&router, &routes, req("/c").host("one.com")), "404");
}

#[test]
fn pathological_hosts_and_paths() {
    let mut wild = with_paths("wild", vec![template("/{a}/{b}/{*rest}")]);
    wild.matches.hosts = vec!["*.example.com".into()];
    let routes = [wild, with_paths("deep", vec![prefix("/a/a")])];
    let router = build(&routes);
    let host: &'static str = Box::leak("a.".repeat(20_000).into_boxed_str());
    let long_host: &'static str = Box::leak(format!("{host}example.com").into_boxed_str());
    let path = "/a".repeat(20_000);
    assert_eq!(hit(&router, &routes, req(&path).host(long_host)), "wild");
    assert_eq!(hit(&router, &routes, req(&path).host(host)), "deep");
    assert_eq!(hit(&router, &routes, req("/").host(host)), "404");
}
