use serde_json::json;

use crate::testing::*;

/// Run both phases; the response headers, or the refusal.
async fn through(
    cfg: serde_json::Value,
    upstream: &[(&str, &str)],
) -> Result<http::HeaderMap, crate::Reject> {
    let chain = chain(
        json!([{ "name": "api-lifecycle", "config": cfg }]),
        json!({}),
    );
    let mut req = request("GET", "/v1/things", &[]);
    let mut ctx = ctx();
    run(&chain, &mut req, &mut ctx).await?;
    let mut resp = response(200, upstream, None);
    chain.on_response(&mut resp, &mut ctx)?;
    Ok(resp.parts.headers)
}

fn all<'a>(h: &'a http::HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

#[tokio::test]
async fn deprecated_version_gets_rfc_headers() {
    let cfg = json!({
        "state": "deprecated",
        "deprecated_at": "2024-07-01T02:00:00+02:00",
        "sunset_at": "2025-01-01T00:00:00Z",
        "successor": "https://api.example.com/v2/things",
        "deprecation_link": "https://developer.example.com/deprecations/v1",
    });
    let h = match through(cfg, &[("link", "</page/2>; rel=\"next\"")]).await {
        Ok(h) => h,
        Err(e) => panic!("{e:?}"),
    };
    // RFC 9745: a Structured Field Date, seconds since the epoch (UTC).
    assert_eq!(all(&h, "deprecation"), vec!["@1719792000"]);
    // RFC 8594: an HTTP-date.
    assert_eq!(all(&h, "sunset"), vec!["Wed, 01 Jan 2025 00:00:00 GMT"]);
    assert_eq!(
        all(&h, "link"),
        vec![
            "</page/2>; rel=\"next\"",
            "<https://api.example.com/v2/things>; rel=\"successor-version\"",
            "<https://developer.example.com/deprecations/v1>; rel=\"deprecation\"; type=\"text/html\"",
        ]
    );
}

#[tokio::test]
async fn active_version_is_left_alone() {
    let cfg = json!({ "sunset_at": "2999-01-01T00:00:00Z", "successor": "/v2" });
    let h = match through(cfg, &[]).await {
        Ok(h) => h,
        Err(e) => panic!("{e:?}"),
    };
    assert!(h.is_empty(), "{h:?}");
}

#[tokio::test]
async fn retired_version_is_gone_with_a_pointer_to_the_successor() {
    let cfg = json!({ "state": "retired", "successor": "https://api.example.com/v2" });
    let e = match through(cfg, &[]).await {
        Err(e) => e,
        Ok(h) => panic!("served: {h:?}"),
    };
    assert_eq!(e.status, 410);
    assert_eq!(e.code, "api_retired");
    let link: Vec<_> = e.headers.iter().filter(|(k, _)| k == "link").collect();
    assert_eq!(link.len(), 1);
    assert_eq!(
        link[0].1,
        "<https://api.example.com/v2>; rel=\"successor-version\""
    );
}

#[tokio::test]
async fn retire_at_sunset_follows_the_date() {
    let past = json!({
        "state": "deprecated", "deprecated_at": "2000-01-01T00:00:00Z",
        "sunset_at": "2001-01-01T00:00:00Z", "retire_at_sunset": true,
    });
    match through(past, &[]).await {
        Err(e) => {
            assert_eq!(e.code, "api_retired");
            let sunset: Vec<_> = e.headers.iter().filter(|(k, _)| k == "sunset").collect();
            assert_eq!(sunset.len(), 1);
        }
        Ok(h) => panic!("served after sunset: {h:?}"),
    }
    let future = json!({
        "state": "deprecated", "deprecated_at": "2000-01-01T00:00:00Z",
        "sunset_at": "2999-01-01T00:00:00Z", "retire_at_sunset": true,
    });
    match through(future, &[]).await {
        Ok(h) => assert_eq!(all(&h, "deprecation"), vec!["@946684800"]),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn bad_config_names_the_field() {
    let cases = [
        (
            json!({ "state": "deprecated" }),
            "routes[0].policies[0].config.deprecated_at: required when `state` is `deprecated`",
        ),
        (
            json!({ "state": "deprecated", "deprecated_at": "2025-01-01", }),
            "routes[0].policies[0].config.deprecated_at: `2025-01-01` is not an RFC 3339 date-time",
        ),
        (
            json!({ "deprecated_at": "2025-01-01T00:00:00Z", "sunset_at": "2024-01-01T00:00:00Z" }),
            "routes[0].policies[0].config.sunset_at: must not be earlier than `deprecated_at` (RFC 9745)",
        ),
        (
            json!({ "successor": "not a url" }),
            "routes[0].policies[0].config.successor: `not a url` is not a valid URL",
        ),
        (
            json!({ "state": "sunsetting" }),
            "routes[0].policies[0].config.state: unknown variant `sunsetting`",
        ),
    ];
    for (cfg, want) in cases {
        let errs = config_errors(
            json!([{ "name": "api-lifecycle", "config": cfg }]),
            json!({}),
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with(want), "{errs:?} vs {want}");
    }
}
