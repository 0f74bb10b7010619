//! Router tests: methods, 405, header and query conditions, build errors and
//! rewrites.

use http::Method;
use pylon_config::{PathMatch, RewriteConfig};

use super::tests::{
    build, exact, hit, matched, prefix, regex, req, route, template, vm, with_paths,
};
use super::*;
#[test]
fn methods_and_head_for_get() {
    let mut r = route("get");
    r.matches.methods = vec!["GET".into(), "POST".into()];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/")), "get");
    assert_eq!(hit(&router, &routes, req("/").method(Method::HEAD)), "get");
    assert_eq!(hit(&router, &routes, req("/").method(Method::POST)), "get");
    assert_eq!(hit(&router, &routes, req("/").method(Method::PUT)), "405");
}

#[test]
fn head_only_route_does_not_allow_get() {
    let mut r = route("head");
    r.matches.methods = vec!["HEAD".into()];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/").method(Method::HEAD)), "head");
    assert_eq!(hit(&router, &routes, req("/").method(Method::GET)), "405");
}

#[test]
fn extension_methods() {
    let mut r = route("purge");
    r.matches.methods = vec!["PURGE".into()];
    let routes = [r];
    let router = build(&routes);
    let purge = Method::from_bytes(b"PURGE").unwrap_or_default();
    assert_eq!(
        hit(&router, &routes, req("/").method(purge.clone())),
        "purge"
    );
    assert_eq!(
        req("/").lookup(&router),
        Lookup::MethodNotAllowed { allow: vec![purge] }
    );
}

#[test]
fn method_not_allowed_unions_methods_of_path_matching_routes() {
    let mut a = with_paths("a", vec![exact("/items")]);
    a.matches.methods = vec!["POST".into(), "GET".into()];
    let mut b = with_paths("b", vec![prefix("/items")]);
    b.matches.methods = vec!["DELETE".into(), "POST".into()];
    let mut other = with_paths("other", vec![exact("/other")]);
    other.matches.methods = vec!["PUT".into()];
    let routes = [a, b, other];
    let router = build(&routes);
    assert_eq!(
        req("/items").method(Method::PATCH).lookup(&router),
        Lookup::MethodNotAllowed {
            allow: vec![Method::DELETE, Method::GET, Method::HEAD, Method::POST]
        }
    );
    assert_eq!(
        req("/items/x").method(Method::PATCH).lookup(&router),
        Lookup::MethodNotAllowed {
            allow: vec![Method::DELETE, Method::POST]
        }
    );
    assert_eq!(
        req("/nothing").method(Method::PATCH).lookup(&router),
        Lookup::NotFound
    );
}

#[test]
fn full_match_beats_method_not_allowed() {
    let mut strict = with_paths("strict", vec![exact("/x")]);
    strict.priority = 10;
    strict.matches.methods = vec!["POST".into()];
    let fallback = with_paths("fallback", vec![prefix("/")]);
    let routes = [strict, fallback];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/x")), "fallback");
    assert_eq!(
        hit(&router, &routes, req("/x").method(Method::POST)),
        "strict"
    );
}

#[test]
fn method_not_allowed_requires_other_conditions_to_hold() {
    let mut r = with_paths("r", vec![exact("/x")]);
    r.matches.methods = vec!["POST".into()];
    r.matches.headers = vec![vm("x-key", Some("1"), None, None)];
    r.listeners = vec!["main".into()];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/x").header("x-key", "1")), "405");
    assert_eq!(hit(&router, &routes, req("/x")), "404");
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/x").header("x-key", "1").listener("other")
        ),
        "404"
    );
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/x").header("x-key", "1").method(Method::POST)
        ),
        "r"
    );
}

#[test]
fn header_conditions() {
    let mut r = route("h");
    r.matches.headers = vec![
        vm("X-Tenant", Some("acme"), None, None),
        vm("x-version", None, Some("v[0-9]+"), None),
        vm("x-debug", None, None, Some(false)),
        vm("authorization", None, None, Some(true)),
    ];
    let routes = [r];
    let router = build(&routes);
    let ok = || {
        req("/")
            .header("x-tenant", "acme")
            .header("x-version", "v2")
            .header("authorization", "x")
    };
    assert_eq!(hit(&router, &routes, ok()), "h");
    assert_eq!(hit(&router, &routes, ok().header("x-debug", "1")), "404");
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/")
                .header("x-tenant", "ACME")
                .header("x-version", "v2")
                .header("authorization", "x")
        ),
        "404"
    );
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/")
                .header("x-tenant", "acme")
                .header("x-version", "v2x")
                .header("authorization", "x")
        ),
        "404"
    );
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/")
                .header("x-tenant", "acme")
                .header("x-version", "v2")
        ),
        "404"
    );
}

