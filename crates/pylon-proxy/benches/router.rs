//! Router lookup benchmark over a table of 10,000 routes: exact paths, prefixes,
//! templates, routes with exact and wildcard hosts, header conditions and a few
//! dozen regexes.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use pylon_config::{PathMatch, RouteConfig, RouteMatch as MatchConfig, ValueMatch};
use pylon_proxy::router::{Lookup, RequestView, Router, normalize_path};

const ROUTES: usize = 10_000;

fn route(name: String, paths: Vec<PathMatch>) -> RouteConfig {
    RouteConfig {
        name,
        priority: 0,
        listeners: vec![],
        matches: MatchConfig {
            paths,
            ..MatchConfig::default()
        },
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

/// A realistic mix, 10,000 routes in all.
fn routes() -> Vec<RouteConfig> {
    let mut out = Vec::with_capacity(ROUTES);
    while out.len() < ROUTES - 41 {
        let i = out.len();
        // Ten routes per service `n`.
        let n = i / 10;
        let r = match i % 10 {
            0 => route(
                format!("health{n}"),
                vec![PathMatch::Exact(format!("/svc{n}/health"))],
            ),
            1 => route(
                format!("ready{n}"),
                vec![PathMatch::Exact(format!("/svc{n}/ready"))],
            ),
            2 => route(
                format!("version{n}"),
                vec![PathMatch::Exact(format!("/svc{n}/version"))],
            ),
            3 => route(
                format!("users{n}"),
                vec![PathMatch::Template(format!("/svc{n}/users/{{id}}"))],
            ),
            4 => route(
                format!("accounts{n}"),
                vec![PathMatch::Template(format!(
                    "/svc{n}/accounts/{{id}}/{{*rest}}"
                ))],
            ),
            5 => route(
                format!("items{n}"),
                vec![PathMatch::Template(format!(
                    "/svc{n}/orders/{{order}}/items/{{item}}"
                ))],
            ),
            6 => route(
                format!("api{n}"),
                vec![PathMatch::Prefix(format!("/svc{n}/api"))],
            ),
            7 => route(
                format!("static{n}"),
                vec![PathMatch::Prefix(format!("/svc{n}/static/"))],
            ),
            8 => {
                let mut r = route(format!("tenant{n}"), vec![PathMatch::Prefix("/".into())]);
                r.matches.hosts = vec![format!("tenant{n}.example.com")];
                r
            }
            _ => {
                let mut r = route(
                    format!("admin{n}"),
                    vec![PathMatch::Exact(format!("/svc{n}/admin"))],
                );
                r.matches.methods = vec!["GET".into(), "POST".into()];
                r.matches.headers = vec![ValueMatch {
                    name: "x-admin".into(),
                    value: None,
                    regex: None,
                    present: Some(true),
                }];
                if n % 2 == 0 {
                    r.matches.hosts = vec![format!("*.region{n}.example.com")];
                }
                r
            }
        };
        out.push(r);
    }
    for k in 0..40 {
        out.push(route(
            format!("regex{k}"),
            vec![PathMatch::Regex(format!(r"/legacy{k}/[a-z]+/\d+(\.json)?"))],
        ));
    }
    out.push(route(
        "fallback".into(),
        vec![PathMatch::Prefix("/static/".into())],
    ));
    assert_eq!(out.len(), ROUTES);
    out
}

fn bench(c: &mut Criterion) {
    let routes = routes();
    let router = match Router::build(&routes) {
        Ok(r) => r,
        Err(e) => panic!("build: {e}"),
    };
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    let mut admin_headers = headers.clone();
    admin_headers.insert("x-admin", HeaderValue::from_static("1"));

    let cases: [(&str, &str, &str, Method, &HeaderMap); 8] = [
        (
            "exact_hit",
            "api.example.com",
            "/svc500/health",
            Method::GET,
            &headers,
        ),
        (
            "template_hit",
            "api.example.com",
            "/svc500/users/12345",
            Method::GET,
            &headers,
        ),
        (
            "template_deep_hit",
            "api.example.com",
            "/svc500/orders/77/items/9",
            Method::GET,
            &headers,
        ),
        (
            "prefix_hit",
            "api.example.com",
            "/svc500/api/v1/things/42",
            Method::GET,
            &headers,
        ),
        (
            "host_hit",
            "tenant500.example.com",
            "/anything/here",
            Method::GET,
            &headers,
        ),
        (
            "wildcard_host_conditions_hit",
            "eu.region500.example.com",
            "/svc500/admin",
            Method::POST,
            &admin_headers,
        ),
        (
            "regex_hit",
            "api.example.com",
            "/legacy17/report/2024.json",
            Method::GET,
            &headers,
        ),
        (
            "miss",
            "api.example.com",
            "/nothing/matches/this/path",
            Method::GET,
            &headers,
        ),
    ];
    let mut group = c.benchmark_group("router_10k");
    for (name, host, path, method, hdrs) in &cases {
        let view = RequestView {
            listener: "main",
            host,
            path,
            method,
            headers: hdrs,
            query: Some("page=2&sort=asc"),
        };
        // Sanity: each case resolves as intended.
        let found = matches!(router.lookup(&view), Lookup::Matched(_));
        assert_eq!(found, *name != "miss", "{name}");
        group.bench_function(*name, |b| b.iter(|| router.lookup(black_box(&view))));
    }
    group.finish();
    c.bench_function("normalize_path", |b| {
        b.iter(|| normalize_path(black_box("/svc500//users/./12345/../67%7E")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
