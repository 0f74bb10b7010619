//! The pure parts: keys, Cache-Control rules, TTLs, Vary, conditions, the codec.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::entry::{Entry, Kind, Record};
use super::key::{CacheKey, KeyInput, cache_key, normalize_query, path_and_query};
use super::rules::{
    CacheControl, StoreRules, Verdict, not_modified, storable, time_to_live, vary_names,
};

fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in list {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap_or(HeaderName::from_static("x-bad")),
            HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("bad")),
        );
    }
    h
}

fn key(
    path: &str,
    query: Option<&str>,
    h: &HeaderMap,
    consumer: Option<(&str, &str)>,
    vary: &[String],
) -> CacheKey {
    cache_key(&KeyInput {
        route: "r",
        method: "GET",
        host: "api.example.com",
        path,
        query,
        ignore_query_params: &["utm_source".to_string()],
        vary_headers: vary,
        headers: h,
        consumer,
    })
}

#[test]
fn query_is_sorted_and_ignored_params_dropped() {
    assert_eq!(
        normalize_query("b=2&a=1&utm_source=x&a=0", &["utm_source".into()]),
        "a=1&a=0&b=2"
    );
    assert_eq!(normalize_query("q=a%20b&x=%7e", &[]), "q=a+b&x=%7E");
    assert_eq!(
        path_and_query("/p", Some("utm_source=1"), &["utm_source".into()]),
        "/p"
    );
    let h = HeaderMap::new();
    let a = key("/items", Some("b=2&a=1&utm_source=news"), &h, None, &[]);
    let b = key("/items", Some("a=1&b=2"), &h, None, &[]);
    assert_eq!(a, b);
    assert!(a.plain.starts_with("/items?a=1&b=2 "), "{}", a.plain);
    assert_ne!(a, key("/items", Some("a=1&b=3"), &h, None, &[]));
    assert_ne!(a, key("/items/", Some("a=1&b=2"), &h, None, &[]));
}

#[test]
fn key_covers_method_host_route_vary_headers_and_consumer() {
    let h = headers(&[("accept-language", "de")]);
    let base = KeyInput {
        route: "r",
        method: "GET",
        host: "API.example.com",
        path: "/x",
        query: None,
        ignore_query_params: &[],
        vary_headers: &[],
        headers: &h,
        consumer: None,
    };
    let k = cache_key(&base);
    assert_eq!(
        k,
        cache_key(&KeyInput {
            host: "api.example.com",
            ..base
        }),
        "host case"
    );
    assert_ne!(
        k,
        cache_key(&KeyInput {
            method: "HEAD",
            ..base
        })
    );
    assert_ne!(
        k,
        cache_key(&KeyInput {
            host: "other",
            ..base
        })
    );
    assert_ne!(
        k,
        cache_key(&KeyInput {
            route: "r2",
            ..base
        })
    );
    let alice = cache_key(&KeyInput {
        consumer: Some(("default", "alice")),
        ..base
    });
    let bob = cache_key(&KeyInput {
        consumer: Some(("default", "bob")),
        ..base
    });
    assert_ne!(k, alice);
    assert_ne!(alice, bob);
    let lang = ["accept-language".to_string()];
    let de = cache_key(&KeyInput {
        vary_headers: &lang,
        ..base
    });
    let fr_h = headers(&[("accept-language", "fr")]);
    let fr = cache_key(&KeyInput {
        vary_headers: &lang,
        headers: &fr_h,
        ..base
    });
    assert_ne!(de, fr);
    // Without the configured header, the value does not matter.
    assert_eq!(
        k,
        cache_key(&KeyInput {
            headers: &fr_h,
            ..base
        })
    );
}