#[test]
fn header_with_several_values_any_may_match() {
    let mut r = route("h");
    r.matches.headers = vec![vm("x-role", Some("admin"), None, None)];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/").header("x-role", "user").header("x-role", "admin")
        ),
        "h"
    );
    assert_eq!(
        hit(&router, &routes, req("/").header("x-role", "user, admin")),
        "404"
    );
}

#[test]
fn header_condition_without_test_requires_presence() {
    let mut r = route("h");
    r.matches.headers = vec![vm("x-any", None, None, None)];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/").header("x-any", "")), "h");
    assert_eq!(hit(&router, &routes, req("/")), "404");
}

#[test]
fn query_conditions() {
    let mut r = route("q");
    r.matches.query = vec![
        vm("version", Some("2"), None, None),
        vm("name", None, Some("[a-z ]+"), None),
        vm("debug", None, None, Some(false)),
    ];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(
        hit(&router, &routes, req("/").query("version=2&name=ann")),
        "q"
    );
    assert_eq!(
        hit(&router, &routes, req("/").query("name=ann+lee&version=%32")),
        "q"
    );
    assert_eq!(
        hit(
            &router,
            &routes,
            req("/").query("version=1&version=2&name=x")
        ),
        "q"
    );
    assert_eq!(
        hit(&router, &routes, req("/").query("version=2&name=ann&debug")),
        "404"
    );
    assert_eq!(
        hit(&router, &routes, req("/").query("version=2&name=Ann")),
        "404"
    );
    assert_eq!(hit(&router, &routes, req("/").query("version=2")), "404");
    assert_eq!(hit(&router, &routes, req("/")), "404");
}

#[test]
fn query_presence_and_empty_values() {
    let mut r = route("q");
    r.matches.query = vec![
        vm("flag", None, None, Some(true)),
        vm("empty", Some(""), None, None),
    ];
    let routes = [r];
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/").query("flag&empty=")), "q");
    assert_eq!(hit(&router, &routes, req("/").query("flag=1&empty")), "q");
    assert_eq!(hit(&router, &routes, req("/").query("empty=&&")), "404");
    assert_eq!(hit(&router, &routes, req("/").query("fla%67&empty")), "q");
}

#[test]
fn build_errors_instead_of_panicking() {
    let bad_regex = with_paths("r", vec![regex("(")]);
    assert!(matches!(
        Router::build(&[bad_regex]),
        Err(RouterError::InvalidRegex { .. })
    ));
    let bad_template = with_paths("t", vec![template("/a/{*x}/b")]);
    assert!(matches!(
        Router::build(&[bad_template]),
        Err(RouterError::InvalidTemplate { .. })
    ));
    let dup = with_paths("t", vec![template("/{x}/{x}")]);
    assert!(matches!(
        Router::build(&[dup]),
        Err(RouterError::InvalidTemplate { .. })
    ));
    let partial = with_paths("t", vec![template("/a{x}")]);
    assert!(matches!(
        Router::build(&[partial]),
        Err(RouterError::InvalidTemplate { .. })
    ));
    let bad_path = with_paths("p", vec![exact("nope")]);
    assert!(matches!(
        Router::build(&[bad_path]),
        Err(RouterError::InvalidPath { .. })
    ));
    let mut bad_method = route("m");
    bad_method.matches.methods = vec!["GE T".into()];
    assert!(matches!(
        Router::build(&[bad_method]),
        Err(RouterError::InvalidMethod { .. })
    ));
    let mut bad_header = route("h");
    bad_header.matches.headers = vec![vm("bad header", None, None, None)];
    assert!(matches!(
        Router::build(&[bad_header]),
        Err(RouterError::InvalidHeaderName { .. })
    ));
    let mut bad_host = route("h");
    bad_host.matches.hosts = vec!["*.*.x".into()];
    assert!(matches!(
        Router::build(&[bad_host]),
        Err(RouterError::InvalidHost { .. })
    ));
    let mut bad_rewrite = route("w");
    bad_rewrite.rewrite = Some(RewriteConfig::Regex {
        pattern: "[".into(),
        replacement: String::new(),
    });
    assert!(matches!(
        Router::build(&[bad_rewrite]),
        Err(RouterError::InvalidRegex { .. })
    ));
}

#[test]
fn router_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Router>();
}

fn rewrite_of(rule: RewriteConfig, path: PathMatch, request: &str) -> String {
    let mut r = with_paths("r", vec![path]);
    r.rewrite = Some(rule);
    let routes = [r];
    let router = build(&routes);
    assert!(router.has_rewrite(0));
    let m = matched(&router, req(request));
    router.rewrite(m.route, &m, request)
}

