//! Router tests for the order between matching routes.

use http::Method;
use pylon_config::RouteConfig;

use super::tests::{
    build, exact, hit, matched, prefix, regex, req, route, template, vm, with_paths,
};

fn hosts(mut r: RouteConfig, hosts: &[&str]) -> RouteConfig {
    r.matches.hosts = hosts.iter().map(|h| h.to_string()).collect();
    r
}

/// Every permutation of the config order must give the same winner (apart from
/// the final config-order tie-break, which these tests avoid).
fn winner_in_any_order(routes: &[RouteConfig], r: impl Fn() -> super::tests::Req) -> String {
    let first = hit(&build(routes), routes, r());
    let mut reversed = routes.to_vec();
    reversed.reverse();
    assert_eq!(
        hit(&build(&reversed), &reversed, r()),
        first,
        "order dependence"
    );
    let mut rotated = routes.to_vec();
    rotated.rotate_left(1);
    assert_eq!(
        hit(&build(&rotated), &rotated, r()),
        first,
        "order dependence"
    );
    first
}

#[test]
fn higher_priority_wins_over_specificity() {
    let mut low = with_paths("exact", vec![exact("/a")]);
    low.matches.hosts = vec!["example.com".into()];
    let mut high = route("catch_all");
    high.priority = 1;
    let routes = [low, high];
    assert_eq!(winner_in_any_order(&routes, || req("/a")), "catch_all");
}

#[test]
fn negative_priority_loses() {
    let mut neg = with_paths("neg", vec![exact("/a")]);
    neg.priority = -1;
    let routes = [neg, route("any")];
    assert_eq!(winner_in_any_order(&routes, || req("/a")), "any");
}

#[test]
fn exact_host_beats_wildcard_beats_any_host() {
    let routes = [
        hosts(with_paths("any", vec![exact("/x")]), &[]),
        hosts(with_paths("wild_short", vec![prefix("/")]), &["*.com"]),
        hosts(
            with_paths("wild_long", vec![prefix("/")]),
            &["*.example.com"],
        ),
        hosts(route("exact"), &["a.example.com"]),
    ];
    assert_eq!(
        winner_in_any_order(&routes, || req("/x").host("a.example.com")),
        "exact"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/x").host("b.example.com")),
        "wild_long"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/x").host("example.com")),
        "wild_short"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/x").host("localhost")),
        "any"
    );
}

#[test]
fn host_rank_uses_the_host_that_matched() {
    let routes = [
        hosts(route("multi"), &["*.example.com", "other.org"]),
        hosts(route("wild"), &["*.org"]),
        hosts(route("exact"), &["a.example.com"]),
    ];
    assert_eq!(
        winner_in_any_order(&routes, || req("/").host("other.org")),
        "multi"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/").host("a.example.com")),
        "exact"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/").host("b.example.com")),
        "multi"
    );
}

#[test]
fn path_kinds_rank_exact_template_prefix_regex_none() {
    let routes = [
        route("none"),
        with_paths("regex", vec![regex("/users/.*")]),
        with_paths("prefix", vec![prefix("/users")]),
        with_paths("template", vec![template("/users/{id}")]),
        with_paths("exact", vec![exact("/users/me")]),
    ];
    assert_eq!(winner_in_any_order(&routes, || req("/users/me")), "exact");
    assert_eq!(
        winner_in_any_order(&routes, || req("/users/42")),
        "template"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/users/42/x")),
        "prefix"
    );
    assert_eq!(winner_in_any_order(&routes, || req("/users/")), "prefix");
    let no_prefix = [route("none"), with_paths("regex", vec![regex("/users/.*")])];
    assert_eq!(winner_in_any_order(&no_prefix, || req("/users/1")), "regex");
    assert_eq!(winner_in_any_order(&no_prefix, || req("/other")), "none");
}

#[test]
fn templates_with_more_literals_first() {
    let routes = [
        with_paths("generic", vec![template("/{kind}/{id}/edit")]),
        with_paths("users", vec![template("/users/{id}/edit")]),
        with_paths("params", vec![template("/{a}/{b}/{c}")]),
    ];
    assert_eq!(
        winner_in_any_order(&routes, || req("/users/1/edit")),
        "users"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/posts/1/edit")),
        "generic"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/posts/1/view")),
        "params"
    );
}

#[test]
fn template_without_catch_all_before_with() {
    let routes = [
        with_paths("rest", vec![template("/files/{*rest}")]),
        with_paths("one", vec![template("/files/{name}")]),
    ];
    assert_eq!(winner_in_any_order(&routes, || req("/files/a")), "one");
    assert_eq!(winner_in_any_order(&routes, || req("/files/a/b")), "rest");
}