#[test]
fn variant_keys_follow_the_named_headers_only() {
    let k = key("/x", None, &HeaderMap::new(), None, &[]);
    let names = vec!["accept-encoding".to_string()];
    let gz = k.variant(
        &names,
        &headers(&[("accept-encoding", "gzip"), ("x-other", "1")]),
    );
    let gz2 = k.variant(
        &names,
        &headers(&[("accept-encoding", "gzip"), ("x-other", "2")]),
    );
    let br = k.variant(&names, &headers(&[("accept-encoding", "br")]));
    let none = k.variant(&names, &HeaderMap::new());
    assert_eq!(gz, gz2);
    assert_ne!(gz, br);
    assert_ne!(gz, none);
    assert!(gz.starts_with(&k.plain));
    assert_eq!(k.vary_spec(), format!("{}:v", k.plain));
}

#[test]
fn cache_control_is_parsed() {
    let cc = CacheControl::parse(&headers(&[
        ("cache-control", "Public, max-age=\"30\", s-maxage=10"),
        ("cache-control", "max-age=20, private=\"set-cookie\""),
    ]));
    assert!(cc.public && cc.private && !cc.no_store);
    assert_eq!((cc.max_age, cc.s_maxage), (Some(20), Some(10)));
    let cc = CacheControl::parse(&headers(&[("cache-control", "max-age=soon")]));
    assert_eq!(cc.max_age, Some(0), "an unparsable age is stale");
    let req = CacheControl::of_request(&headers(&[("pragma", "no-cache")]));
    assert!(req.no_cache);
    let req = CacheControl::of_request(&headers(&[
        ("pragma", "no-cache"),
        ("cache-control", "max-age=5"),
    ]));
    assert!(!req.no_cache, "Cache-Control wins over Pragma");
}

fn rules(consumer_keyed: bool) -> StoreRules<'static> {
    StoreRules {
        statuses: &[200, 404],
        ttl: Duration::from_secs(60),
        respect_cache_control: true,
        cache_set_cookie: false,
        consumer_keyed,
    }
}

#[test]
fn storability_follows_the_response() {
    let now = SystemTime::now();
    let v = |status, h: &[(&str, &str)], keyed| storable(status, &headers(h), &rules(keyed), now);
    assert_eq!(v(200, &[], false), Verdict::Store(Duration::from_secs(60)));
    assert_eq!(v(404, &[], false), Verdict::Store(Duration::from_secs(60)));
    assert_eq!(v(500, &[], false), Verdict::Skip("status"));
    assert_eq!(
        v(200, &[("cache-control", "no-store")], false),
        Verdict::Skip("no_store")
    );
    assert_eq!(
        v(200, &[("cache-control", "no-cache")], false),
        Verdict::Skip("no_cache")
    );
    assert_eq!(
        v(200, &[("cache-control", "private")], false),
        Verdict::Skip("private")
    );
    assert_eq!(
        v(200, &[("cache-control", "private, max-age=5")], true),
        Verdict::Store(Duration::from_secs(5)),
        "per-consumer entries may keep private responses"
    );
    assert_eq!(
        v(200, &[("set-cookie", "s=1")], false),
        Verdict::Skip("set_cookie")
    );
    assert_eq!(
        v(200, &[("vary", "accept, *")], false),
        Verdict::Skip("vary_star")
    );
    assert_eq!(
        v(200, &[("cache-control", "max-age=0")], false),
        Verdict::Skip("stale")
    );
    let lax = StoreRules {
        respect_cache_control: false,
        cache_set_cookie: true,
        ..rules(false)
    };
    let h = headers(&[
        ("cache-control", "no-store, max-age=5"),
        ("set-cookie", "s=1"),
    ]);
    assert_eq!(
        storable(200, &h, &lax, now),
        Verdict::Store(Duration::from_secs(60))
    );
}