#[test]
fn rewrite_strip_matched_prefix() {
    let strip = || RewriteConfig::StripPrefix(None);
    assert_eq!(
        rewrite_of(strip(), prefix("/api"), "/api/users/1"),
        "/users/1"
    );
    assert_eq!(rewrite_of(strip(), prefix("/api"), "/api"), "/");
    assert_eq!(rewrite_of(strip(), prefix("/api"), "/api/"), "/");
    assert_eq!(rewrite_of(strip(), prefix("/api/"), "/api/x"), "/x");
    assert_eq!(rewrite_of(strip(), prefix("/"), "/x/y"), "/x/y");
    assert_eq!(rewrite_of(strip(), exact("/e"), "/e"), "/e");
}

#[test]
fn rewrite_strip_literal_prefix() {
    let strip = |p: &str| RewriteConfig::StripPrefix(Some(p.into()));
    assert_eq!(rewrite_of(strip("/svc"), prefix("/"), "/svc/a"), "/a");
    assert_eq!(rewrite_of(strip("/svc"), prefix("/"), "/svc"), "/");
    assert_eq!(rewrite_of(strip("/svc"), prefix("/"), "/svcx/a"), "/svcx/a");
    assert_eq!(rewrite_of(strip("/svc"), prefix("/"), "/other"), "/other");
}

#[test]
fn rewrite_path_template() {
    let to = |t: &str| RewriteConfig::Path(t.into());
    assert_eq!(
        rewrite_of(to("/v2/users/{id}"), template("/users/{id}"), "/users/42"),
        "/v2/users/42"
    );
    assert_eq!(rewrite_of(to("/fixed"), prefix("/old"), "/old/x"), "/fixed");
    assert_eq!(
        rewrite_of(
            to("/s/{*rest}"),
            template("/static/{*rest}"),
            "/static/a/b.css"
        ),
        "/s/a/b.css"
    );
    assert_eq!(
        rewrite_of(to("/s/{rest}"), template("/static/{*rest}"), "/static"),
        "/s/"
    );
    assert_eq!(
        rewrite_of(to("/x/{missing}/y"), template("/a/{id}"), "/a/1"),
        "/x/y"
    );
    assert_eq!(
        rewrite_of(to("/item/{id}"), regex(r"/i/(?P<id>\d+)"), "/i/7"),
        "/item/7"
    );
}

#[test]
fn rewrite_path_keeps_encoding_and_cannot_traverse() {
    let to = |t: &str| RewriteConfig::Path(t.into());
    assert_eq!(
        rewrite_of(
            to("/f/{name}"),
            template("/files/{name}"),
            "/files/..%2Fetc"
        ),
        "/f/..%2Fetc"
    );
    assert_eq!(
        rewrite_of(to("/f/{*p}"), template("/files/{*p}"), "/files/a%2Fb/c"),
        "/f/a%2Fb/c"
    );
    assert_eq!(
        rewrite_of(to("/x/{p}/../y"), template("/z/{p}"), "/z/a"),
        "/x/y"
    );
}

#[test]
fn rewrite_falls_back_to_decoded_params_when_path_differs() {
    let mut r = with_paths("r", vec![template("/files/{name}")]);
    r.rewrite = Some(RewriteConfig::Path("/f/{name}".into()));
    let router = build(&[r]);
    let m = matched(&router, req("/files/a%2Fb"));
    assert_eq!(router.rewrite(0, &m, "/elsewhere"), "/f/a%2Fb");
}

#[test]
fn rewrite_regex() {
    let re = |p: &str, r: &str| RewriteConfig::Regex {
        pattern: p.into(),
        replacement: r.into(),
    };
    assert_eq!(
        rewrite_of(re("^/api/(.*)$", "/$1"), prefix("/api"), "/api/users"),
        "/users"
    );
    assert_eq!(
        rewrite_of(
            re("^/api/(?P<rest>.*)$", "/v2/${rest}"),
            prefix("/api"),
            "/api/x"
        ),
        "/v2/x"
    );
    assert_eq!(
        rewrite_of(re("v1", "v2"), prefix("/"), "/v1/a/v1"),
        "/v2/a/v1"
    );
    assert_eq!(rewrite_of(re("nomatch", "x"), prefix("/"), "/a"), "/a");
    assert_eq!(rewrite_of(re("^/", ""), prefix("/"), "/a/b"), "/a/b");
}

#[test]
fn rewrite_without_rule_returns_path() {
    let router = build(&[route("r")]);
    let m = matched(&router, req("/a"));
    assert!(!router.has_rewrite(0));
    assert_eq!(router.rewrite(0, &m, "/a"), "/a");
    assert_eq!(router.rewrite(99, &m, "/a"), "/a");
}
