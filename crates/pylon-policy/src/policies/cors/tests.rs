use http::Response;
use serde_json::json;

use crate::testing::*;

fn hdr<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn vary(h: &http::HeaderMap) -> Vec<String> {
    h.get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

async fn preflight(
    cfg: serde_json::Value,
    origin: &str,
    extra: &[(&str, &str)],
) -> Result<Response<bytes::Bytes>, crate::Reject> {
    let chain = chain(json!([{ "name": "cors", "config": cfg }]), json!({}));
    let mut headers = vec![("origin", origin), ("access-control-request-method", "PUT")];
    headers.extend_from_slice(extra);
    let mut req = request("OPTIONS", "/things", &headers);
    match run(&chain, &mut req, &mut ctx()).await? {
        Some(r) => Ok(r),
        None => panic!("preflight went on to the upstream"),
    }
}

/// Request then response phase of an actual request; the response headers.
async fn actual(
    cfg: serde_json::Value,
    req_headers: &[(&str, &str)],
    upstream_headers: &[(&str, &str)],
) -> http::HeaderMap {
    let chain = chain(json!([{ "name": "cors", "config": cfg }]), json!({}));
    let mut req = request("GET", "/things", req_headers);
    let mut ctx = ctx();
    assert!(matches!(run(&chain, &mut req, &mut ctx).await, Ok(None)));
    let mut resp = response(200, upstream_headers, None);
    assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
    resp.parts.headers
}

#[tokio::test]
async fn preflight_from_allowed_origin_is_answered_here() {
    let cfg = json!({ "allow_origins": ["https://app.example.com"], "max_age": 600 });
    let resp = match preflight(
        cfg,
        "https://app.example.com",
        &[("access-control-request-headers", "content-type, x-trace")],
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(
        hdr(h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        hdr(h, "access-control-allow-methods"),
        Some("GET, HEAD, POST, PUT, PATCH, DELETE")
    );
    assert_eq!(
        hdr(h, "access-control-allow-headers"),
        Some("content-type, x-trace")
    );
    assert_eq!(hdr(h, "access-control-max-age"), Some("600"));
    assert_eq!(hdr(h, "access-control-allow-credentials"), None);
    let v = vary(h);
    assert!(v.contains(&"origin".to_string()), "{v:?}");
    assert!(v.contains(&"access-control-request-method".to_string()));
}

#[tokio::test]
async fn preflight_from_other_origin_is_refused() {
    let cfg = json!({ "allow_origins": ["https://app.example.com"] });
    match preflight(cfg, "https://evil.example.net", &[]).await {
        Err(e) => {
            assert_eq!(e.status, 403);
            assert_eq!(e.code, "cors_forbidden");
        }
        Ok(r) => panic!("answered {r:?}"),
    }
}

#[tokio::test]
async fn options_without_request_method_is_not_a_preflight() {
    let chain = chain(json!([{ "name": "cors" }]), json!({}));
    let mut req = request("OPTIONS", "/", &[("origin", "https://a.example")]);
    assert!(matches!(run(&chain, &mut req, &mut ctx()).await, Ok(None)));
}

#[tokio::test]
async fn star_without_credentials_sends_star_and_no_vary() {
    let resp = match preflight(json!({}), "https://anything.example", &[]).await {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(
        hdr(resp.headers(), "access-control-allow-origin"),
        Some("*")
    );
    assert!(!vary(resp.headers()).contains(&"origin".to_string()));
    let h = actual(json!({}), &[("origin", "https://anything.example")], &[]).await;
    assert_eq!(hdr(&h, "access-control-allow-origin"), Some("*"));
    assert!(vary(&h).is_empty());
}

#[tokio::test]
async fn credentials_never_get_a_star() {
    let cfg = json!({ "allow_origins": ["*"], "allow_methods": ["*"], "allow_credentials": true });
    let resp = match preflight(
        cfg.clone(),
        "https://a.example",
        &[("access-control-request-headers", "authorization")],
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    let h = resp.headers();
    assert_eq!(
        hdr(h, "access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(hdr(h, "access-control-allow-credentials"), Some("true"));
    // `*` is literal for credentialed requests: the asked method and headers are reflected.
    assert_eq!(hdr(h, "access-control-allow-methods"), Some("PUT"));
    assert_eq!(
        hdr(h, "access-control-allow-headers"),
        Some("authorization")
    );
    assert!(vary(h).contains(&"origin".to_string()));
    let h = actual(cfg, &[("origin", "https://a.example")], &[]).await;
    assert_eq!(
        hdr(&h, "access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(hdr(&h, "access-control-allow-credentials"), Some("true"));
}

#[tokio::test]
async fn actual_response_from_allowed_and_other_origins() {
    let cfg =
        json!({ "allow_origins": ["https://app.example.com"], "expose_headers": ["x-request-id"] });
    let h = actual(
        cfg.clone(),
        &[("origin", "https://app.example.com")],
        &[("vary", "accept-encoding")],
    )
    .await;
    assert_eq!(
        hdr(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        hdr(&h, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(vary(&h), vec!["accept-encoding", "origin"]);
    // Another origin gets no grant, and the upstream's own grant is removed.
    let h = actual(
        cfg.clone(),
        &[("origin", "https://evil.example")],
        &[("access-control-allow-origin", "*")],
    )
    .await;
    assert_eq!(hdr(&h, "access-control-allow-origin"), None);
    assert_eq!(hdr(&h, "access-control-expose-headers"), None);
    assert_eq!(vary(&h), vec!["origin"]);
    // No Origin: no CORS headers, but caches must know the answer depends on it.
    let h = actual(cfg, &[], &[]).await;
    assert_eq!(hdr(&h, "access-control-allow-origin"), None);
    assert_eq!(vary(&h), vec!["origin"]);
}

#[tokio::test]
async fn wildcard_and_regex_origins() {
    let cfg =
        json!({ "allow_origins": ["https://*.example.com", "~http://localhost:(3000|8080)"] });
    for (origin, ok) in [
        ("https://a.example.com", true),
        ("https://A.b.Example.com", true),
        ("https://example.com", false),
        ("https://evilexample.com", false),
        ("https://a.example.com.evil.net", false),
        ("http://a.example.com", false),
        ("https://a_b.example.com", false),
        ("http://localhost:3000", true),
        ("http://localhost:30001", false),
        ("http://localhost:8080", true),
    ] {
        let got = preflight(cfg.clone(), origin, &[]).await.is_ok();
        assert_eq!(got, ok, "{origin}");
    }
}

#[tokio::test]
async fn private_network_preflight() {
    let cfg = json!({ "allow_origins": ["https://a.example"], "private_network": true });
    let resp = match preflight(
        cfg,
        "https://a.example",
        &[("access-control-request-private-network", "true")],
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(
        hdr(resp.headers(), "access-control-allow-private-network"),
        Some("true")
    );
    let resp = match preflight(
        json!({}),
        "https://a.example",
        &[("access-control-request-private-network", "true")],
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(
        hdr(resp.headers(), "access-control-allow-private-network"),
        None
    );
}

#[tokio::test]
async fn expose_all_with_credentials_lists_the_response_headers() {
    let cfg = json!({ "allow_origins": ["https://a.example"], "allow_credentials": true, "expose_headers": ["*"] });
    let h = actual(
        cfg,
        &[("origin", "https://a.example")],
        &[
            ("x-total", "3"),
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
        ],
    )
    .await;
    assert_eq!(hdr(&h, "access-control-expose-headers"), Some("x-total"));
    let h = actual(
        json!({ "expose_headers": ["*"] }),
        &[("origin", "https://a.example")],
        &[("x-total", "3")],
    )
    .await;
    assert_eq!(hdr(&h, "access-control-expose-headers"), Some("*"));
}

#[tokio::test]
async fn rejection_by_a_later_policy_still_gets_cors_headers() {
    let chain = chain(
        json!([
            { "name": "cors", "config": { "allow_origins": ["https://a.example"] } },
            { "name": "key-auth" },
        ]),
        json!({}),
    );
    let mut req = request("GET", "/", &[("origin", "https://a.example")]);
    let mut ctx = ctx();
    let err = match run(&chain, &mut req, &mut ctx).await {
        Err(e) => e,
        Ok(_) => panic!("no key, yet accepted"),
    };
    assert_eq!(err.status, 401);
    let mut resp = response(401, &[], None);
    assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
    assert_eq!(
        hdr(&resp.parts.headers, "access-control-allow-origin"),
        Some("https://a.example")
    );
}

#[test]
fn bad_config_names_the_field() {
    let errs = config_errors(
        json!([{ "name": "cors", "config": { "allow_origins": ["https://a.example/"] } }]),
        json!({}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.allow_origins[0]: "),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "cors", "config": { "allow_origins": ["~(unclosed"] } }]),
        json!({}),
    );
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.allow_origins[0]: invalid regex"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "cors", "config": { "allow_headers": ["ok", "bad header"] } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec![
            "routes[0].policies[0].config.allow_headers[1]: `bad header` is not a valid header name"
        ]
    );
    let errs = config_errors(
        json!([{ "name": "cors", "config": { "allow_methods": [] } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config.allow_methods: at least one method (or `*`) is needed"]
    );
}

#[tokio::test]
async fn refusals_by_other_policies_get_cors_headers_unless_cors_runs_after_them() {
    let policies = |cors_priority: Option<i32>| {
        json!([
            { "name": "ip-restriction", "config": { "deny": ["127.0.0.1"] } },
            { "name": "cors", "priority": cors_priority, "config": { "allow_origins": ["https://a.example"] } },
        ])
    };
    // By default cors runs first (3200), so even ip-restriction's refusal
    // gets the grant; moved below ip-restriction it never sees the origin.
    for (priority, granted) in [(None, true), (Some(2000), false)] {
        let chain = chain(policies(priority), json!({}));
        let mut req = request("GET", "/", &[("origin", "https://a.example")]);
        let mut ctx = ctx();
        match run(&chain, &mut req, &mut ctx).await {
            Err(e) => assert_eq!(e.code, "ip_forbidden"),
            Ok(_) => panic!("allowed"),
        }
        let mut resp = response(403, &[], None);
        assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
        assert_eq!(
            hdr(&resp.parts.headers, "access-control-allow-origin").is_some(),
            granted,
            "cors priority {priority:?}"
        );
    }
}