#[test]
fn longer_prefix_first() {
    let routes = [
        with_paths("root", vec![prefix("/")]),
        with_paths("api", vec![prefix("/api")]),
        with_paths("api_slash", vec![prefix("/api/")]),
        with_paths("v1", vec![prefix("/api/v1")]),
    ];
    assert_eq!(winner_in_any_order(&routes, || req("/api/v1/x")), "v1");
    assert_eq!(winner_in_any_order(&routes, || req("/api/v2")), "api_slash");
    assert_eq!(winner_in_any_order(&routes, || req("/api")), "api");
    assert_eq!(winner_in_any_order(&routes, || req("/x")), "root");
}

#[test]
fn path_rank_uses_the_path_that_matched() {
    let routes = [
        with_paths("multi", vec![prefix("/"), exact("/special")]),
        with_paths("prefix", vec![prefix("/special")]),
    ];
    assert_eq!(winner_in_any_order(&routes, || req("/special")), "multi");
    assert_eq!(winner_in_any_order(&routes, || req("/special/x")), "prefix");
    let m = matched(&build(&routes), req("/special"));
    assert_eq!((m.path_index, m.matched_prefix), (Some(1), None));
}

#[test]
fn more_conditions_first() {
    let mut one = with_paths("one", vec![prefix("/")]);
    one.matches.headers = vec![vm("x-a", None, None, Some(true))];
    let mut two = with_paths("two", vec![prefix("/")]);
    two.matches.headers = vec![vm("x-a", None, None, Some(true))];
    two.matches.query = vec![vm("q", None, None, Some(true))];
    let routes = [with_paths("zero", vec![prefix("/")]), one, two];
    assert_eq!(
        winner_in_any_order(&routes, || req("/").header("x-a", "1").query("q")),
        "two"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/").header("x-a", "1")),
        "one"
    );
    assert_eq!(winner_in_any_order(&routes, || req("/")), "zero");
}

#[test]
fn conditions_rank_below_path_rank() {
    let mut cond = with_paths("cond", vec![prefix("/")]);
    cond.matches.headers = vec![vm("x-a", None, None, Some(true))];
    let routes = [cond, with_paths("exact", vec![exact("/a")])];
    assert_eq!(
        winner_in_any_order(&routes, || req("/a").header("x-a", "1")),
        "exact"
    );
}

#[test]
fn methods_listed_before_any_method() {
    let mut get = route("get");
    get.matches.methods = vec!["GET".into()];
    let routes = [route("any"), get];
    assert_eq!(winner_in_any_order(&routes, || req("/")), "get");
    assert_eq!(
        winner_in_any_order(&routes, || req("/").method(Method::HEAD)),
        "get"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/").method(Method::POST)),
        "any"
    );
}

#[test]
fn config_order_breaks_ties() {
    let routes = [
        with_paths("first", vec![prefix("/a")]),
        with_paths("second", vec![prefix("/a")]),
    ];
    assert_eq!(hit(&build(&routes), &routes, req("/a")), "first");
    let swapped = [routes[1].clone(), routes[0].clone()];
    assert_eq!(hit(&build(&swapped), &swapped, req("/a")), "second");
}

#[test]
fn better_route_failing_a_condition_falls_through() {
    let mut exact_route = with_paths("exact", vec![exact("/a")]);
    exact_route.matches.headers = vec![vm("x-beta", Some("1"), None, None)];
    let routes = [exact_route, with_paths("prefix", vec![prefix("/")])];
    assert_eq!(
        winner_in_any_order(&routes, || req("/a").header("x-beta", "1")),
        "exact"
    );
    assert_eq!(
        winner_in_any_order(&routes, || req("/a").header("x-beta", "2")),
        "prefix"
    );
}

#[test]
fn large_table_picks_the_same_as_a_linear_scan() {
    // Many overlapping routes; the indexed answer must be the best-ranked route
    // among all that match, which we check against the sorted order.
    let mut routes = Vec::new();
    for i in 0..50 {
        routes.push(with_paths(
            &format!("exact{i}"),
            vec![exact(&format!("/s{i}/items"))],
        ));
        routes.push(with_paths(
            &format!("tmpl{i}"),
            vec![template(&format!("/s{i}/{{kind}}/{{id}}"))],
        ));
        routes.push(with_paths(
            &format!("pre{i}"),
            vec![prefix(&format!("/s{i}"))],
        ));
        let mut h = with_paths(&format!("host{i}"), vec![prefix(&format!("/s{i}"))]);
        h.matches.hosts = vec![format!("h{i}.example.com")];
        routes.push(h);
    }
    routes.push(with_paths("re", vec![regex(r"/s\d+/re/.*")]));
    let router = build(&routes);
    assert_eq!(hit(&router, &routes, req("/s7/items")), "exact7");
    assert_eq!(
        hit(&router, &routes, req("/s7/items").host("h7.example.com")),
        "host7"
    );
    assert_eq!(hit(&router, &routes, req("/s7/a/b")), "tmpl7");
    assert_eq!(hit(&router, &routes, req("/s7/a/b/c")), "pre7");
    assert_eq!(hit(&router, &routes, req("/s7/re/x/y")), "pre7");
    assert_eq!(hit(&router, &routes, req("/s70/re/x")), "re");
    assert_eq!(hit(&router, &routes, req("/t")), "404");
}