#[test]
fn ttl_prefers_s_maxage_and_is_bounded() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let limit = Duration::from_secs(60);
    let ttl = |h: &[(&str, &str)]| {
        let h = headers(h);
        time_to_live(&CacheControl::parse(&h), &h, limit, now).as_secs()
    };
    assert_eq!(ttl(&[]), 60, "no freshness information: the configured ttl");
    assert_eq!(ttl(&[("cache-control", "max-age=30")]), 30);
    assert_eq!(ttl(&[("cache-control", "max-age=30, s-maxage=10")]), 10);
    assert_eq!(
        ttl(&[("cache-control", "s-maxage=3600")]),
        60,
        "bounded by ttl"
    );
    assert_eq!(ttl(&[("cache-control", "max-age=30"), ("age", "25")]), 5);
    assert_eq!(ttl(&[("cache-control", "max-age=30"), ("age", "45")]), 0);
    let date = httpdate::fmt_http_date(now);
    let in_20 = httpdate::fmt_http_date(now + Duration::from_secs(20));
    assert_eq!(ttl(&[("date", &date), ("expires", &in_20)]), 20);
    assert_eq!(
        ttl(&[("date", &date), ("expires", "0")]),
        0,
        "invalid Expires is expired"
    );
    assert_eq!(ttl(&[("date", &in_20), ("expires", &date)]), 0);
}

#[test]
fn vary_names_are_normalised() {
    assert_eq!(
        vary_names(&headers(&[
            ("vary", "Accept-Encoding, accept-language"),
            ("vary", "accept-encoding")
        ])),
        Some(vec![
            "accept-encoding".to_string(),
            "accept-language".to_string()
        ])
    );
    assert_eq!(vary_names(&HeaderMap::new()), Some(vec![]));
    assert_eq!(vary_names(&headers(&[("vary", "*")])), None);
}

#[test]
fn conditions_match_etags_and_dates() {
    let etag = HeaderValue::from_static("\"v1\"");
    let weak = HeaderValue::from_static("W/\"v1\"");
    let check = |h: &[(&str, &str)], e: Option<&HeaderValue>, lm: Option<&HeaderValue>| {
        not_modified(&headers(h), e, lm)
    };
    assert!(check(&[("if-none-match", "\"v1\"")], Some(&etag), None));
    assert!(check(
        &[("if-none-match", "\"v0\", W/\"v1\"")],
        Some(&etag),
        None
    ));
    assert!(check(&[("if-none-match", "\"v1\"")], Some(&weak), None));
    assert!(check(&[("if-none-match", "*")], Some(&etag), None));
    assert!(!check(&[("if-none-match", "\"v2\"")], Some(&etag), None));
    assert!(!check(&[("if-none-match", "\"v1\"")], None, None));
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let lm = HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap_or(etag.clone());
    let same = httpdate::fmt_http_date(t);
    let before = httpdate::fmt_http_date(t - Duration::from_secs(1));
    assert!(check(&[("if-modified-since", &same)], None, Some(&lm)));
    assert!(!check(&[("if-modified-since", &before)], None, Some(&lm)));
    // If-None-Match decides when both are sent.
    assert!(!check(
        &[("if-none-match", "\"v2\""), ("if-modified-since", &same)],
        Some(&etag),
        Some(&lm)
    ));
    assert!(!check(&[], Some(&etag), Some(&lm)));
}

#[test]
fn records_survive_the_binary_form() {
    let response = Record {
        stored_at_ms: 1_700_000_000_123,
        ttl_ms: 60_000,
        kind: Kind::Response(Entry {
            status: 200,
            initial_age: 7,
            headers: vec![
                (
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("etag"),
                    HeaderValue::from_static("\"abc\""),
                ),
            ],
            body: Bytes::from_static(b"{\"ok\":true}\x00\xff"),
        }),
    };
    let vary = Record {
        stored_at_ms: 5,
        ttl_ms: 6,
        kind: Kind::Vary(vec!["accept".into(), "accept-language".into()]),
    };
    for r in [&response, &vary] {
        let data = Bytes::from(r.encode());
        assert_eq!(Record::decode(data.clone()).as_ref(), Some(r));
        // Truncated or trailing data is refused, never misread.
        assert_eq!(Record::decode(data.slice(..data.len() - 1)), None);
        let mut longer = data.to_vec();
        longer.push(0);
        assert_eq!(Record::decode(Bytes::from(longer)), None);
    }
    assert_eq!(Record::decode(Bytes::from_static(b"\x09junk")), None);
    assert!(response.fresh(1_700_000_060_122) && !response.fresh(1_700_000_060_123));
    assert_eq!(response.age(1_700_000_010_123), 17);
}
